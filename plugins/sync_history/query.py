"""The page's filters and paging as one value that round-trips through the URL query string.

Everything a view shows is in its URL (``?from=2026-11-01&to=2026-11-30&status=failed&page=2``), so a filtered
view can be shared and the exports of a view select exactly its runs. Values are checked against the closed
sets (``RUN_STATUSES``, ``RUN_TRIGGERS``, the synced objects); a bad value is a :class:`QueryError` whose
message names the parameter and what it takes (the app answers 422 with it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from sync_engine.state.models import RUN_STATUSES
from sync_engine.state.run_queries import RunFilter
from sync_engine.vocabulary import OBJECT_NAMES, RUN_TRIGGERS

RUNS_PER_PAGE = 50
MAX_RUNS_PER_PAGE = 500
#: The query parameters a view understands (``limit`` is the older name of ``page_size``).
PARAMETERS = ("from", "to", "status", "trigger", "object", "page", "page_size")


class QueryError(ValueError):
    """A query parameter the page cannot use; the message says which and what it takes."""


@dataclass(frozen=True)
class HistoryQuery:
    """A view of the history: filters, then one page of what they select (newest first).

    :param date_from / date_to: first and last day (UTC, both inclusive) of the runs' start.
    """

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    statuses: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    page: int = 1
    page_size: int = RUNS_PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    def run_filter(self) -> RunFilter:
        """The state store's filter: an inclusive end day becomes the next midnight, UTC."""
        start = dt.datetime.combine(self.date_from, dt.time(), dt.UTC) if self.date_from else None
        end = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time(), dt.UTC) if self.date_to else None
        return RunFilter(started_from=start, started_before=end, statuses=self.statuses, triggers=self.triggers,
                         objects=self.objects)

    def params(self, *, page: int | None = None, paged: bool = True) -> list[tuple[str, str]]:
        """The view as query parameters (defaults left out); ``paged=False`` for exports (every page)."""
        found: list[tuple[str, str]] = []
        if self.date_from:
            found.append(("from", self.date_from.isoformat()))
        if self.date_to:
            found.append(("to", self.date_to.isoformat()))
        found += [("status", s) for s in self.statuses] + [("trigger", t) for t in self.triggers]
        found += [("object", o) for o in self.objects]
        if paged:
            if (page or self.page) != 1:
                found.append(("page", str(page or self.page)))
            if self.page_size != RUNS_PER_PAGE:
                found.append(("page_size", str(self.page_size)))
        return found

    def url(self, path: str, *, page: int | None = None, paged: bool = True) -> str:
        """``path`` with this view's query string."""
        query = urlencode(self.params(page=page, paged=paged))
        return f"{path}?{query}" if query else path

    def filtered(self) -> bool:
        return bool(self.date_from or self.date_to or self.statuses or self.triggers or self.objects)


def parse_query(values: Mapping[str, Sequence[str]]) -> HistoryQuery:
    """A view from query parameters (each name -> its values, repeated names allowed; empty values ignored).

    :raises QueryError: an unknown status, trigger or object, a date that is not ``YYYY-MM-DD``, an end
        before the start, a page or page size out of range.
    """
    date_from, date_to = _date(values, "from"), _date(values, "to")
    if date_from and date_to and date_to < date_from:
        raise QueryError(f"to ({date_to}) is before from ({date_from}); give the first and last day, UTC")
    size_name = "page_size" if _last(values, "page_size") else "limit"
    page_size = _number(size_name, _last(values, size_name), RUNS_PER_PAGE, MAX_RUNS_PER_PAGE)
    return HistoryQuery(
        date_from=date_from, date_to=date_to,
        statuses=_choices(values, "status", tuple(s for s in RUN_STATUSES)),
        triggers=_choices(values, "trigger", RUN_TRIGGERS),
        objects=_choices(values, "object", OBJECT_NAMES),
        page=_number("page", _last(values, "page"), 1, None),
        page_size=page_size,
    )


def _values(values: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """Every non-empty value of ``name``; a comma-separated value counts as several (``status=failed,partial``)."""
    return [part.strip() for v in values.get(name, ()) for part in v.split(",") if part.strip()]


def _last(values: Mapping[str, Sequence[str]], name: str) -> str | None:
    found = _values(values, name)
    return found[-1] if found else None


def _choices(values: Mapping[str, Sequence[str]], name: str, allowed: Sequence[str]) -> tuple[str, ...]:
    chosen = list(dict.fromkeys(_values(values, name)))
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise QueryError(f"{name} {unknown[0]!r} is not known; {name} takes: {', '.join(allowed)}")
    return tuple(chosen)


def _date(values: Mapping[str, Sequence[str]], name: str) -> dt.date | None:
    text = _last(values, name)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{name} must be a day as YYYY-MM-DD (UTC), got {text!r}") from None


def _number(name: str, text: str | None, default: int, most: int | None) -> int:
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1 or (most is not None and int(text) > most):
        limit = f"1 to {most}" if most is not None else "1 or more"
        raise QueryError(f"{name} must be a whole number, {limit}; got {text!r}")
    return int(text)
