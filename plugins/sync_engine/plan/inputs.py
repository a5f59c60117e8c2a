"""The planner's three input frames as column arrays, checked against docs/contracts.md.

The plan works on Arrow string arrays and NumPy arrays rather than on object-dtype pandas columns: a
million records with half a dozen text columns stay compact, and null-aware comparisons and takes are
vectorised. Phones (E.164 digits, never a leading zero) travel as int64, so matching on them hashes
integers, not strings. Nothing here mutates the caller's frames.

Both systems' phones pass the same validation (``phonenumbers``, :mod:`sync_engine.phones`): Salesforce
phones are normalised from any human format; a Heymarket phone (E.164 digits) is checked as ``+<digits>``,
except when it equals a valid Salesforce phone of this run, which needs no second look.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_engine.phones import PhoneCache, normalise_phones
from sync_engine.plan.model import PlanSettings
from sync_engine.values import normalise_value

TEXT = pa.large_string()
NAT = np.iinfo(np.int64).min  # pandas' NaT as int64 nanoseconds
SF_COLUMNS = ("object", "sf_id", "modstamp", "phone_raw", "in_scope", "is_deleted")
HM_COLUMNS = ("hm_id", "updated", "rev", "phone")
LINK_COLUMNS = ("object", "sf_id", "hm_id", "phone", "status")
SYNCED_PREFIX = "synced."
LINK_STATUSES = ("active", "sf_deleted", "out_of_scope", "released")


# --------------------------------------------------------------------------------------------- helpers
def text_array(values: pd.Series | Iterable[object]) -> pa.Array:
    """Canonical text as an Arrow array: stripped, blank -> null (the same rule as ``normalise_value``)."""
    try:
        array = pa.array(values, type=TEXT, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array([normalise_value(v) for v in values], type=TEXT)
    if isinstance(array, pa.ChunkedArray):
        chunks = [chunk.cast(TEXT) for chunk in array.chunks]
        array = pa.concat_arrays(chunks) if chunks else pa.array([], type=TEXT)
    if array.type != TEXT:
        array = array.cast(TEXT)
    trimmed = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, TEXT), trimmed)


def take(array: pa.Array, positions: np.ndarray) -> pa.Array:
    """``array[positions]`` with null where the position is -1."""
    missing = positions < 0
    indices = pa.array(np.where(missing, 0, positions), mask=missing, type=pa.int64())
    if len(array) == 0:
        return pa.nulls(len(positions), array.type)
    return array.take(indices)


def take_np(values: np.ndarray, positions: np.ndarray, fill: object) -> np.ndarray:
    """``values[positions]`` with ``fill`` where the position is -1."""
    if len(values) == 0:
        return np.full(len(positions), fill, dtype=values.dtype if fill is not None else object)
    out = values[np.where(positions < 0, 0, positions)]
    if (positions < 0).any():
        out = out.astype(object) if fill is None and out.dtype != object else out.copy()
        out[positions < 0] = fill
    return out


def pick(condition: np.ndarray, when_true: pa.Array, when_false: pa.Array) -> pa.Array:
    """``when_true`` where ``condition`` holds, else ``when_false`` (no copy when one side is all)."""
    if condition.all():
        return when_true
    if not condition.any():
        return when_false
    return pc.if_else(pa.array(condition, type=pa.bool_()), when_true, when_false)


def same(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Null-safe equality: two nulls are the same value."""
    equal = pc.fill_null(pc.equal(a, b), False)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return np.asarray(pc.or_(equal, both_null).to_numpy(zero_copy_only=False), dtype=bool)


NO_PHONE = 0
_E164 = r"^[1-9][0-9]{6,14}$"


def phone_numbers(text: pa.Array) -> np.ndarray:
    """E.164 digit strings (an optional ``+`` is ignored) as int64; :data:`NO_PHONE` where not E.164."""
    digits = pc.utf8_ltrim(text, characters="+")
    valid = pc.fill_null(pc.match_substring_regex(digits, _E164), False)
    numbers = pc.cast(pc.if_else(valid, digits, pa.scalar("0", TEXT)), pa.int64())
    return np.asarray(numbers.fill_null(NO_PHONE).to_numpy(zero_copy_only=False), dtype=np.int64)


def phone_text(numbers: np.ndarray) -> pa.Array:
    """int64 phones back to E.164 digit strings (null for :data:`NO_PHONE`)."""
    array = pa.array(
        np.asarray(numbers, dtype=np.int64), mask=np.asarray(numbers) == NO_PHONE, type=pa.int64()
    )
    return pc.cast(array, TEXT)


