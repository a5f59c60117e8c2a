"""The planner's inputs besides the frames (settings) and its output (:class:`Plan`).

The settings are deliberately not the YAML config model: the planner only needs a handful of decisions
per run, and keeping them in a small frozen dataclass lets the plan be tested without any config file.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd

from sync_engine.vocabulary import (
    ACTION_TARGET,
    ACTIONS,
    CONSENT_COUNTS,
    HEYMARKET_ONLY,
    OPT_OUT_KEY,
    REPORT_KINDS,
    AutoCreate,
    ConflictPolicy,
    ExtractMode,
    FieldDirection,
    ObjectName,
    ObjectScope,
)

#: Columns every action frame starts with; the canonical keys follow, then ``agreed.<key>``.
ACTION_BASE_COLUMNS = (
    "action",
    "object",
    "sf_id",
    "hm_id",
    "phone",
    "reason",
    "changed",
    "sf_modstamp",
    "hm_rev",
)
REPORT_COLUMNS = ("kind", "object", "sf_id", "hm_id", "phone", "detail", "winner_sf_id")
AGREED_PREFIX = "agreed."
#: counts() bucket for rows that belong to no Salesforce object (Heymarket-only findings).
NO_OBJECT = HEYMARKET_ONLY

_INT_COLUMNS = ("hm_id", "hm_rev")
_TIME_COLUMNS = ("sf_modstamp",)
_META_FILE = "plan.json"


def _check_literal(value: object, kind: object, what: str) -> None:
    allowed = get_args(kind)
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, allowed))}, not {value!r}")


@dataclass(frozen=True)
class ObjectSettings:
    """What the planner needs to know about one Salesforce object.

    :param name: ``Contact`` or ``Lead``
    :param enabled: a disabled object is ignored entirely: no actions, its links untouched
    :param scope: ``all`` (a full extract of it is every record), ``list_view`` (records leave the scope
        when they leave the view: unlinked, never deleted) or ``record_ids`` (a few records: nothing absent
        is treated as gone)
    :param delete_in_heymarket: delete the Heymarket contact of a deleted record (else only unlink)
    """

    name: ObjectName
    enabled: bool = True
    scope: ObjectScope = "all"
    delete_in_heymarket: bool = False

    def __post_init__(self) -> None:
        _check_literal(self.name, ObjectName, "ObjectSettings.name")
        _check_literal(self.scope, ObjectScope, f"{self.name} scope")


@dataclass(frozen=True)
class PlanSettings:
    """The decisions of one planning run (the lead maps the YAML config and the run's params to this).

    :param objects: object name -> its settings; objects not listed are treated as disabled
    :param auto_create: what an unknown Heymarket contact becomes in Salesforce (``none``: only reported)
    :param conflict_policy: default when both sides changed one field differently
    :param field_policies: canonical key -> policy, overriding ``conflict_policy`` for that key
    :param field_directions: canonical key -> ``both`` (default), ``to_heymarket`` (Salesforce owns it; a
        Heymarket edit is ignored) or ``to_salesforce`` (Heymarket owns it)
    :param keys: canonical keys compared, e.g. ``("first", "last", "email", "custom.Customer Tier")``;
        ``phone`` is the match key and always handled (Salesforce -> Heymarket only)
    :param sf_mode: ``full``: the Salesforce frame holds every in-scope record, so an absent linked record
        is gone; ``incremental``: only changed records, absent means unchanged
    :param hm_mode: the same for the Heymarket frame (``full`` detects deleted contacts)
    :param opt_out_off: objects whose opt-out is not synced although ``opt_out`` is among the keys (another
        object of the run maps it): their pairs' opt-out is left alone
    """

    objects: Mapping[str, ObjectSettings]
    auto_create: AutoCreate = "none"
    conflict_policy: ConflictPolicy = "salesforce_wins"
    field_policies: Mapping[str, ConflictPolicy] = field(default_factory=dict)
    field_directions: Mapping[str, FieldDirection] = field(default_factory=dict)
    keys: tuple[str, ...] = ("first", "last", "email")
    sf_mode: ExtractMode = "incremental"
    hm_mode: ExtractMode = "incremental"
    opt_out_off: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "opt_out_off", frozenset(self.opt_out_off))
        _check_literal(self.auto_create, AutoCreate, "auto_create")
        _check_literal(self.conflict_policy, ConflictPolicy, "conflict_policy")
        _check_literal(self.sf_mode, ExtractMode, "sf_mode")
        _check_literal(self.hm_mode, ExtractMode, "hm_mode")
        for name, settings in self.objects.items():
            if name != settings.name:
                raise ValueError(
                    f"objects[{name!r}] holds the settings of {settings.name!r}; key them by name"
                )
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("keys lists a canonical key twice; list each once")
        for key in self.keys:
            if key == "phone":
                raise ValueError("'phone' is the match key and always synced; remove it from keys")
            if not key or "," in key or key != key.strip():
                raise ValueError(
                    f"canonical key {key!r} can't be used: keys are joined with ',' in the plan's 'changed' "
                    "column, so a key must be non-empty, without commas and without surrounding spaces "
                    "(rename the Heymarket custom field)"
                )
        for what, mapping, kind in (
            ("field_policies", self.field_policies, ConflictPolicy),
            ("field_directions", self.field_directions, FieldDirection),
        ):
            for key, value in mapping.items():
                if key not in self.keys:
                    raise ValueError(
                        f"{what} names {key!r}, which is not one of the compared keys {self.keys}"
                    )
                _check_literal(value, kind, f"{what}[{key!r}]")

    def policy(self, key: str) -> ConflictPolicy:
        return self.field_policies.get(key, self.conflict_policy)

    def direction(self, key: str) -> FieldDirection:
        return self.field_directions.get(key, "both")

    def enabled(self) -> tuple[str, ...]:
        """Enabled object names, Contact first (the duplicate winner order)."""
        names = [n for n, s in self.objects.items() if s.enabled]
        return tuple(sorted(names, key=lambda n: (n != "Contact", n)))

    def absent_means(self, name: str) -> Literal["deleted", "out_of_scope", "unchanged"]:
        """What a linked record missing from the Salesforce frame means for this object.

        Only a full extract of the whole object proves a deletion. A full list-view extract proves only
        that the record is no longer in the view (it may be deleted, or edited out of it): unlink, never
        delete. Incremental and record-id runs hold only some records: absent is unchanged.
        """
        scope = self.objects[name].scope
        if self.sf_mode == "full" and scope == "all":
            return "deleted"
        if self.sf_mode == "full" and scope == "list_view":
            return "out_of_scope"
        return "unchanged"

    def heymarket_full(self) -> bool:
        """Whether an absent linked Heymarket contact means deleted.

        A run that has any enabled object in ``record_ids`` scope reads only the few contacts of those
        records, so it is treated as incremental on the Heymarket side whatever ``hm_mode`` says.
        """
        record_ids = any(self.objects[n].scope == "record_ids" for n in self.enabled())
        return self.hm_mode == "full" and not record_ids


# ------------------------------------------------------------------------------------------------ the plan
def action_columns(keys: tuple[str, ...]) -> list[str]:
    return [*ACTION_BASE_COLUMNS, *keys, *(AGREED_PREFIX + k for k in keys)]


def _dtype(column: str) -> object:
    if column in _INT_COLUMNS:
        return pd.Int64Dtype()
    if column in _TIME_COLUMNS:
        return pd.DatetimeTZDtype("ns", "UTC")
    return np.dtype(object)


def empty_action_frame(keys: tuple[str, ...]) -> pd.DataFrame:
    return _empty_template(tuple(keys)).copy()


@functools.lru_cache(maxsize=16)
def _empty_template(keys: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=_dtype(c)) for c in action_columns(keys)})


def empty_report() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=_dtype(c)) for c in REPORT_COLUMNS})


def _has_schema(frame: pd.DataFrame, columns: list[str]) -> bool:
    return list(frame.columns) == columns and all(frame[c].dtype == _dtype(c) for c in columns)


def coerce_action_frame(frame: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """The one schema of action frames: text as object (``str``/``None``), ids Int64, times UTC ns."""
    columns = action_columns(keys)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"action frame lacks columns {missing}")
    if _has_schema(frame, columns):
        return frame.reset_index(drop=True)
    out = {}
    for column in columns:
        values = frame[column]
        if column in _INT_COLUMNS:
            out[column] = values.astype("Int64")
        elif column in _TIME_COLUMNS:
            out[column] = pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")
        else:
            out[column] = _text_column(values)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def coerce_report(frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REPORT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"report frame lacks columns {missing}")
    if _has_schema(frame, list(REPORT_COLUMNS)):
        return frame.reset_index(drop=True)
    out = {c: frame[c].astype("Int64") if c == "hm_id" else _text_column(frame[c]) for c in REPORT_COLUMNS}
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _text_column(values: pd.Series) -> pd.Series:
    as_object = values.astype(object)
    return as_object.where(values.notna(), None)


@dataclass(frozen=True)
class Plan:
    """The result of :func:`sync_engine.plan.plan`: one frame per action plus the report.

    :param actions: action name -> frame (every name of :data:`ACTIONS` present, possibly empty)
    :param report: findings that are not actions (see docs/contracts.md)
    :param keys: the canonical keys the frames carry
    :param noop: object -> linked pairs that were checked and needed nothing
    """

    actions: Mapping[str, pd.DataFrame]
    report: pd.DataFrame
    keys: tuple[str, ...] = ()
    noop: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = tuple(self.keys)
        object.__setattr__(self, "keys", keys)
        unknown = set(self.actions) - set(ACTIONS)
        if unknown:
            raise ValueError(f"unknown plan actions {sorted(unknown)}; allowed: {ACTIONS}")
        actions = {
            a: coerce_action_frame(self.actions[a], keys) if a in self.actions else empty_action_frame(keys)
            for a in ACTIONS
        }
        object.__setattr__(self, "actions", actions)
        object.__setattr__(self, "report", coerce_report(self.report))
        object.__setattr__(self, "noop", {str(k): int(v) for k, v in self.noop.items() if int(v)})

    # ------------------------------------------------------------------ reading it
    def counts(self) -> dict[str, dict[str, int]]:
        """object -> action or report kind (or ``noop``, or a consent write of ``CONSENT_COUNTS``) -> rows;
        zero counts left out.

        Rows without an object (Heymarket-only findings) count under :data:`NO_OBJECT`.
        """
        counts: dict[str, dict[str, int]] = {}
        for name, frame in [*self.actions.items(), *self._report_by_kind(), *self._consent_writes()]:
            if not len(frame):
                continue
            for obj, n in frame["object"].fillna(NO_OBJECT).value_counts(sort=False).items():
                counts.setdefault(str(obj), {})[name] = int(n)
        for obj, n in self.noop.items():
            counts.setdefault(obj, {})["noop"] = n
        order = {"Contact": 0, "Lead": 1, NO_OBJECT: 3}
        return {
            o: dict(sorted(counts[o].items(), key=lambda kv: _count_order(kv[0])))
            for o in sorted(counts, key=lambda o: (order.get(o, 2), o))
        }

    def writes(self) -> int:
        """Rows that write to Heymarket or Salesforce (not link-table changes)."""
        return sum(len(f) for a, f in self.actions.items() if ACTION_TARGET[a] != "state")

    def is_empty(self) -> bool:
        return all(not len(f) for f in self.actions.values())

    def summary_text(self) -> str:
        """Counts for admins and logs; no names, emails or phones."""
        to_hm = sum(len(self.actions[a]) for a in ACTIONS if ACTION_TARGET[a] == "heymarket")
        to_sf = sum(len(self.actions[a]) for a in ACTIONS if ACTION_TARGET[a] == "salesforce")
        state = sum(len(self.actions[a]) for a in ACTIONS if ACTION_TARGET[a] == "state")
        lines = [
            f"Plan: {to_hm} writes to Heymarket, {to_sf} to Salesforce, {state} link-table changes, "
            f"{len(self.report)} reported."
        ]
        for obj, counts in self.counts().items():
            done = ", ".join(f"{a} {n}" for a, n in counts.items() if a in ACTIONS or a in CONSENT_COUNTS
                             or a == "noop")
            found = ", ".join(f"{k} {n}" for k, n in counts.items() if k in REPORT_KINDS)
            line = f"  {obj}: {done or 'nothing to do'}"
            if found:
                line += f"; reported: {found}"
            lines.append(line)
        if len(lines) == 1:
            lines.append("  nothing to do")
        return "\n".join(lines)

    # ------------------------------------------------------------------ files
    def to_dir(self, path: str | os.PathLike[str]) -> None:
        """Write ``<action>.parquet`` per action, ``report.parquet`` and ``plan.json`` (keys, noop counts).

        :param path: a local folder (created) or an fsspec URL
        """
        base = os.fspath(path)
        _makedirs(base)
        for action, frame in self.actions.items():
            frame.to_parquet(_join(base, f"{action}.parquet"), index=False)
        self.report.to_parquet(_join(base, "report.parquet"), index=False)
        meta = {"version": 1, "keys": list(self.keys), "noop": dict(self.noop)}
        with _open(_join(base, _META_FILE), "w") as handle:
            handle.write(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str]) -> Plan:
        """Read a plan written by :meth:`to_dir` (same frames, same dtypes)."""
        base = os.fspath(path)
        with _open(_join(base, _META_FILE), "r") as handle:
            meta = json.loads(handle.read())
        actions: dict[str, pd.DataFrame] = {a: pd.read_parquet(_join(base, f"{a}.parquet")) for a in ACTIONS}
        report = pd.read_parquet(_join(base, "report.parquet"))
        return cls(actions=actions, report=report, keys=tuple(meta["keys"]), noop=meta.get("noop", {}))

    @staticmethod
    def report_from_dir(path: str | os.PathLike[str]) -> pd.DataFrame:
        """Only the report frame of a plan written by :meth:`to_dir` (what ``record_run`` reads of a big plan)."""
        return pd.read_parquet(_join(os.fspath(path), "report.parquet"))

    def _report_by_kind(self) -> list[tuple[str, pd.DataFrame]]:
        return [(kind, self.report[self.report["kind"] == kind]) for kind in REPORT_KINDS]

    def _consent_writes(self) -> list[tuple[str, pd.DataFrame]]:
        """The write rows that set an opt-out state, by consent count: an update whose ``changed`` names the
        opt-out, or a create of an opted-out person (what the applier counts, ``sync_engine.apply``)."""
        if OPT_OUT_KEY not in self.keys:
            return []
        found: dict[str, list[pd.DataFrame]] = {}
        for action, target in (("create_heymarket", "heymarket"), ("update_heymarket", "heymarket"),
                               ("create_salesforce", "salesforce"), ("update_salesforce", "salesforce")):
            frame = self.actions[action]
            if not len(frame):
                continue
            state = frame[OPT_OUT_KEY].eq("true").fillna(False).astype(bool)
            if action.startswith("create_"):
                writes = state
            else:
                writes = frame["changed"].fillna("").map(lambda c: OPT_OUT_KEY in c.split(",")).astype(bool)
            found.setdefault(f"opt_out_{target}", []).append(frame[writes & state])
            if target == "salesforce":
                found.setdefault("opt_in_salesforce", []).append(frame[writes & ~state])
        return [(name, pd.concat(frames)) for name, frames in found.items() if name in CONSENT_COUNTS]


def _count_order(name: str) -> tuple[int, int]:
    if name in ACTIONS:
        return 0, ACTIONS.index(name)
    if name in CONSENT_COUNTS:
        return 1, list(CONSENT_COUNTS).index(name)
    if name == "noop":
        return 1, len(CONSENT_COUNTS)
    return 2, REPORT_KINDS.index(name) if name in REPORT_KINDS else 99


def _is_url(path: str) -> bool:
    return "://" in path


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if _is_url(base) else os.path.join(base, name)


def _makedirs(base: str) -> None:
    if _is_url(base):
        import fsspec

        fs, root = fsspec.core.url_to_fs(base)
        fs.makedirs(root, exist_ok=True)
    else:
        os.makedirs(base, exist_ok=True)


def _open(path: str, mode: str):  # noqa: ANN202 - a text file object, local or fsspec
    if _is_url(path):
        import fsspec

        return fsspec.open(path, mode, encoding="utf-8")
    return open(path, mode, encoding="utf-8")
