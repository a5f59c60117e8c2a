"""Phones of Salesforce records outside the configured list view (list-view scope with auto-create).

A full comparison reads every record's phone and replaces an object's rows; incremental runs read only
changed records, update the rows of those, and take the unchanged ones from here. The plan only needs to
know these phones exist (so it never auto-creates a second record with one of them); the rows never
become pairs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, select

from sync_engine.state.models import SF_OBJECTS, SyncLink, SyncOutsideView, SyncOutsideViewScan, table_of
from sync_engine.state.sqlhelpers import bulk_upsert, in_chunks, unique_in_order

_table = table_of(SyncOutsideView)
_scans = table_of(SyncOutsideViewScan)
_links = table_of(SyncLink)


@dataclass(frozen=True)
class OutsideRecord:
    """One record read outside the view: its id, its phone field as stored and its SystemModstamp."""

    sf_id: str
    phone_raw: str
    modstamp: datetime | None = None


def _check(object_name: str) -> None:
    if object_name not in SF_OBJECTS:
        raise ValueError(f"object must be one of {SF_OBJECTS}, got {object_name!r}")


def _rows(object_name: str, list_view: str, records: Iterable[OutsideRecord], now: datetime) -> list[dict]:
    return [
        {"object": object_name, "sf_id": r.sf_id, "list_view": list_view, "phone_raw": r.phone_raw,
         "modstamp": r.modstamp, "seen_at": now}
        for r in records
    ]


def replace_outside_view(
    conn: Connection, object_name: str, list_view: str, records: Iterable[OutsideRecord], now: datetime,
    run_id: str | None = None,
) -> int:
    """An object's rows become exactly ``records`` (after reading every record); returns how many.

    Also notes that this view's outside records are now known (see :func:`outside_view_scanned`).
    """
    _check(object_name)
    conn.execute(delete(_table).where(_table.c.object == object_name))
    rows = _rows(object_name, list_view, records, now)
    if rows:
        conn.execute(_table.insert(), rows)
    bulk_upsert(conn, _scans, [{"object": object_name, "list_view": list_view, "scanned_at": now, "run_id": run_id}],
                conflict=("object",), update=("list_view", "scanned_at", "run_id"))
    return len(rows)


def outside_view_scanned(conn: Connection, object_name: str, list_view: str) -> bool:
    """Whether the stored rows were read for this list view (never, or for another view: they can't be used)."""
    _check(object_name)
    stmt = select(_scans.c.list_view).where(_scans.c.object == object_name)
    return conn.execute(stmt).scalar_one_or_none() == list_view


def update_outside_view(
    conn: Connection,
    object_name: str,
    list_view: str,
    outside: Iterable[OutsideRecord],
    not_outside: Iterable[str],
    now: datetime,
) -> None:
    """After an incremental read: records now outside the view are (re)written, the others dropped."""
    _check(object_name)
    gone = unique_in_order(not_outside)
    for predicate in in_chunks(conn, _table.c.sf_id, gone):
        conn.execute(delete(_table).where(_table.c.object == object_name, predicate))
    rows = _rows(object_name, list_view, outside, now)
    if rows:
        bulk_upsert(conn, _table, rows, conflict=("object", "sf_id"),
                    update=("list_view", "phone_raw", "modstamp", "seen_at"))


def load_outside_view(conn: Connection, object_name: str, list_view: str) -> list[OutsideRecord]:
    """The object's rows for this list view, leaving out records that have an active link.

    An active pair is in the view by definition (a record only gets or keeps an active link when a run
    read it in scope), so a row that says otherwise is older than that run and must not unlink it.
    """
    _check(object_name)
    t, lk = _table, _links
    active = and_(lk.c.object == t.c.object, lk.c.sf_id == t.c.sf_id, lk.c.status == "active")
    stmt = (
        select(t.c.sf_id, t.c.phone_raw, t.c.modstamp)
        .where(t.c.object == object_name, t.c.list_view == list_view, ~select(lk.c.id).where(active).exists())
        .order_by(t.c.sf_id)
    )
    return [OutsideRecord(sf_id, phone, modstamp) for sf_id, phone, modstamp in conn.execute(stmt)]
