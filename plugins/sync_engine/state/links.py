"""The link table: read it as the planner's frame, write a batch of pair changes atomically."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Row, delete, func, select, update

from sync_engine.state.models import LINK_STATUSES, SF_OBJECTS, SyncLink, table_of
from sync_engine.state.records import LinkRow, column_cells, is_missing, optional_int, optional_str, to_python
from sync_engine.state.sqlhelpers import bulk_upsert, in_chunks

SYNCED_PREFIX = "synced."
#: Columns of the link frame before the ``synced.<key>`` ones (docs/contracts.md, "Link table").
LINK_FRAME_BASE_COLUMNS: tuple[str, ...] = (
    "object", "sf_id", "hm_id", "hm_uuid", "phone", "status", "sf_modstamp", "hm_rev", "synced_at",
)
_TIME_COLUMNS = ("sf_modstamp", "synced_at")
#: Columns a caller may update; absent from an upsert frame means "leave as stored".
_UPDATABLE = ("hm_uuid", "phone", "status", "synced", "sf_modstamp", "hm_rev")

_LINK_ROW_FIELDS = tuple(f.name for f in fields(LinkRow))

#: A link to delete: a Heymarket contact id, or a Salesforce (object, sf_id).
DeleteKey = int | tuple[str, str]
#: A link to release: its (object, sf_id) and the contact id it must still hold (so that a batch applied
#: twice never releases the pair the record has made since).
ReleaseKey = tuple[str, str, int]

_table = table_of(SyncLink)
#: One link row to write, column -> value (the link table's column types; built from frames and LinkRow).
LinkValues = dict[str, Any]


@dataclass(frozen=True)
class LinkChanges:
    """What one ``apply_link_changes`` call did.

    :param replaced: other pairs removed because their Heymarket contact now belongs to a pair of
        this batch (a Salesforce record re-linked to a contact that was linked elsewhere).
    :param released: pairs turned into ``released`` memory (their record moved to another number).
    """

    upserted: int
    deleted: int
    replaced: int
    released: int = 0


def links_frame_columns(synced_keys: Iterable[str] = ()) -> list[str]:
    """Column names of the link frame for these canonical keys (``synced.<key>``, sorted)."""
    return [*LINK_FRAME_BASE_COLUMNS, *(SYNCED_PREFIX + key for key in sorted(set(synced_keys)))]


def load_links(
    conn: Connection, objects: Iterable[str] | None = None, synced_keys: Iterable[str] = ()
) -> pd.DataFrame:
    """Every link (or those of ``objects``) as the planner's frame, sorted by object and sf_id.

    ``synced_at`` is the row's ``updated_at``. Each key found in any row's ``synced`` JSON, plus each
    of ``synced_keys``, becomes a ``synced.<key>`` column; a key a row lacks reads as missing. A
    ``released`` row has no Salesforce record: its ``sf_id`` reads as missing (callers that look records
    up by id skip it).
    """
    t = _table
    stmt = select(
        t.c.object, t.c.sf_id, t.c.hm_id, t.c.hm_uuid, t.c.phone, t.c.status, t.c.sf_modstamp,
        t.c.hm_rev, t.c.updated_at.label("synced_at"), t.c.synced,
    ).order_by(t.c.object, t.c.sf_id)
    if objects is not None:
        stmt = stmt.where(t.c.object.in_(list(objects)))
    # Plain tuples: pandas probes attributes of each row object, which SQLAlchemy rows answer slowly.
    rows = [tuple(row) for row in conn.execute(stmt)]

    base = pd.DataFrame.from_records(rows, columns=[*LINK_FRAME_BASE_COLUMNS, "synced"])
    synced = pd.DataFrame.from_records([value or {} for value in base.pop("synced")], index=base.index)
    keys = set(synced_keys) | {str(c) for c in synced.columns}
    absent = pd.Series(None, index=base.index, dtype="str")
    columns = {name: _typed(name, base[name]) for name in LINK_FRAME_BASE_COLUMNS}
    columns |= {SYNCED_PREFIX + key: _typed("synced", synced[key]) if key in synced else absent for key in keys}
    return pd.DataFrame(columns, index=base.index)[links_frame_columns(keys)]


def _typed(name: str, values: pd.Series) -> pd.Series:
    """A link frame column with the dtype docs/contracts.md promises."""
    if name == "hm_id":
        return values.astype("int64")
    if name == "hm_rev":
        return values.astype("Int64")
    if name in _TIME_COLUMNS:
        return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")
    return values.astype("str")  # missing stays missing (released rows: sf_id)


def load_active_pairs(conn: Connection, objects: Iterable[str] | None = None) -> pd.DataFrame:
    """The ``active`` links with a record (``object``, ``sf_id``, ``hm_id``): the pairs, without their memory.

    Narrower than :func:`load_links` (no ``synced`` JSON to expand), for readers that only count pairs.
    """
    t = _table
    stmt = select(t.c.object, t.c.sf_id, t.c.hm_id).where(t.c.status == "active", t.c.sf_id.is_not(None))
    if objects is not None:
        stmt = stmt.where(t.c.object.in_(list(objects)))
    rows = [tuple(row) for row in conn.execute(stmt.order_by(t.c.object, t.c.sf_id))]
    frame = pd.DataFrame.from_records(rows, columns=["object", "sf_id", "hm_id"])
    return frame.astype({"object": "str", "sf_id": "str", "hm_id": "int64"})


def count_links(conn: Connection, object_name: str | None = None, status: str | None = None) -> int:
    """Number of links, optionally of one object and/or status."""
    stmt = select(func.count()).select_from(_table)
    if object_name is not None:
        stmt = stmt.where(_table.c.object == object_name)
    if status is not None:
        stmt = stmt.where(_table.c.status == status)
    return int(conn.execute(stmt).scalar_one())


def apply_link_changes(
    conn: Connection,
    upserts: pd.DataFrame | Sequence[LinkRow],
    deletes: pd.DataFrame | Iterable[DeleteKey],
    run_id: str,
    now: datetime,
    releases: Iterable[ReleaseKey] = (),
) -> LinkChanges:
    """Delete, then release, then upsert a batch of links on ``conn`` (the caller's transaction).

    Upserts are keyed by (object, sf_id). A pair whose Heymarket contact changes keeps its row and
    gets the new ``hm_id``; any other pair holding that contact is removed ("replaced"), so the
    unique keys hold at every step even when two pairs swap contacts within one batch.

    A release turns the pair's row into the memory of its contact alone: ``status`` ``released``,
    ``sf_id`` NULL, ``hm_id``, ``phone`` and ``synced`` kept. It runs before the upserts, so the same
    record can take another contact in the same batch (a phone move) without losing the old contact's
    memory; a release whose pair no longer holds that contact (a batch applied twice) changes nothing.

    :param upserts: ``LinkRow`` objects, or a frame with ``object``, ``sf_id``, ``hm_id`` and any of
        ``hm_uuid``, ``phone``, ``status``, ``sf_modstamp``, ``hm_rev`` and either ``synced`` (dicts)
        or ``synced.<key>`` columns. Columns a frame lacks keep their stored values.
    :param deletes: Heymarket ids and/or (object, sf_id) pairs, or a frame with ``hm_id`` and/or
        ``object`` + ``sf_id`` (a row with an ``hm_id`` is deleted by it).
    :param releases: ``(object, sf_id, hm_id)`` of pairs to release.
    :raises ValueError: a row breaks a closed set or the batch itself repeats a key.
    """
    rows, provided = _normalise_upserts(upserts)
    deleted = _delete_links(conn, _normalise_deletes(deletes))
    released = _release_links(conn, releases, run_id, now)
    if not rows:
        return LinkChanges(upserted=0, deleted=deleted, replaced=0, released=released)

    replaced = _make_room(conn, rows, provided)
    for row in rows:
        row.update(updated_at=now, created_at=now, last_run_id=run_id)
    bulk_upsert(
        conn, _table, rows, conflict=("object", "sf_id"),
        update=(*provided, "hm_id", "updated_at", "last_run_id"),
    )
    return LinkChanges(upserted=len(rows), deleted=deleted, replaced=replaced, released=released)


def _release_links(conn: Connection, releases: Iterable[ReleaseKey], run_id: str, now: datetime) -> int:
    """Turn pairs into ``released`` memory (see ``apply_link_changes``); returns how many rows changed."""
    wanted = {int(hm_id): (str(obj), str(sf_id)) for obj, sf_id, hm_id in releases}
    if not wanted:
        return 0
    t = _table
    ids = []
    # hm_id is unique: read the rows by it, keep those still paired with the given record.
    for predicate in in_chunks(conn, t.c.hm_id, sorted(wanted)):
        for row in conn.execute(select(t.c.id, t.c.object, t.c.sf_id, t.c.hm_id).where(predicate)):
            if wanted[row.hm_id] == (row.object, row.sf_id):
                ids.append(row.id)
    for predicate in in_chunks(conn, t.c.id, ids):
        conn.execute(update(t).where(predicate).values(sf_id=None, status="released", updated_at=now,
                                                       last_run_id=run_id))
    return len(ids)


def _make_room(conn: Connection, rows: list[LinkValues], provided: tuple[str, ...]) -> int:
    """Clear the way for the upsert: drop displaced pairs, park re-pointed rows on placeholder ids."""
    t = _table
    batch_keys = {(r["object"], r["sf_id"]): r for r in rows}
    new_hm_ids = {r["hm_id"] for r in rows}
    new_uuids = {r["hm_uuid"] for r in rows if "hm_uuid" in provided and r["hm_uuid"] is not None}

    existing = _existing(conn, batch_keys, new_hm_ids, new_uuids)
    displaced = [e.id for e in existing if (e.object, e.sf_id) not in batch_keys]
    for predicate in in_chunks(conn, t.c.id, displaced):
        conn.execute(delete(t).where(predicate))

    # Rows of this batch whose contact changes: a temporary negative hm_id (-id never collides with a
    # real, positive one) and no UUID, so a swap between two pairs never trips the unique keys.
    repointed, uuid_cleared = [], []
    for e in existing:
        new = batch_keys.get((e.object, e.sf_id))
        if new is None:
            continue
        if new["hm_id"] != e.hm_id:
            repointed.append(e.id)
        elif "hm_uuid" in provided and new["hm_uuid"] != e.hm_uuid and e.hm_uuid is not None:
            uuid_cleared.append(e.id)
    for predicate in in_chunks(conn, t.c.id, repointed):
        conn.execute(update(t).where(predicate).values(hm_id=-t.c.id, hm_uuid=None))
    for predicate in in_chunks(conn, t.c.id, uuid_cleared):
        conn.execute(update(t).where(predicate).values(hm_uuid=None))
    return len(displaced)


def _existing(
    conn: Connection,
    batch_keys: Mapping[tuple[str, str], object],
    hm_ids: set[int],
    uuids: set[str],
) -> list[Row[int, str, str, int, str | None]]:
    """Stored rows that share a key with the batch: same (object, sf_id), hm_id or hm_uuid."""
    t = _table
    columns = (t.c.id, t.c.object, t.c.sf_id, t.c.hm_id, t.c.hm_uuid)
    by_object: dict[str, list[str]] = defaultdict(list)
    for object_name, sf_id in batch_keys:
        by_object[object_name].append(sf_id)
    found: dict[int, Row[int, str, str, int, str | None]] = {}
    for object_name, sf_ids in by_object.items():
        for predicate in in_chunks(conn, t.c.sf_id, sf_ids):
            stmt = select(*columns).where(t.c.object == object_name, predicate)
            found.update((row.id, row) for row in conn.execute(stmt).all())
    # Contacts already held by the rows just found need no second look (the usual case: an update
    # batch whose pairs keep their contacts makes no further query).
    hm_ids = hm_ids - {row.hm_id for row in found.values()}
    uuids = uuids - {row.hm_uuid for row in found.values()}
    for column, values in ((t.c.hm_id, sorted(hm_ids)), (t.c.hm_uuid, sorted(uuids))):
        for predicate in in_chunks(conn, column, values):
            found.update((row.id, row) for row in conn.execute(select(*columns).where(predicate)).all())
    return list(found.values())


def _delete_links(conn: Connection, keys: tuple[list[int], list[tuple[str, str]]]) -> int:
    t = _table
    hm_ids, sf_keys = keys
    deleted = 0
    for predicate in in_chunks(conn, t.c.hm_id, hm_ids):
        deleted += conn.execute(delete(t).where(predicate)).rowcount
    by_object: dict[str, list[str]] = defaultdict(list)
    for object_name, sf_id in sf_keys:
        by_object[object_name].append(sf_id)
    for object_name, sf_ids in by_object.items():
        for predicate in in_chunks(conn, t.c.sf_id, sf_ids):
            deleted += conn.execute(delete(t).where(t.c.object == object_name, predicate)).rowcount
    return deleted


def _normalise_deletes(deletes: pd.DataFrame | Iterable[DeleteKey]) -> tuple[list[int], list[tuple[str, str]]]:
    hm_ids: list[int] = []
    sf_keys: list[tuple[str, str]] = []
    if isinstance(deletes, pd.DataFrame):
        if deletes.empty:
            return hm_ids, sf_keys
        has_hm = "hm_id" in deletes.columns
        has_sf = {"object", "sf_id"} <= set(deletes.columns)
        if not (has_hm or has_sf):
            raise ValueError("link deletes need an 'hm_id' column or 'object' and 'sf_id' columns")
        for record in deletes.to_dict("records"):
            hm_id = optional_int(record.get("hm_id")) if has_hm else None
            if hm_id is not None:
                hm_ids.append(hm_id)
            elif has_sf and not is_missing(record["sf_id"]):
                sf_keys.append((str(record["object"]), str(record["sf_id"])))
            else:
                raise ValueError("a link delete row has neither hm_id nor sf_id")
        return hm_ids, sf_keys
    for key in deletes:
        if isinstance(key, tuple):
            sf_keys.append((str(key[0]), str(key[1])))
        else:
            hm_ids.append(int(key))
    return hm_ids, sf_keys


def _normalise_upserts(
    upserts: pd.DataFrame | Sequence[LinkRow],
) -> tuple[list[LinkValues], tuple[str, ...]]:
    """Plain row dicts (every column present) and the updatable columns the caller actually gave."""
    if isinstance(upserts, pd.DataFrame):
        if upserts.empty:  # e.g. a plan frame with no rows, possibly without columns
            return [], ()
        records, provided = _frame_records(upserts)
    else:
        # Shallow on purpose: dataclasses.asdict deep-copies every synced dict (seconds per 100,000).
        records = [{name: getattr(row, name) for name in _LINK_ROW_FIELDS} for row in upserts]
        provided = _UPDATABLE
    rows = [_clean_row(record) for record in records]
    _check_batch(rows)
    return rows, provided


def _frame_records(frame: pd.DataFrame) -> tuple[list[LinkValues], tuple[str, ...]]:
    missing = {"object", "sf_id", "hm_id"} - set(frame.columns)
    if missing:
        raise ValueError(f"link upserts lack columns {sorted(missing)}; see links_frame_columns()")
    synced_columns = [c for c in frame.columns if str(c).startswith(SYNCED_PREFIX)]
    if synced_columns and "synced" in frame.columns:
        raise ValueError("give either a 'synced' column of dicts or 'synced.<key>' columns, not both")
    provided = tuple(c for c in _UPDATABLE if c in frame.columns or (c == "synced" and synced_columns))
    names = [c for c in ("object", "sf_id", "hm_id", *_UPDATABLE) if c in frame.columns]
    columns = [column_cells(frame, name) for name in names]
    records = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    if synced_columns:
        synced = [(c[len(SYNCED_PREFIX):], column_cells(frame, c)) for c in synced_columns]
        for i, record in enumerate(records):
            record["synced"] = {key: cells[i] for key, cells in synced if cells[i] is not None}
    return records, provided


def _clean_row(record: Mapping[str, object]) -> dict[str, object]:
    synced = record.get("synced")
    if is_missing(synced):
        synced = {}
    if not isinstance(synced, Mapping):
        raise ValueError(f"'synced' must be a dict of canonical key -> value, got {type(synced).__name__}")
    hm_id = optional_int(record.get("hm_id"))
    if hm_id is None or hm_id <= 0:
        raise ValueError(f"link {record.get('object')}/{record.get('sf_id')} needs a positive hm_id")
    status = optional_str(record.get("status")) or "active"
    return {
        "object": optional_str(record.get("object")),
        "sf_id": optional_str(record.get("sf_id")),
        "hm_id": hm_id,
        "hm_uuid": optional_str(record.get("hm_uuid")),
        "phone": optional_str(record.get("phone")),
        "status": status,
        # Missing values are dropped: an absent key and a None value both mean "empty on both sides".
        "synced": {str(k): v if type(v) is str else str(to_python(v))
                   for k, v in synced.items() if not is_missing(v)},
        "sf_modstamp": to_python(record.get("sf_modstamp")),
        "hm_rev": optional_int(record.get("hm_rev")),
    }


def _check_batch(rows: list[LinkValues]) -> None:
    for row in rows:
        if row["object"] not in SF_OBJECTS:
            raise ValueError(f"link object must be one of {SF_OBJECTS}, got {row['object']!r}")
        if not row["sf_id"]:
            raise ValueError("a link needs an sf_id (a released link is written with releases=, not upserted)")
        if row["status"] not in LINK_STATUSES or row["status"] == "released":
            raise ValueError(f"link status must be one of {LINK_STATUSES[:-1]} (released links are written "
                             f"with releases=), got {row['status']!r}")
    for label, key in (
        ("(object, sf_id)", lambda r: (r["object"], r["sf_id"])),
        ("hm_id", lambda r: r["hm_id"]),
        ("hm_uuid", lambda r: r["hm_uuid"]),
    ):
        seen: set[object] = set()
        for row in rows:
            value = key(row)
            if value is None:
                continue
            if value in seen:
                raise ValueError(f"link upserts repeat {label} {value!r}; the plan must give one row per pair")
            seen.add(value)
