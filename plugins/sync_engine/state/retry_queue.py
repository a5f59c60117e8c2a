"""Retry queue of rejected writes: exponential backoff, or at once when the record changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, delete, select

from sync_engine.state.models import SyncRetry, table_of
from sync_engine.state.records import RecordRef, RetryRequest, matching_ids, record_key
from sync_engine.state.sqlhelpers import bulk_upsert, in_chunks
from sync_engine.vocabulary import TARGETS

_table = table_of(SyncRetry)

RETRY_FRAME_COLUMNS = (
    "object", "sf_id", "hm_id", "record_key", "target", "action", "attempts", "next_attempt_after",
    "last_error_code", "fingerprint", "due_reason",
)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff between attempts: ``base`` after the first failure, doubling, capped at ``cap``.

    The default base is one schedule interval (30 minutes) so a transient failure is retried on the
    next run; a record that keeps failing is tried about once a day.
    """

    base: timedelta = timedelta(minutes=30)
    cap: timedelta = timedelta(hours=24)

    def delay(self, attempts: int) -> timedelta:
        """Wait after the ``attempts``-th failure."""
        return min(self.base * (2 ** max(attempts - 1, 0)), self.cap)


def enqueue_retries(
    conn: Connection, rows: Sequence[RetryRequest], run_id: str | None, now: datetime, policy: RetryPolicy
) -> int:
    """Queue failed writes, or bump those already queued; returns the number of distinct entries."""
    values: dict[tuple[str, str, str], dict[str, object]] = {}
    for row in rows:
        if row.target not in TARGETS:
            raise ValueError(f"retry target must be one of {TARGETS}, got {row.target!r}")
        if not row.action:
            raise ValueError("a retry needs the action to retry")
        key = record_key(row.object, row.sf_id, row.hm_id)
        values[(row.target, row.action, key)] = {
            "object": row.object, "sf_id": row.sf_id, "hm_id": row.hm_id, "record_key": key,
            "target": row.target, "action": row.action, "last_error_code": row.error_code,
            "fingerprint": row.fingerprint, "created_at": now, "updated_at": now, "last_run_id": run_id,
            "_override": row.next_attempt_after,
        }
    if not values:
        return 0
    attempts = _queued_attempts(conn, {key for _, _, key in values})
    for (target, action, key), value in values.items():
        attempt = attempts.get((target, action, key), 0) + 1
        value["attempts"] = attempt
        override = value.pop("_override")
        value["next_attempt_after"] = override or now + policy.delay(attempt)

    bulk_upsert(
        conn, _table, list(values.values()),
        conflict=("target", "action", "record_key"),
        update=("attempts", "next_attempt_after", "last_error_code", "fingerprint", "updated_at", "last_run_id"),
    )
    return len(values)


def _queued_attempts(conn: Connection, keys: set[str]) -> dict[tuple[str, str, str], int]:
    t = _table
    found: dict[tuple[str, str, str], int] = {}
    for predicate in in_chunks(conn, t.c.record_key, sorted(keys)):
        stmt = select(t.c.target, t.c.action, t.c.record_key, t.c.attempts).where(predicate)
        for target, action, key, attempts in conn.execute(stmt):
            found[(target, action, key)] = attempts
    return found


def due_retries(
    conn: Connection, now: datetime, fingerprints: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Queued writes to try in this run, oldest due first.

    :param fingerprints: ``record_key`` -> ``record_fingerprint`` of the record's current values,
        for the records the run has seen. An entry whose stored fingerprint differs is due at once
        (``due_reason = 'record_changed'``); otherwise it is due when its backoff elapsed
        (``'backoff_elapsed'``).
    """
    t = _table
    columns = [t.c[name] for name in RETRY_FRAME_COLUMNS if name != "due_reason"]
    stmt = select(*columns).order_by(t.c.next_attempt_after, t.c.id)
    if not fingerprints:
        stmt = stmt.where(t.c.next_attempt_after <= now)
    records = []
    for row in conn.execute(stmt).mappings():
        current = fingerprints.get(row["record_key"]) if fingerprints else None
        if current is not None and current != row["fingerprint"]:
            reason = "record_changed"
        elif row["next_attempt_after"] <= now:
            reason = "backoff_elapsed"
        else:
            continue
        records.append({**row, "due_reason": reason})
    frame = pd.DataFrame(records, columns=list(RETRY_FRAME_COLUMNS))
    frame["hm_id"] = frame["hm_id"].astype("Int64")
    frame["attempts"] = frame["attempts"].astype("int64")
    frame["next_attempt_after"] = pd.to_datetime(frame["next_attempt_after"], utc=True).astype(
        "datetime64[ns, UTC]"
    )
    return frame


def clear_retries(conn: Connection, refs: Sequence[RecordRef]) -> int:
    """Drop queued writes of these records (they succeeded, or are moot); returns how many."""
    if not refs:
        return 0
    t = _table
    targets = sorted({ref.target for ref in refs})
    stmt = select(t.c.id, t.c.target, t.c.action, t.c.object, t.c.sf_id, t.c.hm_id).where(t.c.target.in_(targets))
    ids = matching_ids(conn.execute(stmt).all(), refs)
    for predicate in in_chunks(conn, t.c.id, ids):
        conn.execute(delete(t).where(predicate))
    return len(ids)
