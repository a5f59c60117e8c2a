"""API answers kept between runs with the time they were read (``hm_sync_api_cache``).

Whether an answer is still valid is the caller's decision (``sync_engine.api_cache``); this module only reads
and writes rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from sync_engine.state.models import ApiCacheEntry, table_of
from sync_engine.state.sqlhelpers import dialect_insert

_table = table_of(ApiCacheEntry)


def get_cached(conn: Connection, key: str) -> tuple[object, datetime] | None:
    """``(value, fetched_at)`` of *key*, or ``None`` when it was never stored."""
    row = conn.execute(select(_table.c.value, _table.c.fetched_at).where(_table.c.key == key)).first()
    return None if row is None else (row[0], row[1])


def put_cached(conn: Connection, key: str, value: object, fetched_at: datetime) -> None:
    """Store (or replace) the answer under *key*.

    One plain upsert, not ``sqlhelpers.bulk_upsert``: its PostgreSQL path sends columns as arrays, which would
    take a JSON array value (the inboxes, the contact fields) for one array element per row.
    """
    stmt = dialect_insert(conn, _table).values(key=key, value=value, fetched_at=fetched_at)
    conn.execute(stmt.on_conflict_do_update(index_elements=[_table.c.key],
                                            set_={"value": stmt.excluded.value, "fetched_at": stmt.excluded.fetched_at}))
