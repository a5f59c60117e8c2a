"""API answers kept between runs with the time they were read (``hm_sync_api_cache``).

Whether an answer is still valid is the caller's decision (``sync_engine.api_cache``); this module only reads
and writes rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from sync_engine.state.models import ApiCacheEntry, table_of
from sync_engine.state.sqlhelpers import bulk_upsert

_table = table_of(ApiCacheEntry)


def get_cached(conn: Connection, key: str) -> tuple[object, datetime] | None:
    """``(value, fetched_at)`` of *key*, or ``None`` when it was never stored."""
    row = conn.execute(select(_table.c.value, _table.c.fetched_at).where(_table.c.key == key)).first()
    return None if row is None else (row[0], row[1])


def put_cached(conn: Connection, key: str, value: object, fetched_at: datetime) -> None:
    """Store (or replace) the answer under *key*."""
    bulk_upsert(conn, _table, [{"key": key, "value": value, "fetched_at": fetched_at}], conflict=("key",),
                update=("value", "fetched_at"))
