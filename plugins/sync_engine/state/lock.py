"""The sync lock: at most one run writes at a time, even if Airflow's ``max_active_runs`` fails.

A lock is a row in ``hm_sync_lock``. Taking it is one ``INSERT .. ON CONFLICT DO UPDATE .. WHERE``
statement: it inserts the row when there is none, and takes the row over only when it already
belongs to the same run (a retried task: re-entrant) or has expired (its holder died without
releasing). The database serialises concurrent statements on the same key, so on SQLite and on
PostgreSQL exactly one contender wins. A holder keeps the lock alive with ``heartbeat``.

Times come from the worker's clock (UTC); workers are expected to be NTP-synchronised, and the TTL
should be minutes, not seconds, so that small clock skew does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, case, delete, or_, select, update

from sync_engine.state.exceptions import StateStoreError
from sync_engine.state.models import SyncLock, table_of
from sync_engine.state.sqlhelpers import dialect_insert

_table = table_of(SyncLock)
_TIME = "%Y-%m-%d %H:%M:%S UTC"


@dataclass(frozen=True)
class LockInfo:
    """Who holds a lock, since when, and until when without a heartbeat."""

    name: str
    holder_run_id: str
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    ttl_seconds: int

    def expired(self, now: datetime) -> bool:
        """True once another run may take the lock over."""
        return self.expires_at <= now


class LockError(StateStoreError):
    """Base class of lock errors."""


class LockHeld(LockError):
    """Another run holds the lock. The message names it and says how to clear a stale lock."""

    def __init__(self, info: LockInfo | None, name: str, requested_by: str) -> None:
        self.info = info
        self.name = name
        self.requested_by = requested_by
        super().__init__(self._message())

    def _message(self) -> str:
        if self.info is None:
            return (f"sync lock {self.name!r} could not be taken by run {self.requested_by!r}: another run "
                    "took and released it at the same moment; try again")
        info = self.info
        return (
            f"sync lock {info.name!r} is held by run {info.holder_run_id!r} since "
            f"{info.acquired_at:{_TIME}} (last heartbeat {info.heartbeat_at:{_TIME}}, expires "
            f"{info.expires_at:{_TIME}}), so run {self.requested_by!r} will not write. Wait for that run "
            f"to finish. If it is dead (worker killed), the lock frees itself when it expires; to clear it "
            f"now, first make sure that run is not running, then call StateStore.break_lock({info.name!r}) "
            f"or run: DELETE FROM hm_sync_lock WHERE name = '{info.name}'"
        )


class LockLost(LockError):
    """The run no longer holds the lock it is heartbeating (it expired and another run took it)."""


def _info(row: Row) -> LockInfo:
    return LockInfo(
        name=row.name,
        holder_run_id=row.holder_run_id,
        acquired_at=row.acquired_at,
        heartbeat_at=row.heartbeat_at,
        expires_at=row.expires_at,
        ttl_seconds=row.ttl_seconds,
    )


def lock_holder(conn: Connection, name: str) -> LockInfo | None:
    """The current holder (possibly expired), or ``None`` when the lock is free."""
    row = conn.execute(select(_table).where(_table.c.name == name)).first()
    return _info(row) if row is not None else None


def try_acquire(conn: Connection, name: str, run_id: str, ttl_seconds: int, now: datetime) -> bool:
    """Take the lock in one statement; ``True`` if ``run_id`` holds it afterwards."""
    if ttl_seconds <= 0:
        raise ValueError(f"lock ttl_seconds must be positive, got {ttl_seconds}")
    t = _table
    stmt = dialect_insert(conn, t).values(
        name=name, holder_run_id=run_id, acquired_at=now, heartbeat_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds), ttl_seconds=ttl_seconds,
    )
    same_holder = t.c.holder_run_id == stmt.excluded.holder_run_id
    upsert = stmt.on_conflict_do_update(
        index_elements=[t.c.name],
        set_={
            "holder_run_id": stmt.excluded.holder_run_id,
            # Re-entry keeps the original acquisition time; a take-over starts a new one.
            "acquired_at": case((same_holder, t.c.acquired_at), else_=stmt.excluded.acquired_at),
            "heartbeat_at": stmt.excluded.heartbeat_at,
            "expires_at": stmt.excluded.expires_at,
            "ttl_seconds": stmt.excluded.ttl_seconds,
        },
        where=or_(same_holder, t.c.expires_at <= stmt.excluded.acquired_at),
    ).returning(t.c.holder_run_id)
    return conn.execute(upsert).first() is not None


def heartbeat(
    conn: Connection, name: str, run_id: str, now: datetime, ttl_seconds: int | None = None
) -> LockInfo:
    """Extend the holder's lease by its TTL (or a new ``ttl_seconds``) from now.

    :raises LockLost: ``run_id`` does not hold the lock any more; it must stop writing.
    """
    t = _table
    current = lock_holder(conn, name)
    seconds = ttl_seconds if ttl_seconds is not None else current.ttl_seconds if current else 0
    if current is not None and current.holder_run_id == run_id:
        if seconds <= 0:
            raise ValueError(f"lock ttl_seconds must be positive, got {seconds}")
        refreshed = replace(
            current, heartbeat_at=now, expires_at=now + timedelta(seconds=seconds), ttl_seconds=seconds
        )
        result = conn.execute(
            update(t)
            .where(t.c.name == name, t.c.holder_run_id == run_id)
            .values(heartbeat_at=refreshed.heartbeat_at, expires_at=refreshed.expires_at, ttl_seconds=seconds)
        )
        if result.rowcount == 1:
            return refreshed
        current = lock_holder(conn, name)
    holder = f"run {current.holder_run_id!r}" if current else "nobody"
    raise LockLost(
        f"run {run_id!r} lost sync lock {name!r} (now held by {holder}); it must stop writing. "
        "Its lease expired before a heartbeat: raise the lock TTL or heartbeat more often."
    )


def release(conn: Connection, name: str, run_id: str) -> bool:
    """Free the lock if ``run_id`` holds it; ``False`` (and no change) otherwise."""
    t = _table
    result = conn.execute(delete(t).where(t.c.name == name, t.c.holder_run_id == run_id))
    return result.rowcount > 0


def break_lock(conn: Connection, name: str) -> LockInfo | None:
    """Remove the lock whoever holds it (operator action for a stale lock); returns what was removed."""
    removed = lock_holder(conn, name)
    conn.execute(delete(_table).where(_table.c.name == name))
    return removed
