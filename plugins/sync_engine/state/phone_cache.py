"""Cache of phone normalisation results, read and written in bulk.

Parsing a million phone strings with ``phonenumbers`` takes minutes; most of them are the same from
run to run. Reads and writes go by chunks of thousands of numbers (see ``sqlhelpers``), so neither
makes a round trip per number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection, delete, select

from sync_engine.state.models import PhoneCacheEntry, table_of
from sync_engine.state.sqlhelpers import bulk_upsert, in_chunks, unique_in_order

#: Cached outcome: (E.164 digits or None, reason or None).
PhoneResult = tuple[str | None, str | None]

_table = table_of(PhoneCacheEntry)


def get_phone_cache(conn: Connection, raws: Iterable[str], region: str) -> dict[str, PhoneResult]:
    """Cached results for those raw strings that are in the cache (misses are simply absent)."""
    t = _table
    keys = unique_in_order(raw for raw in raws if raw is not None)
    found: dict[str, PhoneResult] = {}
    for predicate in in_chunks(conn, t.c.raw, keys):
        stmt = select(t.c.raw, t.c.phone, t.c.reason).where(t.c.region == region, predicate)
        for raw, phone, reason in conn.execute(stmt):
            found[raw] = (phone, reason)
    return found


def put_phone_cache(
    conn: Connection, mapping: Mapping[str, PhoneResult], region: str, now: datetime
) -> int:
    """Insert or overwrite results; returns how many entries were written."""
    rows = [
        {"raw": raw, "region": region, "phone": phone, "reason": reason, "seen_at": now}
        for raw, (phone, reason) in mapping.items()
    ]
    bulk_upsert(conn, _table, rows, conflict=("raw", "region"), update=("phone", "reason", "seen_at"))
    return len(rows)


def prune_phone_cache(conn: Connection, older_than: datetime) -> int:
    """Forget entries not written since ``older_than`` (numbers no longer seen); returns the count."""
    return conn.execute(delete(_table).where(_table.c.seen_at < older_than)).rowcount
