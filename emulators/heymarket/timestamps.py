"""Contact timestamps as integer microseconds since the epoch (UTC), and their RFC 3339 text.

Integers keep the sorted ``(updated, id)`` index cheap and make "strictly increasing" exact.
"""

from __future__ import annotations

import datetime as dt
import time

from emulators.heymarket import choices

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def format_micros(micros: int) -> str:
    """``1795900066123456`` -> ``2026-11-24T21:07:46.123456Z``."""
    return (_EPOCH + dt.timedelta(microseconds=micros)).strftime(choices.TIMESTAMP_FORMAT)


def parse_micros(text: str, field: str) -> int:
    """Parse an RFC 3339 / ISO 8601 timestamp; raise ValueError naming *field* when it is not one.

    :param field: the request field the text came from, so the 400 says which one to fix.
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"field '{field}' must be an RFC 3339 timestamp such as 2026-11-24T21:07:46.123456Z")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"field '{field}' is not an RFC 3339 timestamp; use e.g. 2026-11-24T21:07:46.123456Z"
        ) from None
    if parsed.tzinfo is None and choices.LIST_NAIVE_DATE_IS_UTC:
        parsed = parsed.replace(tzinfo=dt.UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def now_micros() -> int:
    return time.time_ns() // 1_000


class WriteClock:
    """Hands out the ``updated`` value of each write: ``max(now, last + 1 µs)``.

    With ``duplicate_timestamps`` switched on, every write shares one frozen value instead, so that
    clients' dedupe of an inclusive date cursor gets exercised.
    """

    def __init__(self) -> None:
        self.last = 0
        self.frozen: int | None = None

    def tick(self) -> int:
        if self.frozen is not None:
            return self.frozen
        self.last = max(now_micros(), self.last + choices.TIMESTAMP_STEP_MICROS)
        return self.last

    def observe(self, micros: int) -> None:
        """Make later writes newer than a loaded contact's ``updated``."""
        if micros > self.last:
            self.last = micros

    def set_duplicate_timestamps(self, enabled: bool) -> None:
        if enabled and self.frozen is None:
            self.frozen = self.tick()
        elif not enabled:
            self.frozen = None
