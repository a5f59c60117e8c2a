"""Typed rows the store accepts, and the conversions from pandas frames to plain Python values.

Callers hand over either these dataclasses or DataFrames with the same column names (what the plan
and apply stages naturally hold); both end up as plain dicts of Python scalars before any SQL runs,
because DB drivers do not understand ``numpy.int64``, ``pd.NA`` or ``pd.NaT``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Protocol, SupportsInt, TypeVar

import pandas as pd

#: Placeholder for an unknown part of a record key (``Contact/003.../-``).
_MISSING = "-"


#: Types whose values are never "missing" and need no conversion (checked by exact type: fast).
_PLAIN = frozenset({str, int, bool, dict, list, tuple})


def is_missing(value: object) -> bool:
    """True for None, NaN, pd.NA and NaT; False for containers (a dict is a value, not a missing one)."""
    if value is None:
        return True
    kind = type(value)
    if kind in _PLAIN:
        return False
    if kind is float:
        return value != value  # NaN
    if isinstance(value, (dict, list, tuple, set)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def to_python(value: object) -> object:
    """One cell of a frame as a plain Python value the DB driver accepts (called per cell: fast paths)."""
    if value is None or type(value) in _PLAIN:
        return value
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    item = getattr(value, "item", None)  # numpy scalars
    if item is not None and not isinstance(value, (str, bytes)):
        return item()
    return value


def optional_int(value: object) -> int | None:
    """An id cell as ``int`` (frames often carry ids as float after a merge), ``None`` if missing."""
    value = to_python(value)
    if value is None:
        return None
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"expected an integer id, got {value!r}")
    if isinstance(value, str | SupportsInt):
        return int(value)
    raise TypeError(f"expected an integer id, got {type(value).__name__}")


def optional_str(value: object) -> str | None:
    """A text cell as ``str``, ``None`` if missing or empty."""
    value = to_python(value)
    if value is None:
        return None
    text = str(value)
    return text or None


def record_key(object_name: str | None, sf_id: str | None, hm_id: int | None) -> str:
    """NULL-safe identity of a record, ``object/sf_id/hm_id`` with ``-`` for unknown parts.

    Used as a plain NOT NULL column in unique keys, because SQL treats NULLs as all different and a
    unique constraint over nullable columns would let duplicates in.
    """
    return "/".join(
        _MISSING if part is None else str(part) for part in (object_name, sf_id, hm_id)
    )


def record_fingerprint(values: Mapping[str, object]) -> str:
    """Stable hash of a record's canonical values: equal values give an equal fingerprint.

    Missing values (None/NaN) count as absent, so a frame row and a dict with the same content agree.
    """
    clean = {str(k): str(to_python(v)) for k, v in values.items() if not is_missing(v)}
    payload = json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LinkRow:
    """One pair to write to the link table (a row of the link frame, with ``synced`` as a dict)."""

    object: str
    sf_id: str
    hm_id: int
    phone: str | None = None
    status: str = "active"
    synced: Mapping[str, str | None] = field(default_factory=dict)
    sf_modstamp: datetime | None = None
    hm_rev: int | None = None
    hm_uuid: str | None = None


@dataclass(frozen=True)
class RecordRef:
    """Which record, on which target, for which action: the key of errors and retries.

    ``action=None`` matches every action on that target. A stored row matches when either its
    (object, sf_id) or its hm_id equals the reference's (ids learnt later, e.g. the hm_id of a
    contact that was created on retry, do not prevent the match).
    """

    target: str
    object: str | None = None
    sf_id: str | None = None
    hm_id: int | None = None
    action: str | None = None


@dataclass(frozen=True)
class WriteRejection:
    """A record the target rejected in this run (for ``record_errors``)."""

    target: str
    action: str
    error_code: str
    object: str | None = None
    sf_id: str | None = None
    hm_id: int | None = None
    message: str | None = None
    #: Everything the run holds for the record (values sent, values last synced, phone): masked in *message*,
    #: echoed prefixes and single words included (``redaction.scrub_values``). Never stored, never shown.
    scrub: tuple[str, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class RetryRequest:
    """A failed write to queue for a later run (for ``enqueue_retries``).

    :param fingerprint: ``record_fingerprint`` of the values that failed; when the record's values
        change, its fingerprint changes and the retry is due at once.
    :param next_attempt_after: override of the backoff (e.g. from a ``Retry-After`` header).
    """

    target: str
    action: str
    object: str | None = None
    sf_id: str | None = None
    hm_id: int | None = None
    error_code: str | None = None
    fingerprint: str | None = None
    next_attempt_after: datetime | None = None


_Row = TypeVar("_Row", RecordRef, WriteRejection, RetryRequest)


def column_cells(frame: pd.DataFrame, name: str) -> list[object]:
    """One column as plain Python values, missing ones as ``None``.

    Column-wise on purpose: ``DataFrame.to_dict("records")`` boxes every cell one by one, which is
    ten times slower on pandas' Arrow-backed string columns.
    """
    return frame[name].to_numpy(dtype=object, na_value=None).tolist()


def rows_from(rows: pd.DataFrame | Iterable[_Row], cls: type[_Row]) -> list[_Row]:
    """Dataclass rows from a frame with the same column names (extra columns are ignored)."""
    if not isinstance(rows, pd.DataFrame):
        return list(rows)
    names = [f.name for f in fields(cls) if f.name in rows.columns]
    columns = [column_cells(rows, name) for name in names]
    if "hm_id" in names:
        at = names.index("hm_id")
        columns[at] = [optional_int(v) for v in columns[at]]
    return [cls(**dict(zip(names, values, strict=True))) for values in zip(*columns, strict=True)]


class _StoredRecord(Protocol):
    id: int
    target: str
    action: str
    object: str | None
    sf_id: str | None
    hm_id: int | None


def matching_ids(stored: Iterable[_StoredRecord], refs: Iterable[RecordRef]) -> list[int]:
    """Ids of stored error/retry rows that any reference matches (see ``RecordRef``)."""
    by_sf: dict[tuple[str, str | None, str | None], list[RecordRef]] = {}
    by_hm: dict[tuple[str, int], list[RecordRef]] = {}
    for ref in refs:
        if ref.sf_id is not None:
            by_sf.setdefault((ref.target, ref.object, ref.sf_id), []).append(ref)
        if ref.hm_id is not None:
            by_hm.setdefault((ref.target, ref.hm_id), []).append(ref)
        if ref.sf_id is None and ref.hm_id is None:
            raise ValueError(f"{ref!r} names no record: give sf_id (with object) and/or hm_id")
    ids: list[int] = []
    for row in stored:
        candidates = by_sf.get((row.target, row.object, row.sf_id), []) if row.sf_id is not None else []
        if row.hm_id is not None:
            candidates = candidates + by_hm.get((row.target, row.hm_id), [])
        if any(ref.action is None or ref.action == row.action for ref in candidates):
            ids.append(row.id)
    return ids
