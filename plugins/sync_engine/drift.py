"""Drift after a run: how many linked pairs agree, how many do not, and which records are held back.

A run's write counts say what it did; they do not say what is left. A record whose write keeps failing, that
lost a duplicate contest or whose phone became invalid simply stops appearing in them. These figures, measured
per object after every run (dry runs and failed runs included), make such a record visible in the history:

- ``in_sync``: active links of the run's objects whose two sides agree on every mapped value after the run,
  as far as the sync knows: no open write error for the pair, no write the plan wanted left unapplied, no
  held-back record. A pair the run did not read (incremental) agreed at its last sync and changed on neither
  side since, so it counts as in sync.
- ``out_of_sync``: the other active links of those objects: a write rejected (open error in
  ``hm_sync_record_error``), a write the run did not apply (a dry run, a run stopped by a guard or a failure,
  an apply that stopped early), a write waiting for its retry, or a record held back (below) while linked.
- ``held_back``: records the run did not sync, by reason, each record once (the first reason in
  :data:`HELD_REASONS` that applies): ``duplicate`` (another record wins its phone), ``invalid_phone``,
  ``no_phone``, ``waiting_retry`` (a write of it was rejected and waits for its retry: the plan held it back,
  or an open error says so). Records with a Salesforce id count under their object; Heymarket contacts that
  have no record (a duplicate or invalid phone in Heymarket, a rejected auto-create) under
  :data:`NO_OBJECT`. Plan findings (duplicates, phones) cover the records the run read: every in-scope record
  on a full comparison, the changed ones on an incremental run; open errors cover every record on every run.

Conflicts are not held back: the plan settles each one by its policy in the run that finds it
(docs/contracts.md), so the pair is in sync once the settling write is applied.

Pure Python and pandas (imported when measuring), no Airflow; figures are counts only, never phones or names.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sync_engine.vocabulary import APPLY_TASK_ACTIONS, REFRESH

if TYPE_CHECKING:
    import pandas as pd

    from sync_engine.plan import Plan

#: Bucket of Heymarket contacts without a Salesforce record (the plan's ``NO_OBJECT``).
NO_OBJECT = "(heymarket)"
#: Why a record is held back, in the order a record's reason is chosen (plan report kinds).
HELD_REASONS: tuple[str, ...] = ("duplicate", "invalid_phone", "no_phone", "waiting_retry")
#: Held-back reason -> its action in the history tables (``hm_sync_run_count.action`` is 16 characters).
HELD_ACTIONS: dict[str, str] = {
    "duplicate": "held_duplicate",
    "invalid_phone": "held_invalid",
    "no_phone": "held_no_phone",
    "waiting_retry": "held_retry",
}
#: History direction the drift figures are stored under.
DRIFT_DIRECTION = "state"
#: History actions that are drift figures (state after the run), never writes or plan findings.
DRIFT_ACTIONS: frozenset[str] = frozenset({"in_sync", "out_of_sync", *HELD_ACTIONS.values()})
_SEP = "\x1f"


@dataclass(frozen=True)
class ObjectDrift:
    """The drift figures of one object (or of :data:`NO_OBJECT`) after a run.

    :param held_back: reason (:data:`HELD_REASONS`) -> records; reasons with no record are left out.
    """

    object: str
    in_sync: int = 0
    out_of_sync: int = 0
    held_back: Mapping[str, int] = field(default_factory=dict)

    @property
    def held_total(self) -> int:
        return sum(self.held_back.values())

    def as_counts(self) -> dict[str, int]:
        """The figures as history actions (``in_sync``, ``out_of_sync``, ``held_<reason>``)."""
        counts = {"in_sync": self.in_sync, "out_of_sync": self.out_of_sync} if self.object != NO_OBJECT else {}
        counts.update({HELD_ACTIONS[r]: n for r, n in self.held_back.items() if n})
        return counts

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        """For XCom: counts only."""
        return {"in_sync": self.in_sync, "out_of_sync": self.out_of_sync, "held_back": self.held_total,
                "held_back_reasons": dict(self.held_back)}


Drift = dict[str, ObjectDrift]


def unapplied_actions(dry_run: bool, applies: Mapping[str, Mapping[str, Any] | None]) -> frozenset[str]:
    """Plan actions whose rows the run did not (all) apply.

    :param applies: apply task id (:data:`APPLY_TASK_ACTIONS`) -> its result when the task succeeded, ``None`` when
        it failed or never ran (stopped by a guard or an earlier failure). A task that stopped early (budget,
        lost lock) applied only some of its batches; its actions count as unapplied, so its pairs read out of
        sync until the next run writes them.
    """
    if dry_run:
        return frozenset(a for actions in APPLY_TASK_ACTIONS.values() for a in actions)
    left: set[str] = set()
    for task, actions in APPLY_TASK_ACTIONS.items():
        result = applies.get(task)
        if result is None or result.get("stopped") or result.get("dry_run"):
            left.update(actions)
    return frozenset(left)


def measure_drift(links: pd.DataFrame, errors: pd.DataFrame, plan: Plan | None, objects: Iterable[str],
                  unapplied: Collection[str] = ()) -> Drift:
    """Per object of the run (and :data:`NO_OBJECT` when contacts are held back), the drift after the run.

    :param links: the link table after the run (``StateStore.load_links()`` or ``load_link_ids()``); rows not
        ``active`` and rows without a record (``released``) are not pairs and are skipped
    :param errors: the open record errors (``StateStore.load_errors()``)
    :param plan: the run's plan as written (after the retry hold), ``None`` when the run failed before planning
        (then only the links and the open errors are known)
    :param objects: the objects of the run; links and records of other objects are not counted
    :param unapplied: plan actions whose rows the run left unapplied (:func:`unapplied_actions`)
    """
    import pandas as pd

    names = [str(o) for o in objects]
    report = plan.report if plan is not None else pd.DataFrame(columns=["kind", "object", "sf_id", "hm_id"])
    held = _held_records(report, errors, names)

    flagged_sf: set[str] = set(held["sf_key"].dropna())
    flagged_hm: set[int] = {int(h) for h in held["hm_id"].dropna()}
    frames = [errors]
    if plan is not None:
        for action in sorted(unapplied):
            frame = plan.actions.get(action)
            if frame is None or not len(frame):
                continue
            if action == "link":
                frame = frame[frame["reason"] != REFRESH]
            frames.append(frame)
    for frame in frames:
        sf_keys, hm_ids = _keys(frame)
        flagged_sf.update(sf_keys.dropna())
        flagged_hm.update(int(h) for h in hm_ids.dropna())

    pairs = links
    if "status" in pairs:
        pairs = pairs[pairs["status"] == "active"]
    pairs = pairs[pairs["sf_id"].notna() & pairs["object"].isin(names)]
    sf_keys, hm_ids = _keys(pairs)
    off = sf_keys.isin(list(flagged_sf)) | hm_ids.isin(list(flagged_hm))
    total = pairs["object"].value_counts()
    out = pairs.loc[off, "object"].value_counts()

    by_reason = held.groupby(["bucket", "reason"]).size() if len(held) else pd.Series(dtype="int64")
    drift: Drift = {}
    for name in [*names, NO_OBJECT]:
        reasons = {r: int(by_reason.get((name, r), 0)) for r in HELD_REASONS}
        reasons = {r: n for r, n in reasons.items() if n}
        if name == NO_OBJECT and not reasons:
            continue
        n_out = int(out.get(name, 0))
        drift[name] = ObjectDrift(name, in_sync=int(total.get(name, 0)) - n_out, out_of_sync=n_out,
                                  held_back=reasons)
    return drift


def _keys(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per row: ``object<sep>sf_id`` (missing without a record id) and the Heymarket id (missing without one)."""
    import pandas as pd

    if not len(frame):
        return pd.Series([], dtype=object), pd.Series([], dtype="Int64")
    has_record = frame["sf_id"].notna()
    sf_key = (frame["object"].fillna("").astype(str) + _SEP + frame["sf_id"].fillna("").astype(str))
    sf_key = sf_key.astype(object).where(has_record, None)
    hm_id = pd.to_numeric(frame["hm_id"], errors="coerce").astype("Int64")
    return sf_key, hm_id


