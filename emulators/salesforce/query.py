"""REST ``query`` / ``queryAll`` with server-side cursors.

A query is evaluated once; its rows are kept as a cursor under a locator (``01g...``), and each
``nextRecordsUrl`` (``/query/01g...-2000``) serves the next slice from it. That makes paging through
100,000 records cost one evaluation plus one render per page, as on a real org.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.soql import parse
from emulators.salesforce.soql_eval import CompiledQuery, Record, compile_query
from emulators.salesforce.store import OrgStore

DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_BATCH = 2000
#: a user holds a limited number of open cursors; the oldest is released beyond this
MAX_OPEN_CURSORS = 50
_BATCH_RE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


def batch_size(header: str | None) -> int | None:
    """The page size a ``Sforce-Query-Options: batchSize=N`` header asks for, clamped to 200..2000."""
    if not header:
        return None
    match = _BATCH_RE.search(header)
    if not match:
        return None
    return max(MIN_BATCH, min(MAX_BATCH, int(match.group(1))))


@dataclass
class Cursor:
    locator: str
    compiled: CompiledQuery
    rows: list[Record]
    batch: int


class QueryService:
    """Runs queries against the store and pages their results."""

    def __init__(self, store: OrgStore) -> None:
        self.store = store
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()

    def clear(self) -> None:
        self._cursors.clear()

    def compile(self, soql: str, user_id: str, version: str) -> CompiledQuery:
        """Parse and bind *soql*; raises :class:`~emulators.salesforce.soql.SoqlError` on bad queries."""
        return compile_query(
            parse(soql), self.store, user_id=user_id, now=dt.datetime.now(dt.UTC), api_version=version
        )

    def rows(self, compiled: CompiledQuery, include_deleted: bool) -> list[Record]:
        return compiled.run(self.store.live(compiled.obj, include_deleted=include_deleted))

    def run(
        self, soql: str, *, include_deleted: bool, user_id: str, version: str, batch: int | None
    ) -> dict[str, Any]:
        """First page of a query (the whole answer for ``COUNT()`` and aggregates)."""
        compiled = self.compile(soql, user_id, version)
        rows = self.rows(compiled, include_deleted)
        if compiled.mode == "count":
            return {"totalSize": len(rows), "done": True, "records": []}
        if compiled.mode == "aggregate":
            getter = compiled.columns[0].getter
            count = sum(1 for r in rows if getter(r) is not None)
            return {
                "totalSize": 1,
                "done": True,
                "records": [{"attributes": {"type": "AggregateResult"}, "expr0": count}],
            }
        cursor = Cursor(self.store.id_factory.new("01g"), compiled, rows, batch or DEFAULT_BATCH)
        self._cursors[cursor.locator] = cursor
        while len(self._cursors) > MAX_OPEN_CURSORS:
            self._cursors.popitem(last=False)
        return self.page(cursor, 0, version, batch)

    def more(self, locator: str, *, version: str, batch: int | None) -> dict[str, Any]:
        """A later page: *locator* is ``01g...-<offset>`` from ``nextRecordsUrl``.

        :raises SalesforceError: ``INVALID_QUERY_LOCATOR`` for unknown or released cursors.
        """
        cursor_id, _, offset_text = locator.partition("-")
        cursor = self._cursors.get(cursor_id)
        if cursor is None or not offset_text.isdigit() or int(offset_text) > len(cursor.rows):
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        self._cursors.move_to_end(cursor_id)
        return self.page(cursor, int(offset_text), version, batch)

    def page(self, cursor: Cursor, offset: int, version: str, batch: int | None) -> dict[str, Any]:
        size = batch or cursor.batch
        chunk = cursor.rows[offset : offset + size]
        end = offset + len(chunk)
        render = cursor.compiled.render
        body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor.locator}-{end}"
        else:
            self._cursors.pop(cursor.locator, None)
        body["records"] = [render(r, version) for r in chunk]
        return body