def positions_of_ids(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Position of each integer id in ``ids`` (-1 when absent); ``ids`` are unique."""
    if not len(ids) or not len(values):
        return np.full(len(values), -1, dtype=np.int64)
    return np.asarray(pd.Index(ids).get_indexer(values), dtype=np.int64)


def _pandas_text(array: pa.Array) -> pd.Series:
    return (
        pd.Series(array.to_numpy(zero_copy_only=False), dtype=object) if not len(array) else array.to_pandas()
    )


class RecordIndex:
    """(object, sf_id) -> row, hashed on the Id alone when Ids are unique (Salesforce Ids are, across
    objects), on the pair otherwise."""

    def __init__(self, objects: pa.Array, sf_ids: pa.Array, what: str) -> None:
        self.objects = objects
        self.by_id = pd.Index(_pandas_text(sf_ids))
        self.by_pair: pd.MultiIndex | None = None
        if not self.by_id.is_unique:
            self.by_pair = pd.MultiIndex.from_arrays([_pandas_text(objects), _pandas_text(sf_ids)])
            if not self.by_pair.is_unique:
                raise ValueError(
                    f"the {what} frame repeats (object, sf_id); deduplicate it on the record id first"
                )

    def positions(self, objects: pa.Array, sf_ids: pa.Array) -> np.ndarray:
        """Row of each (object, sf_id) in this index, -1 when absent (or when ``sf_id`` is null)."""
        if not len(sf_ids) or not len(self.by_id):
            return np.full(len(sf_ids), -1, dtype=np.int64)
        if sf_ids.null_count:
            known = np.flatnonzero(np.asarray(pc.is_valid(sf_ids).to_numpy(zero_copy_only=False), dtype=bool))
            found = np.full(len(sf_ids), -1, dtype=np.int64)
            index = pa.array(known, type=pa.int64())
            found[known] = self.positions(objects.take(index), sf_ids.take(index))
            return found
        if self.by_pair is not None:
            wanted = pd.MultiIndex.from_arrays([_pandas_text(objects), _pandas_text(sf_ids)])
            return np.asarray(self.by_pair.get_indexer(wanted), dtype=np.int64)
        found = np.asarray(self.by_id.get_indexer(_pandas_text(sf_ids)), dtype=np.int64)
        hit = np.flatnonzero(found >= 0)
        same_object = pc.equal(self.objects.take(pa.array(found[hit])), objects.take(pa.array(hit)))
        found[hit[~np.asarray(same_object.to_numpy(zero_copy_only=False), dtype=bool)]] = -1
        return found


def to_ns(values: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 nanoseconds (NaT -> :data:`NAT`)."""
    stamps = pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")
    return np.asarray(stamps.array.asi8, dtype=np.int64)


def _bool(values: pd.Series) -> np.ndarray:
    return np.asarray(values.astype(object).where(values.notna(), False).astype(bool), dtype=bool)


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the {what} frame lacks columns {missing}; see docs/contracts.md for its shape")


def _values(frame: pd.DataFrame, keys: tuple[str, ...], what: str, prefix: str = "") -> dict[str, pa.Array]:
    """Canonical value columns; a missing column is an error unless the frame is empty or holds memory."""
    out = {}
    for key in keys:
        column = prefix + key
        if column in frame.columns:
            out[key] = text_array(frame[column])
        elif prefix or not len(frame):
            # A link row remembers only the keys mapped when it was written; a new key starts unknown.
            out[key] = pa.nulls(len(frame), TEXT)
        else:
            raise ValueError(
                f"the {what} frame has no column {column!r}, but the plan compares it; extract every "
                "mapped key (None where the record has no value)"
            )
    return out


# --------------------------------------------------------------------------------------------- Salesforce
@dataclass(frozen=True)
class SalesforceRows:
    """Salesforce records (plus, appended at the end, records re-created from link memory)."""

    object: pa.Array
    sf_id: pa.Array
    modstamp: np.ndarray
    in_scope: np.ndarray
    is_deleted: np.ndarray
    phone: np.ndarray  # int64 E.164, NO_PHONE where there is no usable phone
    reason: np.ndarray  # phone_reason per record
    values: dict[str, pa.Array]
    enabled: np.ndarray
    rank: np.ndarray  # 0 Contact, 1 Lead, 2 anything else
    synthetic: np.ndarray
    index: RecordIndex | None = None  # (object, sf_id) -> row, for the records read (not the synthetic ones)

    @property
    def n(self) -> int:
        return len(self.modstamp)

    @property
    def phone_ok(self) -> np.ndarray:
        return self.reason == "ok"

    def valid_phones(self) -> np.ndarray:
        """The usable phones of these records (int64, with repeats)."""
        return self.phone[self.phone_ok]

    def append(self, other: SalesforceRows) -> SalesforceRows:
        if not other.n:
            return self
        return SalesforceRows(
            object=pa.concat_arrays([self.object, other.object]),
            sf_id=pa.concat_arrays([self.sf_id, other.sf_id]),
            modstamp=np.concatenate([self.modstamp, other.modstamp]),
            in_scope=np.concatenate([self.in_scope, other.in_scope]),
            is_deleted=np.concatenate([self.is_deleted, other.is_deleted]),
            phone=np.concatenate([self.phone, other.phone]),
            reason=np.concatenate([self.reason, other.reason]),
            values={k: pa.concat_arrays([v, other.values[k]]) for k, v in self.values.items()},
            enabled=np.concatenate([self.enabled, other.enabled]),
            rank=np.concatenate([self.rank, other.rank]),
            synthetic=np.concatenate([self.synthetic, other.synthetic]),
        )


def read_salesforce(
    frame: pd.DataFrame, settings: PlanSettings, region: str, cache: PhoneCache | None
) -> SalesforceRows:
    _require(frame, SF_COLUMNS, "salesforce")
    objects = text_array(frame["object"])
    sf_ids = text_array(frame["sf_id"])
    if pc.any(pc.is_null(sf_ids)).as_py() or pc.any(pc.is_null(objects)).as_py():
        raise ValueError("the salesforce frame has rows without object or sf_id; every record needs both")
    phones = normalise_phones(frame["phone_raw"].reset_index(drop=True), region, cache)
    reason = phones["phone_reason"].to_numpy(dtype=object)
    return SalesforceRows(
        object=objects,
        sf_id=sf_ids,
        modstamp=to_ns(frame["modstamp"]),
        in_scope=_bool(frame["in_scope"]),
        is_deleted=_bool(frame["is_deleted"]),
        phone=phone_numbers(text_array(phones["phone"])),
        reason=reason,
        values=_values(frame, settings.keys, "salesforce"),
        enabled=_enabled(objects, settings),
        rank=_rank(objects),
        synthetic=np.zeros(len(frame), dtype=bool),
        index=RecordIndex(objects, sf_ids, "salesforce"),
    )


def _rank(names: pa.Array) -> np.ndarray:
    """Duplicate-winner order of the object: Contact 0, Lead 1, anything else 2."""
    rank = pc.index_in(names, value_set=pa.array(["Contact", "Lead"], type=TEXT)).fill_null(2)
    return np.asarray(rank.to_numpy(zero_copy_only=False), dtype=np.int64)


def _enabled(names: pa.Array, settings: PlanSettings) -> np.ndarray:
    enabled = pc.is_in(names, value_set=pa.array(list(settings.enabled()), type=TEXT))
    return np.asarray(enabled.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


# --------------------------------------------------------------------------------------------- Heymarket
@dataclass(frozen=True)
class HeymarketRows:
    hm_id: np.ndarray
    updated: np.ndarray
    rev: pa.Array
    phone: np.ndarray  # int64 E.164, NO_PHONE where the contact's phone is not a valid number
    reason: np.ndarray  # phone reason per contact (sync_engine.phones.REASONS)
    values: dict[str, pa.Array]

    @property
    def n(self) -> int:
        return len(self.hm_id)

    @property
    def phone_ok(self) -> np.ndarray:
        return self.reason == "ok"


def read_heymarket(
    frame: pd.DataFrame,
    settings: PlanSettings,
    region: str,
    cache: PhoneCache | None,
    valid_phones: np.ndarray,
) -> HeymarketRows:
    """The Heymarket frame, its phones checked like Salesforce's.

    :param valid_phones: the usable Salesforce phones of this run (int64): a contact phone equal to one of
        them is valid without a parse. The others are parsed as ``+<digits>`` through the phone cache
        (that text is read the same in every region, so it can share the cache of Salesforce values).
    """
    _require(frame, HM_COLUMNS, "heymarket")
    if frame["hm_id"].isna().any():
        raise ValueError("the heymarket frame has contacts without hm_id; every contact needs its id")
    hm_id = frame["hm_id"].to_numpy(dtype=np.int64)
    if not pd.Index(hm_id).is_unique:
        raise ValueError("the heymarket frame repeats hm_id; deduplicate it (keep the highest rev) first")
    digits = pc.utf8_ltrim(text_array(frame["phone"]), characters="+")
    phone = phone_numbers(digits)
    reason = np.full(len(frame), "ok", dtype=object)
    known = (phone != NO_PHONE) & np.asarray(pd.Series(phone, copy=False).isin(valid_phones), dtype=bool)
    todo = np.flatnonzero(~known)
    if len(todo):
        texts = digits.take(pa.array(todo, type=pa.int64()))
        plus = pc.binary_join_element_wise(pa.scalar("+", TEXT), texts, pa.scalar("", TEXT))
        checked = normalise_phones(_pandas_text(plus), region, cache)
        ok = (checked["phone_reason"] == "ok").to_numpy()
        phone = phone.copy()
        phone[todo] = np.where(ok, phone_numbers(text_array(checked["phone"])), NO_PHONE)
        reason[todo] = checked["phone_reason"].to_numpy(dtype=object)
    return HeymarketRows(
        hm_id=hm_id,
        updated=to_ns(frame["updated"]),
        rev=pa.array(frame["rev"].astype("Int64"), type=pa.int64(), from_pandas=True),
        phone=phone,
        reason=reason,
        values=_values(frame, settings.keys, "heymarket"),
    )


# --------------------------------------------------------------------------------------------- links
@dataclass(frozen=True)
class LinkRows:
    object: pa.Array
    sf_id: pa.Array  # null for released links (no record)
    hm_id: np.ndarray
    phone: np.ndarray  # int64 E.164 (NO_PHONE if the memory holds none)
    status: np.ndarray
    synced: dict[str, pa.Array]
    sf_modstamp: np.ndarray
    hm_rev: pa.Array
    enabled: np.ndarray

    @property
    def n(self) -> int:
        return len(self.hm_id)


def read_links(frame: pd.DataFrame, settings: PlanSettings) -> LinkRows:
    _require(frame, LINK_COLUMNS, "links")
    status = frame["status"].astype(object).to_numpy()
    unknown = set(pd.unique(status).tolist()) - set(LINK_STATUSES)
    if unknown:
        raise ValueError(
            f"the links frame has unknown status values {sorted(map(str, unknown))}; "
            f"allowed: {', '.join(LINK_STATUSES)}"
        )
    released = pa.array(status == "released", type=pa.bool_())
    objects = text_array(frame["object"])
    # A released link is the memory of a contact alone: whatever Id it carries belongs to no pair.
    sf_ids = pc.if_else(released, pa.scalar(None, TEXT), text_array(frame["sf_id"]))
    if pc.any(pc.and_(pc.invert(released), pc.is_null(sf_ids))).as_py():
        raise ValueError("the links frame has rows without sf_id that are not released; a pair needs its record")
    paired = pc.invert(released)
    RecordIndex(objects.filter(paired), sf_ids.filter(paired), "links")  # refuses repeated records
    if frame["hm_id"].isna().any():
        raise ValueError("the links frame has rows without hm_id; a link always pairs two ids")
    hm_id = frame["hm_id"].to_numpy(dtype=np.int64)
    if not pd.Index(hm_id).is_unique:
        raise ValueError("the links frame repeats hm_id; a Heymarket contact can be paired only once")
    n = len(frame)
    return LinkRows(
        object=objects,
        sf_id=sf_ids,
        hm_id=hm_id,
        phone=phone_numbers(text_array(frame["phone"])),
        status=status,
        synced=_values(frame, settings.keys, "links", prefix=SYNCED_PREFIX),
        sf_modstamp=to_ns(frame["sf_modstamp"]) if "sf_modstamp" in frame.columns else np.full(n, NAT),
        hm_rev=pa.array(frame["hm_rev"].astype("Int64"), type=pa.int64(), from_pandas=True)
        if "hm_rev" in frame.columns
        else pa.nulls(n, pa.int64()),
        enabled=_enabled(objects, settings),
    )


def synthetic_salesforce(links: LinkRows, rows: np.ndarray) -> SalesforceRows:
    """Records absent from an incremental Salesforce frame, rebuilt from their link memory.

    An absent record is unchanged since the last sync, so its values and its phone are the remembered
    ones: it still holds that phone against a new record (and is created again in Heymarket when its
    contact was deleted there).
    """
    index = pa.array(rows, type=pa.int64())
    objects = links.object.take(index)
    phone = links.phone[rows]
    ok = phone != NO_PHONE
    return SalesforceRows(
        object=objects,
        sf_id=links.sf_id.take(index),
        modstamp=links.sf_modstamp[rows],
        in_scope=np.ones(len(rows), dtype=bool),
        is_deleted=np.zeros(len(rows), dtype=bool),
        phone=phone,
        reason=np.where(ok, "ok", "empty").astype(object),
        values={k: v.take(index) for k, v in links.synced.items()},
        enabled=np.ones(len(rows), dtype=bool),
        rank=_rank(objects),
        synthetic=np.ones(len(rows), dtype=bool),
    )


__all__ = [
    "HeymarketRows",
    "LinkRows",
    "SalesforceRows",
    "read_heymarket",
    "read_links",
    "read_salesforce",
    "synthetic_salesforce",
]