def _held_records(report: pd.DataFrame, errors: pd.DataFrame, objects: list[str]) -> pd.DataFrame:
    """One row per held-back record: ``bucket`` (object or :data:`NO_OBJECT`), ``reason``, ``sf_key``,
    ``hm_id``; a record found for several reasons keeps the first of :data:`HELD_REASONS`."""
    import pandas as pd

    parts = []
    found = report[report["kind"].isin(HELD_REASONS)] if len(report) else report
    if len(found):
        parts.append(_records(found, found["kind"].astype(str)))
    if len(errors):
        parts.append(_records(errors, pd.Series("waiting_retry", index=errors.index)))
    columns = ["bucket", "reason", "sf_key", "hm_id", "record"]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    held = pd.concat(parts, ignore_index=True)
    held = held[(held["bucket"] == NO_OBJECT) | held["bucket"].isin(objects)]
    held = held[held["record"].notna()]
    rank = held["reason"].map({r: i for i, r in enumerate(HELD_REASONS)})
    held = held.assign(_rank=rank).sort_values(["_rank", "record"], kind="stable")
    return held.drop_duplicates("record").drop(columns="_rank").reset_index(drop=True)[columns]


def _records(frame: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """Held-back candidates of report or error rows: a record is its ``object<sep>sf_id``, or its contact."""
    import pandas as pd

    sf_key, hm_id = _keys(frame)
    contact = ("hm" + _SEP + hm_id.astype(str)).where(hm_id.notna())
    record = sf_key.where(sf_key.notna(), contact)
    bucket = frame["object"].astype(object).where(sf_key.notna(), NO_OBJECT)
    return pd.DataFrame({"bucket": bucket.to_numpy(), "reason": reasons.to_numpy(), "sf_key": sf_key.to_numpy(),
                         "hm_id": hm_id.array, "record": record.to_numpy()})


# ------------------------------------------------------------------------------------ history and text
def with_drift(counts: Mapping[str, Mapping[str, Mapping[str, int]]],
               drift: Mapping[str, ObjectDrift]) -> dict[str, dict[str, dict[str, int]]]:
    """The history counts (object -> direction -> action -> n) with the drift figures added under
    ``state`` (``in_sync`` and ``out_of_sync`` also when 0, ``held_<reason>`` when not); a new dict."""
    merged = {o: {d: dict(a) for d, a in ds.items()} for o, ds in counts.items()}
    for name, figures in drift.items():
        merged.setdefault(name, {}).setdefault(DRIFT_DIRECTION, {}).update(figures.as_counts())
    return merged


def drift_from_counts(counts: Mapping[str, Mapping[str, Mapping[str, int]]]) -> Drift:
    """The drift figures a history row holds (inverse of :func:`with_drift`); empty for a run recorded
    without them (before they existed)."""
    actions = {a: r for r, a in HELD_ACTIONS.items()}
    drift: Drift = {}
    for name, directions in counts.items():
        state = dict(directions.get(DRIFT_DIRECTION) or {})
        if not DRIFT_ACTIONS & set(state):
            continue
        held = {actions[a]: int(n) for a, n in state.items() if a in actions and n}
        drift[str(name)] = ObjectDrift(str(name), in_sync=int(state.get("in_sync", 0)),
                                       out_of_sync=int(state.get("out_of_sync", 0)),
                                       held_back={r: held[r] for r in HELD_REASONS if r in held})
    return drift


def drift_line(drift: ObjectDrift) -> str:
    """``Contact: 120 in sync, 2 out of sync, held back 3 (duplicate 2, invalid phone 1)``."""
    parts = [] if drift.object == NO_OBJECT else [f"{drift.in_sync} in sync", f"{drift.out_of_sync} out of sync"]
    if drift.held_back:
        reasons = ", ".join(f"{r.replace('_', ' ')} {n}" for r, n in drift.held_back.items())
        parts.append(f"held back {drift.held_total} ({reasons})")
    elif drift.object != NO_OBJECT:
        parts.append("held back 0")
    return f"{drift.object}: {', '.join(parts)}"


def drift_lines(drift: Mapping[str, ObjectDrift]) -> list[str]:
    """One :func:`drift_line` per object: Contact, Lead, then the others, :data:`NO_OBJECT` last."""
    order = {"Contact": 0, "Lead": 1, NO_OBJECT: 3}
    return [drift_line(drift[o]) for o in sorted(drift, key=lambda o: (order.get(o, 2), o))]
