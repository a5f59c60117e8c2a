"""Walking Heymarket's contact list with its ``updated`` date cursor.

``POST /v1/contacts`` returns contacts newest ``updated`` first (ties by id, descending). The body's
``date`` keeps contacts with ``updated <= date`` (inclusive), ``limit`` sets the page size and ``page``
(1-based; 0, 1 or absent mean the first page) skips ``(page - 1) * limit`` of what ``date`` kept. An
empty array ends the list. Heymarket's own guide says to send the last contact's ``updated`` as the
next ``date``; two things make that alone unsafe, and this paginator handles both:

* the cursor is inclusive, so the last contacts of a page come back at the top of the next one:
  records are de-duplicated by ``id`` (a copy with a higher ``rev`` is passed on again, so a consumer
  that keeps the last copy per id keeps the newest);
* many contacts can share one ``updated`` (bulk writes). When a whole page sits on the cursor's
  timestamp, the same ``date`` would return the same page forever, so the walk stays on that ``date``
  and moves on with ``page`` until the page reaches older timestamps.

Known limit of any offset walk: while the walk pages through one shared timestamp, a contact of that
group that is written meanwhile leaves the group and shifts the offsets, so one *unchanged* contact of
the group can be skipped in that walk. Changed contacts are newer than the walk's start and are read
by the next incremental run; a reconciliation that treats "absent from a full sweep" as "deleted"
must confirm with ``GET /v1/contact/{id}`` (404) before acting.

Loop detection in the spirit of Singer SDK's paginators: a server that ignores ``date`` or ``page``
would repeat itself; two non-empty pages in a row without a single new id, a page newer than the
cursor or a page that is not newest-first raise :class:`HeymarketPaginationError` instead of spinning.

The contract is three members: :meth:`next_request` (body of the next call), :meth:`update` (feed it
the page the server answered, get back the records to emit) and :attr:`finished`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from heymarket_hook.errors import HeymarketPaginationError

Contact = dict[str, Any]

LIST_ENDPOINT = "POST /v1/contacts"
#: Largest ``limit`` the list endpoint honours (emulator choice; Heymarket does not document one).
MAX_PAGE_SIZE = 100


def parse_timestamp(value: str) -> datetime:
    """Parse Heymarket's RFC 3339 ``updated``/``created`` value into an aware UTC datetime."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class DateCursorPaginator:
    """State of one walk from the newest contact back to ``since``.

    :param page_size: ``limit`` per call, 1..100. A server that returns shorter pages is still walked
        to the end, because only an empty page ends the walk.
    :param since: inclusive lower bound: contacts with ``updated >= since`` are emitted and the walk
        stops at the first older one. Inclusive, because a contact written in the same microsecond
        as the previous watermark must not be missed; re-reading it is harmless (de-duplicated
        downstream by id and rev). ``None`` walks the whole list. Must be timezone-aware.
    """

    def __init__(self, page_size: int = MAX_PAGE_SIZE, since: datetime | None = None) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        if since is not None and since.tzinfo is None:
            raise ValueError("since must be timezone-aware (UTC), e.g. datetime(2025, 1, 1, tzinfo=UTC)")
        self.page_size = page_size
        self.since = since.astimezone(UTC) if since is not None else None
        self._cursor_raw: str | None = None
        self._cursor: datetime | None = None
        self._page = 1
        self._seen_rev: dict[int, int] = {}
        self._pages_without_news = 0
        self.finished = False
        #: Pages received, records emitted, and copies dropped as already seen.
        self.pages = 0
        self.emitted = 0
        self.duplicates = 0

    @property
    def seen(self) -> int:
        """Distinct contact ids seen so far."""
        return len(self._seen_rev)

    def next_request(self) -> dict[str, Any]:
        """JSON body for the next ``POST /v1/contacts``."""
        if self.finished:
            raise RuntimeError("the walk is finished; there is no next page")
        body: dict[str, Any] = {"limit": self.page_size, "ascending": False}
        if self._cursor_raw is not None:
            body["date"] = self._cursor_raw
        if self._page > 1:
            body["page"] = self._page
        return body

    def update(self, page: list[Contact]) -> list[Contact]:
        """Consume the server's answer to :meth:`next_request`; return the records to emit.

        :param page: the bare JSON array the list endpoint returned.
        """
        if self.finished:
            raise RuntimeError("the walk is finished; update() called again")
        self.pages += 1
        if not page:
            self.finished = True
            return []
        stamps = [self._updated(record) for record in page]
        self._check_order(stamps)

        emit: list[Contact] = []
        new_ids = 0
        for record, stamp in zip(page, stamps, strict=True):
            if self.since is not None and stamp < self.since:
                self.finished = True
                break
            contact_id = int(record["id"])
            rev = int(record.get("rev") or 0)
            known = self._seen_rev.get(contact_id)
            if known is None:
                new_ids += 1
            if known is None or rev > known:
                self._seen_rev[contact_id] = rev
                emit.append(record)
            else:
                self.duplicates += 1
        self.emitted += len(emit)
        if not self.finished:
            self._advance(page[-1]["updated"], stamps[-1], new_ids)
        return emit

    def _advance(self, last_raw: str, last: datetime, new_ids: int) -> None:
        if new_ids:
            self._pages_without_news = 0
        else:
            self._pages_without_news += 1
            if self._pages_without_news >= 2:
                raise HeymarketPaginationError(
                    None, None, None,
                    f"two pages in a row brought no new contact (date={self._cursor_raw}, page={self._page}); "
                    "the server seems to ignore 'page'. Stopping instead of looping.",
                    LIST_ENDPOINT,
                )
        if self._cursor is not None and last == self._cursor:
            # The whole page shares the cursor's timestamp: the same date would repeat it, so page on.
            self._page += 1
        else:
            self._cursor_raw, self._cursor, self._page = last_raw, last, 1

    def _check_order(self, stamps: list[datetime]) -> None:
        if self._cursor is not None and stamps[0] > self._cursor:
            raise HeymarketPaginationError(
                None, None, None,
                f"the page starts after the cursor {self._cursor_raw}; the server seems to ignore 'date'. "
                "Stopping instead of looping.",
                LIST_ENDPOINT,
            )
        if any(later > earlier for earlier, later in zip(stamps, stamps[1:], strict=False)):
            raise HeymarketPaginationError(
                None, None, None,
                "the page is not sorted newest 'updated' first, so the date cursor cannot be trusted.",
                LIST_ENDPOINT,
            )

    @staticmethod
    def _updated(record: Contact) -> datetime:
        try:
            return parse_timestamp(record["updated"])
        except (KeyError, TypeError, ValueError) as exc:
            raise HeymarketPaginationError(
                None, None, None,
                f"contact {record.get('id')!r} has no readable 'updated' timestamp ({type(exc).__name__}); "
                "the date cursor needs it.",
                LIST_ENDPOINT,
            ) from exc
