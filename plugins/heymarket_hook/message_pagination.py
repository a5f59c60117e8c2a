"""Walking Heymarket's team-wide message list (``POST /v1/messages/all``) forward from a watermark.

The endpoint sorts by ``created_at`` (the message's ``date``) or ``updated_at``, newest first unless
``ascending: true``; its cursor ``created_at`` is compared with the sort key and is **inclusive**; ``limit``
is clamped to 100 and ``page`` (1-based) skips ``(page - 1) * limit`` of what the cursor kept. Why this walk
goes *oldest first* (``ascending: true``, ordered by ``created_at``), unlike the contact walk:

* a message copy can move its watermark after every page it has written: everything up to the last
  fully read timestamp is done, so a killed run resumes where it stopped instead of re-reading from the
  newest message back;
* a message's ``date`` never changes (delivery receipts change ``updated``), so a walk by ``date`` sees
  every message exactly once across runs.

The quirks it handles, as :mod:`heymarket_hook.pagination` does for contacts:

* the inclusive cursor repeats the previous page's last messages: they are dropped by id;
* many messages may share one ``date`` (bulk sends): when a whole page sits on the cursor's timestamp the
  same cursor would repeat it forever, so the walk stays on it and moves on with ``page``;
* a page shorter than ``limit`` is the last one (the server had no more at or after the cursor), which
  saves the empty page at the end;
* loop detection: a page older than the cursor, one not sorted oldest first, or two full pages in a row
  without a new id raise :class:`HeymarketPaginationError` instead of spinning.

Only ``(after, until]`` is emitted: ``after`` is exclusive (everything dated at or before it was copied
by an earlier run), ``until`` inclusive. The contract is :meth:`next_request`, :meth:`update` and
:attr:`finished`; :attr:`done_through` says up to which ``date`` every message has been emitted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from heymarket_hook.errors import HeymarketPaginationError
from heymarket_hook.pagination import parse_timestamp

Message = dict[str, Any]

MESSAGES_ENDPOINT = "POST /v1/messages/all"
#: Largest ``limit`` the listing honours (emulator choice, as for contacts; Heymarket documents no maximum).
MAX_MESSAGE_PAGE = 100


def format_cursor(value: datetime) -> str:
    """A UTC instant as the RFC 3339 text with microseconds that the cursor compares exactly."""
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


class MessageWalk:
    """State of one oldest-first walk over the messages dated in ``(after, until]``.

    :param after: exclusive lower bound (timezone-aware), e.g. the stored message watermark.
    :param until: inclusive upper bound; messages dated later are left for the next run. ``None``: no bound.
    :param page_size: ``limit`` per call, 1..100.
    """

    def __init__(self, after: datetime, until: datetime | None = None, page_size: int = MAX_MESSAGE_PAGE) -> None:
        if not 1 <= page_size <= MAX_MESSAGE_PAGE:
            raise ValueError(f"page_size must be between 1 and {MAX_MESSAGE_PAGE}, got {page_size}")
        if after.tzinfo is None or (until is not None and until.tzinfo is None):
            raise ValueError("after and until must be timezone-aware (UTC)")
        self.after = after
        self.until = until
        self.page_size = page_size
        self._cursor = after
        self._page = 1
        self._seen: set[int] = set()
        self._full_pages_without_news = 0
        #: Every message dated at or before this instant (and after ``after``) has been emitted.
        self.done_through = after
        self.finished = False
        self.pages = 0
        self.emitted = 0
        self.duplicates = 0

    def next_request(self) -> dict[str, Any]:
        """JSON body of the next ``POST /v1/messages/all``."""
        if self.finished:
            raise RuntimeError("the walk is finished; there is no next page")
        body: dict[str, Any] = {"created_at": format_cursor(self._cursor), "order": "created_at",
                                "ascending": True, "limit": self.page_size}
        if self._page > 1:
            body["page"] = self._page
        return body

    def update(self, page: list[Message]) -> list[Message]:
        """Consume the answer to :meth:`next_request`; return the messages to emit (new ids in range)."""
        if self.finished:
            raise RuntimeError("the walk is finished; update() called again")
        if not isinstance(page, list):
            raise self._error(f"expected a JSON array of messages, got {type(page).__name__}")
        self.pages += 1
        stamps = [self._date(message) for message in page]
        self._check_order(stamps)
        emit: list[Message] = []
        new_ids = 0
        beyond = False
        for message, stamp in zip(page, stamps, strict=True):
            if self.until is not None and stamp > self.until:
                beyond = True
                break
            message_id = int(message["id"])
            if message_id in self._seen:
                self.duplicates += 1
                continue
            self._seen.add(message_id)
            new_ids += 1
            if stamp > self.after:
                emit.append(message)
        self.emitted += len(emit)
        if beyond or len(page) < self.page_size:
            # The server has nothing more at or after the cursor (a short page), or the walk passed ``until``.
            self.finished = True
            if self.until is not None:
                self.done_through = max(self.done_through, self.until)
            elif stamps:
                self.done_through = max(self.done_through, stamps[-1])
            return emit
        self._advance(stamps, new_ids)
        return emit

    def _advance(self, stamps: list[datetime], new_ids: int) -> None:
        if new_ids:
            self._full_pages_without_news = 0
        else:
            self._full_pages_without_news += 1
            if self._full_pages_without_news >= 2:
                raise self._error("two full pages in a row brought no new message; the server seems to ignore "
                                  "'page'. Stopping instead of looping.")
        last = stamps[-1]
        if last == self._cursor:
            self._page += 1  # the whole page shares the cursor's timestamp: page on
        else:
            # Every message dated before the page's last timestamp has been seen; the last one may have
            # more messages on the next page (the cursor is inclusive, so they come again).
            earlier = [s for s in stamps if s < last]
            if earlier:
                self.done_through = max(self.done_through, earlier[-1])
            self._cursor, self._page = last, 1

    def _check_order(self, stamps: list[datetime]) -> None:
        if stamps and stamps[0] < self._cursor:
            raise self._error(f"the page starts before the cursor {format_cursor(self._cursor)}; the server "
                              "seems to ignore 'created_at'. Stopping instead of looping.")
        if any(later < earlier for earlier, later in zip(stamps, stamps[1:], strict=False)):
            raise self._error("the page is not sorted oldest 'date' first, so the cursor cannot be trusted.")

    def _date(self, message: Message) -> datetime:
        try:
            return parse_timestamp(message["date"])
        except (KeyError, TypeError, ValueError) as exc:
            raise self._error(f"message {message.get('id')!r} has no readable 'date' ({type(exc).__name__}); "
                              "the cursor needs it.") from exc

    @staticmethod
    def _error(text: str) -> HeymarketPaginationError:
        return HeymarketPaginationError(None, None, None, text, MESSAGES_ENDPOINT)
