"""Per-record errors: one open row per record, target and action, counting attempts until resolved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, func, literal_column, select, update

from sync_engine.state.models import ERROR_MESSAGE_LENGTH, SyncRecordError, table_of
from sync_engine.state.records import RecordRef, WriteRejection, matching_ids, record_key
from sync_engine.state.redaction import scrub_message
from sync_engine.state.sqlhelpers import bulk_upsert, in_chunks
from sync_engine.vocabulary import TARGETS

_table = table_of(SyncRecordError)

ERROR_FRAME_COLUMNS = (
    "object", "sf_id", "hm_id", "target", "action", "error_code", "message", "first_seen_run",
    "last_seen_run", "attempts", "created_at", "updated_at", "resolved_at", "resolved_run",
)


def record_errors(conn: Connection, run_id: str, rows: Sequence[WriteRejection], now: datetime) -> int:
    """Insert new errors; an open error for the same record, target and action gets attempts + 1.

    Messages have the record's values (``WriteRejection.scrub``: whole, echoed prefixes, single words), phone
    numbers and e-mails masked, then are truncated. Within one call a repeated key
    counts once (the last row wins). Returns the number of distinct errors written.
    """
    values: dict[tuple[str, str, str], dict[str, object]] = {}
    for row in rows:
        if row.target not in TARGETS:
            raise ValueError(f"error target must be one of {TARGETS}, got {row.target!r}")
        if not row.action or not row.error_code:
            raise ValueError("a record error needs an action and an error_code")
        key = record_key(row.object, row.sf_id, row.hm_id)
        values[(row.target, row.action, key)] = {
            "object": row.object, "sf_id": row.sf_id, "hm_id": row.hm_id, "record_key": key,
            "target": row.target, "action": row.action, "error_code": row.error_code[:64],
            "message": scrub_message(row.message, ERROR_MESSAGE_LENGTH, row.scrub),
            "first_seen_run": run_id, "last_seen_run": run_id, "attempts": 1,
            "created_at": now, "updated_at": now, "resolved_at": None, "resolved_run": None,
        }
    if not values:
        return 0
    t = _table
    bulk_upsert(
        conn, t, list(values.values()),
        conflict=("target", "action", "record_key"),
        conflict_where=t.c.resolved_at.is_(None),
        update=("last_seen_run", "error_code", "updated_at"),
        # The latest failure's message, or the one before when the latest came without one.
        update_expressions=lambda incoming: {
            "attempts": t.c.attempts + literal_column("1"),  # no bound parameter: see sqlhelpers
            "message": func.coalesce(incoming.message, t.c.message),
        },
    )
    return len(values)


def resolve_errors(conn: Connection, refs: Sequence[RecordRef], run_id: str, now: datetime) -> int:
    """Mark open errors of these records as resolved (their write succeeded); returns how many.

    Open errors are few, so they are read once and matched in Python rather than probed one
    success at a time.
    """
    if not refs:
        return 0
    t = _table
    targets = sorted({ref.target for ref in refs})
    stmt = select(t.c.id, t.c.target, t.c.action, t.c.object, t.c.sf_id, t.c.hm_id).where(
        t.c.resolved_at.is_(None), t.c.target.in_(targets)
    )
    ids = matching_ids(conn.execute(stmt).all(), refs)
    for predicate in in_chunks(conn, t.c.id, ids):
        conn.execute(update(t).where(predicate).values(resolved_at=now, resolved_run=run_id))
    return len(ids)


def load_errors(conn: Connection, *, open_only: bool = True, run_id: str | None = None) -> pd.DataFrame:
    """Errors as a frame (newest first): open ones by default, or those last seen in ``run_id``."""
    t = _table
    stmt = select(*(t.c[name] for name in ERROR_FRAME_COLUMNS)).order_by(t.c.updated_at.desc(), t.c.id)
    if open_only:
        stmt = stmt.where(t.c.resolved_at.is_(None))
    if run_id is not None:
        stmt = stmt.where(t.c.last_seen_run == run_id)
    frame = pd.DataFrame(conn.execute(stmt).all(), columns=list(ERROR_FRAME_COLUMNS))
    frame["hm_id"] = frame["hm_id"].astype("Int64")
    frame["attempts"] = frame["attempts"].astype("int64")
    for name in ("created_at", "updated_at", "resolved_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[ns, UTC]")
    return frame
