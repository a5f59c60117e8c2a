"""Turning the planner's decisions into the plan's frames (one schema for every action, docs/contracts.md).

The planner decides on arrays of positions; this module materialises only the rows a plan holds, with
text as object columns (``str``/``None``), ids as Int64 and times as UTC nanoseconds, and orders them
so that the plan does not depend on the order of the input rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_engine.plan.fields import Reconciled
from sync_engine.plan.inputs import (
    NAT,
    NO_PHONE,
    HeymarketRows,
    LinkRows,
    SalesforceRows,
    phone_text,
    pick,
    take,
    take_np,
)
from sync_engine.plan.model import ACTIONS, AGREED_PREFIX, REPORT_COLUMNS, Plan, action_columns, empty_report

if TYPE_CHECKING:
    from sync_engine.plan.model import PlanSettings


class PlannerView(Protocol):
    """What the output needs to read from a planning run."""

    settings: PlanSettings
    sf: SalesforceRows
    hm: HeymarketRows
    lk: LinkRows
    lk_sf: np.ndarray  # link -> Salesforce row (-1)
    own_link: np.ndarray  # Salesforce row -> its usable link (-1)
    record_link: np.ndarray  # Salesforce row -> any kept link (-1), for reports
    recreated: np.ndarray  # Salesforce row whose contact was deleted in Heymarket


class PairRows(Protocol):
    """Positions of reconciled pairs: Salesforce row, Heymarket row, link (-1: none)."""

    sf: np.ndarray
    hm: np.ndarray
    link: np.ndarray


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


@dataclass
class PairContext:
    """The reconciled pairs with their ids, resolved once for all the rows built from them."""

    planner: PlannerView
    pairs: PairRows
    sf_time: np.ndarray
    result: Reconciled

    @functools.cached_property
    def objects(self) -> pa.Array:
        sf, lk, p = self.planner.sf, self.planner.lk, self.pairs
        return pick(p.sf >= 0, take(sf.object, p.sf), take(lk.object, p.link))

    @functools.cached_property
    def sf_ids(self) -> pa.Array:
        sf, lk, p = self.planner.sf, self.planner.lk, self.pairs
        return pick(p.sf >= 0, take(sf.sf_id, p.sf), take(lk.sf_id, p.link))

    @functools.cached_property
    def hm_ids(self) -> np.ndarray:
        hm, lk, p = self.planner.hm, self.planner.lk, self.pairs
        return np.where(p.hm >= 0, take_np(hm.hm_id, p.hm, -1), take_np(lk.hm_id, p.link, -1)).astype(
            np.int64
        )

    @functools.cached_property
    def hm_revs(self) -> pa.Array:
        hm, lk, p = self.planner.hm, self.planner.lk, self.pairs
        return pick(p.hm >= 0, take(hm.rev, p.hm), take(lk.hm_rev, p.link))


class PlanOutput:
    """Collects the rows of every action and of the report, then builds the :class:`Plan`."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.parts: dict[str, list[pd.DataFrame]] = {a: [] for a in ACTIONS}
        self.report: list[pd.DataFrame] = []

    def build(self, noop: dict[str, int]) -> Plan:
        actions = {}
        for action, parts in self.parts.items():
            if parts:
                actions[action] = _sorted(
                    pd.concat(parts, ignore_index=True), ["object", "sf_id", "hm_id", "reason"]
                )
        report = empty_report()
        if self.report:
            report = _sorted(
                pd.concat(self.report, ignore_index=True), ["kind", "object", "sf_id", "hm_id", "detail"]
            )
        return Plan(actions=actions, report=report, keys=self.keys, noop=noop)

    # ------------------------------------------------------------------ action rows
    def _frame(self, action: str, n: int, columns: dict[str, object]) -> None:
        if not n:
            return
        data = {column: _column(columns.get(column), n, column) for column in action_columns(self.keys)}
        data["action"] = _column(action, n, "action")
        self.parts[action].append(pd.DataFrame(data))

    def link_rows(self, planner: PlannerView, action: str, mask: np.ndarray, reason: str) -> None:
        """unlink / delete_heymarket rows of links: the remembered values, the remembered phone."""
        lk, sf = planner.lk, planner.sf
        at = np.flatnonzero(mask)
        if not len(at):
            return
        index = pa.array(at)
        sf_pos = planner.lk_sf[at]
        modstamp = np.where(sf_pos >= 0, take_np(sf.modstamp, sf_pos, NAT), lk.sf_modstamp[at])
        columns: dict[str, object] = {
            "object": lk.object.take(index),
            "sf_id": lk.sf_id.take(index),
            "hm_id": lk.hm_id[at],
            "phone": phone_text(lk.phone[at]),
            "reason": reason,
            "changed": "",
            "sf_modstamp": _times(modstamp),
            "hm_rev": lk.hm_rev.take(index),
        }
        columns.update({k: lk.synced[k].take(index) for k in self.keys})
        self._frame(action, len(at), columns)

    def create_heymarket(self, planner: PlannerView, rows: np.ndarray) -> None:
        sf, settings = planner.sf, planner.settings
        if not len(rows):
            return
        index = pa.array(rows)
        values = {k: sf.values[k].take(index) for k in self.keys}
        sendable = {
            k: np.asarray(pc.is_valid(v).to_numpy(zero_copy_only=False), dtype=bool)
            & (settings.direction(k) != "to_salesforce")
            for k, v in values.items()
        }
        changed = changed_lists(
            self.keys, sendable, np.ones(len(rows), dtype=bool), np.ones(len(rows), dtype=bool)
        )
        columns: dict[str, object] = {
            "object": sf.object.take(index),
            "sf_id": sf.sf_id.take(index),
            "hm_id": pa.nulls(len(rows), pa.int64()),
            "phone": phone_text(sf.phone[rows]),
            "reason": np.where(planner.recreated[rows], "recreate", "no_match"),
            "changed": changed,
            "sf_modstamp": _times(sf.modstamp[rows]),
            "hm_rev": pa.nulls(len(rows), pa.int64()),
            **values,
        }
        self._frame("create_heymarket", len(rows), columns)

    def create_salesforce(self, planner: PlannerView, rows: np.ndarray, target: str) -> None:
        hm, settings = planner.hm, planner.settings
        if not len(rows):
            return
        index = pa.array(rows)
        values = {k: hm.values[k].take(index) for k in self.keys}
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
            "changed": changed_lists(self.keys, sendable, every, every),
            "sf_modstamp": _times(np.full(len(rows), NAT)),
            "hm_rev": hm.rev.take(index),
            **values,
        }
        self._frame("create_salesforce", len(rows), columns)

    def pair_rows(
        self,
        action: str,
        context: PairContext,
        mask: np.ndarray,
        reasons: np.ndarray | None = None,
        phone: str = "final",
        changed: np.ndarray | None = None,
        with_agreed: bool = False,
    ) -> None:
        """Rows of reconciled pairs; ``phone``: which phone the row carries (``final`` or ``agreed``)."""
        at = np.flatnonzero(mask)
        if not len(at):
            return
        index = pa.array(at)
        result = context.result
        columns: dict[str, object] = {
            "object": context.objects.take(index),
            "sf_id": context.sf_ids.take(index),
            "hm_id": context.hm_ids[at],
            "phone": result.phone_final(at) if phone == "final" else result.phone_agreed(at),
            "reason": reasons[at] if reasons is not None else "",
            "changed": changed if changed is not None else "",
            "sf_modstamp": _times(context.sf_time[at]),
            "hm_rev": context.hm_revs.take(index),
        }
        columns.update({k: result.final(k, at) for k in self.keys})
        if with_agreed:
            columns.update({AGREED_PREFIX + k: result.agreed(k, at) for k in self.keys})
        self._frame(action, len(at), columns)

    # ------------------------------------------------------------------ report rows
    def _report(self, kind: str, n: int, columns: dict[str, object]) -> None:
        if not n:
            return
        data = {column: _column(columns.get(column), n, column) for column in REPORT_COLUMNS}
        data["kind"] = _column(kind, n, "kind")
        self.report.append(pd.DataFrame(data))

    def report_from_sf(
        self,
        planner: PlannerView,
        kind: str,
        rows: np.ndarray,
        details: list[str],
        winner_sf_id: object = None,
        hm_id: object = None,
    ) -> None:
        sf = planner.sf
        index = pa.array(rows, type=pa.int64())
        if hm_id is None:
            hm_id = take_np(planner.lk.hm_id, planner.record_link[rows], None)
        self._report(
            kind,
            len(rows),
            {
                "object": sf.object.take(index),
                "sf_id": sf.sf_id.take(index),
                "hm_id": hm_id,
                "phone": phone_text(sf.phone[rows]),
                "detail": details,
                "winner_sf_id": winner_sf_id,
            },
        )

    def report_from_links(
        self, planner: PlannerView, kind: str, links: np.ndarray, details: list[str]
    ) -> None:
        lk = planner.lk
        index = pa.array(links, type=pa.int64())
        sf_pos = planner.lk_sf[links]
        phone = np.where(sf_pos >= 0, take_np(planner.sf.phone, sf_pos, NO_PHONE), NO_PHONE)
        phone = np.where(phone == NO_PHONE, lk.phone[links], phone)
        self._report(
            kind,
            len(links),
            {
                "object": lk.object.take(index),
                "sf_id": lk.sf_id.take(index),
                "hm_id": lk.hm_id[links],
                "phone": phone_text(phone),
                "detail": details,
            },
        )

    def report_from_hm(self, planner: PlannerView, kind: str, rows: np.ndarray, details: list[str]) -> None:
        hm = planner.hm
        self._report(
            kind,
            len(rows),
            {"hm_id": hm.hm_id[rows], "phone": phone_text(hm.phone[rows]), "detail": details},
        )

    def report_from_pairs(
        self, context: PairContext, kind: str, rows: np.ndarray, details: list[str]
    ) -> None:
        index = pa.array(rows)
        self._report(
            kind,
            len(rows),
            {
                "object": context.objects.take(index),
                "sf_id": context.sf_ids.take(index),
                "hm_id": context.hm_ids[rows],
                "phone": context.result.phone_final(rows),
                "detail": details,
            },
        )


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
