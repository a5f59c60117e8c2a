"""Incremental cursors. They move only when told to, and never backwards unless forced."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from sync_engine.state.models import SYSTEMS, WATERMARK_OBJECTS, SyncWatermark, table_of
from sync_engine.state.sqlhelpers import dialect_insert

_table = table_of(SyncWatermark)


def _check(system: str, object_name: str) -> None:
    if system not in SYSTEMS:
        raise ValueError(f"watermark system must be one of {SYSTEMS}, got {system!r}")
    if object_name not in WATERMARK_OBJECTS:
        raise ValueError(f"watermark object must be one of {WATERMARK_OBJECTS}, got {object_name!r}")


def get_watermark(conn: Connection, system: str, object_name: str) -> datetime | None:
    """The cursor, or ``None`` before the first successful sync of that object (full extract)."""
    _check(system, object_name)
    t = _table
    stmt = select(t.c.value).where(t.c.system == system, t.c.object == object_name)
    return conn.execute(stmt).scalar_one_or_none()


def set_watermark(
    conn: Connection,
    system: str,
    object_name: str,
    value: datetime,
    run_id: str | None,
    now: datetime,
    *,
    force: bool = False,
) -> datetime:
    """Move the cursor to ``value`` unless that would move it backwards; return the stored cursor.

    One upsert statement whose update is guarded by ``value < new value``, so a late, slower run
    cannot rewind a cursor that a newer run already advanced (that would re-read, not lose, records;
    rewinding on purpose — e.g. to resync — needs ``force=True``).
    """
    _check(system, object_name)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("watermark value must be timezone-aware (UTC); got a naive datetime")
    t = _table
    stmt = dialect_insert(conn, _table).values(
        system=system, object=object_name, value=value, updated_at=now, run_id=run_id
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.system, t.c.object],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at,
              "run_id": stmt.excluded.run_id},
        where=None if force else t.c.value < stmt.excluded.value,
    )
    conn.execute(stmt)
    stored = get_watermark(conn, system, object_name)
    if stored is None:  # pragma: no cover - the row was written by this transaction
        raise RuntimeError(f"watermark {system}/{object_name} vanished inside its own transaction")
    return stored
