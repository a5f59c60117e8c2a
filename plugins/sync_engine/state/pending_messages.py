"""The message copy's memory: messages waiting to become Tasks, and where each phone's record is.

A message whose phone matches no linked record is kept here by id and date only (no phone, no text), so it
can be read again from Heymarket by its date once the link table changes; a message whose Task Salesforce
refused is kept with the error code and sent again by every run. The linked records come from the link
table, read as ``phone -> (object, Salesforce Id)``: the lookup the copy needs, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, select

from sync_engine.state.models import SyncLink, SyncPendingMessage, table_of
from sync_engine.state.sqlhelpers import bulk_upsert, in_chunks, unique_in_order

_pending = table_of(SyncPendingMessage)
_links = table_of(SyncLink)


@dataclass(frozen=True)
class PendingMessage:
    """One waiting message: ids, date, why it waits (``no_record`` / ``failed``) and Salesforce's error code."""

    message_id: int
    message_at: datetime
    reason: str
    error_code: str | None = None


def linked_records(conn: Connection) -> dict[str, tuple[str, str]]:
    """``phone -> (object, sf_id)`` of every active link with a record (a phone has at most one)."""
    t = _links
    stmt = select(t.c.phone, t.c.object, t.c.sf_id).where(
        t.c.status == "active", t.c.sf_id.is_not(None), t.c.phone.is_not(None))
    return {str(phone): (str(obj), str(sf_id)) for phone, obj, sf_id in conn.execute(stmt)}


def links_changed_at(conn: Connection) -> datetime | None:
    """When the link table last changed (``max(updated_at)``), ``None`` while it is empty."""
    return conn.execute(select(func.max(_links.c.updated_at))).scalar_one_or_none()


def keep_pending(conn: Connection, messages: Sequence[PendingMessage], run_id: str | None, now: datetime) -> int:
    """Add or refresh waiting messages (a message seen again keeps its ``first_seen_at``)."""
    rows = [{"message_id": m.message_id, "message_at": m.message_at, "reason": m.reason,
             "error_code": m.error_code, "first_seen_at": now, "checked_at": now, "run_id": run_id}
            for m in {m.message_id: m for m in messages}.values()]
    bulk_upsert(conn, _pending, rows, conflict=["message_id"],
                update=["message_at", "reason", "error_code", "checked_at", "run_id"])
    return len(rows)


def load_pending(conn: Connection, reasons: Iterable[str] | None = None) -> list[PendingMessage]:
    """The waiting messages, oldest date first."""
    t = _pending
    stmt = select(t.c.message_id, t.c.message_at, t.c.reason, t.c.error_code).order_by(t.c.message_at,
                                                                                     t.c.message_id)
    if reasons is not None:
        stmt = stmt.where(t.c.reason.in_(list(reasons)))
    return [PendingMessage(int(i), at, str(reason), code) for i, at, reason, code in conn.execute(stmt)]


def drop_pending(conn: Connection, message_ids: Iterable[int]) -> int:
    """Forget waiting messages (copied now, or gone from Heymarket); returns how many rows went."""
    ids = unique_in_order(int(i) for i in message_ids)
    removed = 0
    for predicate in in_chunks(conn, _pending.c.message_id, ids):
        removed += conn.execute(delete(_pending).where(predicate)).rowcount or 0
    return removed


def count_pending(conn: Connection) -> dict[str, int]:
    """Waiting messages by reason."""
    t = _pending
    return {str(reason): int(n) for reason, n in conn.execute(select(t.c.reason, func.count()).group_by(t.c.reason))}
