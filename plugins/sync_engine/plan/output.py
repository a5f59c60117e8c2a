"""Turning the planner's decisions into the plan's frames (one schema for every action, docs/contracts.md).

The rules decide on arrays of positions; the functions here materialise only the rows a plan holds, with
text as object columns (``str``/``None``), ids as Int64 and times as UTC nanoseconds. :func:`build_plan`
orders them so that the plan does not depend on the order of the input rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_engine.plan.fields import Reconciled
from sync_engine.plan.inputs import (
    NAT,
    HeymarketRows,
    LinkRows,
    SalesforceRows,
    phone_text,
    pick,
    take,
    take_np,
)
from sync_engine.plan.model import ACTIONS, AGREED_PREFIX, REPORT_COLUMNS, Plan, action_columns, empty_report
from sync_engine.vocabulary import OPT_OUT_KEY

if TYPE_CHECKING:
    from sync_engine.plan.model import PlanSettings
    from sync_engine.plan.rules import Pairs

Frame: TypeAlias = "pd.DataFrame | None"


def changed_lists(
    keys: tuple[str, ...], per_key: dict[str, np.ndarray], phone: np.ndarray | None, rows: np.ndarray
) -> np.ndarray:
    """Comma-joined changed keys for the rows under ``rows`` (phone first, then keys in settings order)."""
    at = np.flatnonzero(rows)
    out = np.full(len(at), "", dtype=object)
    names = ([("phone", phone)] if phone is not None else []) + [(k, per_key[k]) for k in keys]
    for name, mask in names:
        hit = mask[at]
        out = np.where(hit, np.where(out == "", name, out + "," + name), out)
    return out


def build_plan(
    keys: tuple[str, ...], actions: Mapping[str, Sequence[Frame]], reports: Sequence[Frame], noop: dict[str, int]
) -> Plan:
    """The :class:`Plan` from the rows of every action and of the report, in a fixed order."""
    frames: dict[str, pd.DataFrame] = {}
    for action in ACTIONS:
        parts = [f for f in actions.get(action, ()) if f is not None]
        if parts:
            frames[action] = _sorted(pd.concat(parts, ignore_index=True), ["object", "sf_id", "hm_id", "reason"])
    report = empty_report()
    found = [f for f in reports if f is not None]
    if found:
        report = _sorted(pd.concat(found, ignore_index=True), ["kind", "object", "sf_id", "hm_id", "detail"])
    return Plan(actions=frames, report=report, keys=keys, noop=noop)


# --------------------------------------------------------------------------------------------- action rows
def _frame(keys: tuple[str, ...], action: str, n: int, columns: dict[str, object]) -> Frame:
    if not n:
        return None
    data = {column: _column(columns.get(column), n, column) for column in action_columns(keys)}
    data["action"] = _column(action, n, "action")
    return pd.DataFrame(data)


def link_rows(
    keys: tuple[str, ...], action: str, reason: str, links: LinkRows, at: np.ndarray, modstamp: np.ndarray
) -> Frame:
    """``unlink`` / ``delete_heymarket`` rows of links: the remembered values, the remembered phone.

    :param at: link positions
    :param modstamp: per link, the record's ``SystemModstamp`` (int64 ns), the remembered one if not read
    """
    if not len(at):
        return None
    index = pa.array(at, type=pa.int64())
    columns: dict[str, object] = {
        "object": links.object.take(index),
        "sf_id": links.sf_id.take(index),
        "hm_id": links.hm_id[at],
        "phone": phone_text(links.phone[at]),
        "reason": reason,
        "changed": "",
        "sf_modstamp": _times(modstamp[at]),
        "hm_rev": links.hm_rev.take(index),
    }
    columns.update({k: links.synced[k].take(index) for k in keys})
    return _frame(keys, action, len(at), columns)


def create_heymarket_rows(
    settings: PlanSettings, records: SalesforceRows, rows: np.ndarray, recreated: np.ndarray
) -> Frame:
    """New contacts from records (``recreate`` where the record's contact was deleted in Heymarket)."""
    if not len(rows):
        return None
    keys = settings.keys
    index = pa.array(rows, type=pa.int64())
    values = {k: records.values[k].take(index) for k in keys}
    sendable = {
        k: np.asarray(pc.is_valid(v).to_numpy(zero_copy_only=False), dtype=bool)
        & (settings.direction(k) != "to_salesforce")
        for k, v in values.items()
    }
    every = np.ones(len(rows), dtype=bool)
    columns: dict[str, object] = {
        "object": records.object.take(index),
        "sf_id": records.sf_id.take(index),
        "hm_id": pa.nulls(len(rows), pa.int64()),
        "phone": phone_text(records.phone[rows]),
        "reason": np.where(recreated[rows], "recreate", "no_match"),
        "changed": changed_lists(keys, sendable, every, every),
        "sf_modstamp": _times(records.modstamp[rows]),
        "hm_rev": pa.nulls(len(rows), pa.int64()),
        **values,
    }
    return _frame(keys, "create_heymarket", len(rows), columns)


def create_salesforce_rows(settings: PlanSettings, hm: HeymarketRows, rows: np.ndarray, target: str) -> Frame:
    """Auto-created records from Heymarket contacts nobody knows."""
    if not len(rows):
        return None
    keys = settings.keys
    index = pa.array(rows, type=pa.int64())
    values = {k: hm.values[k].take(index) for k in keys}
    if OPT_OUT_KEY in values and target in settings.opt_out_off:
        values[OPT_OUT_KEY] = pa.nulls(len(rows), values[OPT_OUT_KEY].type)  # that object has no opt-out box
    sendable = {
        k: np.asarray(pc.is_valid(v).to_numpy(zero_copy_only=False), dtype=bool)
        & (settings.direction(k) != "to_heymarket")
        for k, v in values.items()
    }
    every = np.ones(len(rows), dtype=bool)
    columns: dict[str, object] = {
        "object": target,
        "sf_id": None,
        "hm_id": hm.hm_id[rows],
        "phone": phone_text(hm.phone[rows]),
        "reason": "auto_create",
        "changed": changed_lists(keys, sendable, every, every),
        "sf_modstamp": _times(np.full(len(rows), NAT)),
        "hm_rev": hm.rev.take(index),
        **values,
    }
    return _frame(keys, "create_salesforce", len(rows), columns)


@dataclass(frozen=True)
class PairView:
    """The reconciled pairs with what their rows are built from; ids are resolved per emitted subset."""

    records: SalesforceRows
    hm: HeymarketRows
    links: LinkRows
    pairs: Pairs
    result: Reconciled

    def objects(self, at: np.ndarray) -> pa.Array:
        return self.records.object.take(pa.array(self.pairs.sf[at], type=pa.int64()))

    def sf_ids(self, at: np.ndarray) -> pa.Array:
        return self.records.sf_id.take(pa.array(self.pairs.sf[at], type=pa.int64()))

    def hm_ids(self, at: np.ndarray) -> np.ndarray:
        """The contact's id: from the Heymarket frame, or (contact not read) from the link remembering it."""
        hm_row, base = self.pairs.hm[at], self.pairs.base[at]
        return np.where(hm_row >= 0, take_np(self.hm.hm_id, hm_row, -1), take_np(self.links.hm_id, base, -1))

    def hm_revs(self, at: np.ndarray) -> pa.Array:
        hm_row, base = self.pairs.hm[at], self.pairs.base[at]
        return pick(hm_row >= 0, take(self.hm.rev, hm_row), take(self.links.hm_rev, base))

    def sf_times(self, at: np.ndarray) -> np.ndarray:
        return self.records.modstamp[self.pairs.sf[at]]


def pair_rows(
    keys: tuple[str, ...],
    action: str,
    view: PairView,
    mask: np.ndarray,
    reasons: np.ndarray | None = None,
    phone: str = "final",
    changed: np.ndarray | None = None,
    with_agreed: bool = False,
) -> Frame:
    """Rows of reconciled pairs; ``phone``: which phone the row carries (``final`` or ``agreed``)."""
    at = np.flatnonzero(mask)
    if not len(at):
        return None
    result = view.result
    columns: dict[str, object] = {
        "object": view.objects(at),
        "sf_id": view.sf_ids(at),
        "hm_id": view.hm_ids(at),
        "phone": result.phone_final(at) if phone == "final" else result.phone_agreed(at),
        "reason": reasons[at] if reasons is not None else "",
        "changed": changed if changed is not None else "",
        "sf_modstamp": _times(view.sf_times(at)),
        "hm_rev": view.hm_revs(at),
    }
    columns.update({k: result.final(k, at) for k in keys})
    if with_agreed:
        columns.update({AGREED_PREFIX + k: result.agreed(k, at) for k in keys})
    return _frame(keys, action, len(at), columns)


def duplicate_consent_rows(keys: tuple[str, ...], view: PairView, losers: np.ndarray, at: np.ndarray) -> Frame:
    """``update_salesforce`` rows (reason ``duplicate``) that give losing records the opt-out state of the pair
    that won their phone (:func:`sync_engine.plan.consent.duplicates_to_follow`): the opt-out alone is written,
    and the pair's contact is named (``hm_id``) without the loser joining the pair (the applier links nothing).

    :param losers: record rows of the losing records to write
    :param at: per loser, the winner's pair (position in ``view.pairs``)
    """
    if not len(losers):
        return None
    records, index = view.records, pa.array(losers, type=pa.int64())
    columns: dict[str, object] = {
        "object": records.object.take(index),
        "sf_id": records.sf_id.take(index),
        "hm_id": view.hm_ids(at),
        "phone": phone_text(records.phone[losers]),
        "reason": "duplicate",
        "changed": OPT_OUT_KEY,
        "sf_modstamp": _times(records.modstamp[losers]),
        "hm_rev": view.hm_revs(at),
    }
    columns.update({k: records.values[k].take(index) for k in keys if k != OPT_OUT_KEY})
    columns[OPT_OUT_KEY] = view.result.final(OPT_OUT_KEY, at)
    return _frame(keys, "update_salesforce", len(losers), columns)


def created_consent_rows(keys: tuple[str, ...], records: SalesforceRows, rows: np.ndarray) -> Frame:
    """``update_salesforce`` rows (reason ``created_opted_out``) that tick the box of records at the phone of a
    contact this run creates opted out: the create's winner and its duplicates (consent rules 4 and 5). No
    ``hm_id`` (the contact does not exist yet) and no link: the create links the winner, the others join no pair.

    :param rows: record rows whose box to tick
    """
    if not len(rows):
        return None
    index = pa.array(rows, type=pa.int64())
    columns: dict[str, object] = {
        "object": records.object.take(index),
        "sf_id": records.sf_id.take(index),
        "hm_id": pa.nulls(len(rows), pa.int64()),
        "phone": phone_text(records.phone[rows]),
        "reason": "created_opted_out",
        "changed": OPT_OUT_KEY,
        "sf_modstamp": _times(records.modstamp[rows]),
        "hm_rev": pa.nulls(len(rows), pa.int64()),
    }
    columns.update({k: records.values[k].take(index) for k in keys if k != OPT_OUT_KEY})
    columns[OPT_OUT_KEY] = "true"
    return _frame(keys, "update_salesforce", len(rows), columns)


def contact_consent_rows(keys: tuple[str, ...], view: PairView, contacts: np.ndarray, at: np.ndarray) -> Frame:
    """``update_heymarket`` rows (reason ``duplicate``) that opt out contacts no link holds at the phone of an
    opted-out pair (consent rule 5 on Heymarket's side). The row names the pair's record and carries the
    contact's own values, so the write changes its opt-out alone; the contact joins no pair.

    :param contacts: Heymarket rows of the contacts to opt out
    :param at: per contact, the pair at its phone (position in ``view.pairs``)
    """
    if not len(contacts):
        return None
    hm, index = view.hm, pa.array(contacts, type=pa.int64())
    columns: dict[str, object] = {
        "object": view.objects(at),
        "sf_id": view.sf_ids(at),
        "hm_id": hm.hm_id[contacts],
        "phone": phone_text(hm.phone[contacts]),
        "reason": "duplicate",
        "changed": OPT_OUT_KEY,
        "sf_modstamp": _times(view.sf_times(at)),
        "hm_rev": hm.rev.take(index),
    }
    columns.update({k: hm.values[k].take(index) for k in keys if k != OPT_OUT_KEY})
    columns[OPT_OUT_KEY] = "true"
    return _frame(keys, "update_heymarket", len(contacts), columns)


# --------------------------------------------------------------------------------------------- report rows
def _report(kind: str, n: int, columns: dict[str, object]) -> Frame:
    if not n:
        return None
    data = {column: _column(columns.get(column), n, column) for column in REPORT_COLUMNS}
    data["kind"] = _column(kind, n, "kind")
    return pd.DataFrame(data)


def record_report(
    kind: str,
    records: SalesforceRows,
    rows: np.ndarray,
    details: Sequence[str],
    hm_id: object = None,
    winner_sf_id: object = None,
) -> Frame:
    """Findings about Salesforce records (``hm_id``: the contact the finding names, if any)."""
    index = pa.array(rows, type=pa.int64())
    return _report(
        kind,
        len(rows),
        {
            "object": records.object.take(index),
            "sf_id": records.sf_id.take(index),
            "hm_id": hm_id,
            "phone": phone_text(records.phone[rows]),
            "detail": list(details),
            "winner_sf_id": winner_sf_id,
        },
    )


def link_report(kind: str, links: LinkRows, at: np.ndarray, phone: np.ndarray, details: Sequence[str]) -> Frame:
    """Findings about link rows (``phone``: int64 per row)."""
    index = pa.array(at, type=pa.int64())
    return _report(
        kind,
        len(at),
        {
            "object": links.object.take(index),
            "sf_id": links.sf_id.take(index),
            "hm_id": links.hm_id[at],
            "phone": phone_text(phone),
            "detail": list(details),
        },
    )


def contact_report(kind: str, hm: HeymarketRows, rows: np.ndarray, details: Sequence[str]) -> Frame:
    """Findings about Heymarket contacts alone (no object)."""
    return _report(
        kind,
        len(rows),
        {"hm_id": hm.hm_id[rows], "phone": phone_text(hm.phone[rows]), "detail": list(details)},
    )


def pair_report(kind: str, view: PairView, rows: np.ndarray, details: Sequence[str]) -> Frame:
    return _report(
        kind,
        len(rows),
        {
            "object": view.objects(rows),
            "sf_id": view.sf_ids(rows),
            "hm_id": view.hm_ids(rows),
            "phone": view.result.phone_final(rows),
            "detail": list(details),
        },
    )


# --------------------------------------------------------------------------------------------- helpers
def _sorted(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows in a fixed order (nulls last), so that the plan does not depend on the input row order."""
    if len(frame) < 2:
        return frame.reset_index(drop=True)
    return frame.sort_values(columns, kind="stable", na_position="last", ignore_index=True)


def _times(ns: np.ndarray) -> pd.Series:
    return pd.Series(
        pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC")
    )


_INT_COLUMNS = ("hm_id", "hm_rev")


def _column(value: object, n: int, name: str) -> pd.Series:
    """One output column of ``n`` rows in the plan's dtypes (text: object str/None; ids: Int64)."""
    if name in _INT_COLUMNS:
        if value is None:
            return pd.Series(pd.array([None] * n, dtype="Int64"))
        if isinstance(value, pa.Array):
            return pd.Series(value.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)).astype("Int64")
        array = np.asarray(value)
        if array.dtype == object:
            return pd.Series(pd.array([None if v is None else int(v) for v in array], dtype="Int64"))
        return pd.Series(pd.array(array.astype(np.int64), dtype="Int64"))
    if isinstance(value, pd.Series):
        return value.reset_index(drop=True)
    if value is None or isinstance(value, str):
        return pd.Series(np.full(n, value, dtype=object), dtype=object)
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return pd.Series(value.to_numpy(zero_copy_only=False), dtype=object)
    array = np.asarray(value, dtype=object)
    return pd.Series(array, dtype=object)
