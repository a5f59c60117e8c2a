"""The record_run stage: one history row per run, watermarks advanced, the drift measured, the lock released.

It runs whatever happened before it (also after a failure); what the earlier tasks handed on arrives as their
results (empty when a task failed or never ran) and their states. Ids, counts and reasons only.

It also keeps the sync's memory of records and its files in bounds: it records the records the plan held back
(``hm_sync_record_outcome``; the applier recorded the ones it wrote), prunes outcome rows older than
``history.record_outcome_days`` and deletes run folders older than ``history.run_folder_days``
(:mod:`sync_engine.run_folders`). None of these keeps the run from being recorded: a failure is a warning.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from sync_engine.drift import Drift
    from sync_engine.history import TaskResult
    from sync_engine.outcomes import RecordOutcome
    from sync_engine.stages.ports import RunFiles, RunFolders
    from sync_engine.vocabulary import Counts

#: The extract tasks (record-id runs: the Salesforce ones say which ids they found) and the apply tasks, in
#: the order they run. Task ids: ``tests/dags`` checks that the DAG has them.
EXTRACT_TASKS = ("extract_salesforce_contact", "extract_salesforce_lead", "extract_heymarket")
SALESFORCE_EXTRACTS = EXTRACT_TASKS[:2]
APPLY_TASKS = ("apply_heymarket", "apply_salesforce")
#: Which tasks' API calls add up to each system's.
CALLS_BY_SYSTEM: dict[str, tuple[str, ...]] = {
    "salesforce": ("extract_salesforce_contact", "extract_salesforce_lead", "apply_salesforce"),
    "heymarket": ("extract_heymarket", "apply_heymarket"),
}
#: Why a requested record id that preflight let through was not synced, when Salesforce did not return it.
NOT_FOUND = ("'{id}' was not found in Salesforce (deleted, merged, or not visible to the integration user); "
             "check the id on the record")


class RecordState(Protocol):
    """What the record stage reads from and writes to the state store."""

    def get_run(self, run_id: str) -> dict[str, object] | None: ...

    def start_run(self, run_id: str, dag_id: str, *, trigger: str, mode: str, objects: Collection[str],
                  dry_run: bool = False) -> None: ...

    def set_watermark(self, system: str, object_name: str, value: dt.datetime, run_id: str | None) -> dt.datetime: ...

    def finish_run(self, run_id: str, status: str, counts: Counts, api_calls: Mapping[str, Mapping[str, int]] | None = None,
                   error_summary: str | None = None) -> None: ...

    def release_lock(self, name: str, run_id: str) -> bool: ...

    def load_active_pairs(self, objects: Collection[str] | None = None) -> pd.DataFrame: ...

    def load_errors(self) -> pd.DataFrame: ...

    def replace_record_outcomes(self, run_id: str, outcomes: Iterable[RecordOutcome], *, actions: Collection[str],
                                planned: bool = False) -> int: ...

    def prune_record_outcomes(self, older_than: dt.datetime) -> int: ...

    def runs_failed_since_last_success(self) -> list[str]: ...


@dataclass(frozen=True)
class RecordRequest:
    """What record_run knows of the run when it starts.

    :param info: preflight's run info (``{}`` when preflight failed).
    :param states: stage task id -> its state (the DAG's last task, ``sync_ok``, left out).
    :param reasons: failed task id -> the message it failed with.
    :param extracts: extract task id -> its result; ``plan``: the plan's; ``applies``: apply task id -> its result.
    :param preflight_calls: preflight's API calls per system and endpoint.
    :param trigger: ``scheduled`` / ``manual``...; *mode*, *objects*: the run's params (for a history row that
        preflight could not open).
    :param record_outcome_days / run_folder_days: the config's ``history`` retentions.
    """

    run_id: str
    dag_id: str
    info: TaskResult
    states: Mapping[str, str | None]
    reasons: Mapping[str, str | None]
    extracts: Mapping[str, TaskResult]
    plan: TaskResult
    applies: Mapping[str, TaskResult]
    preflight_calls: Mapping[str, Mapping[str, int] | None] = field(default_factory=dict)
    dry_run: bool = False
    trigger: str = "manual"
    mode: str = ""
    objects: tuple[str, ...] = ()
    record_outcome_days: int = 90
    run_folder_days: int = 7


@dataclass(frozen=True)
class RecordResult:
    """The recorded run: its status, counts (drift included), API calls, summary, Why text and drift.

    :param shown: the counts the summary shows (a run that planned writes but applied none shows the plan's).
    :param planned: whether *shown* is a plan that was not applied ("would create ...").
    :param guard_stopped: validate refused the plan because a guard tripped.
    """

    status: str
    counts: Counts
    api_calls: Mapping[str, Mapping[str, int]]
    summary: str
    note: str | None
    drift: Mapping[str, Mapping[str, object]]
    shown: Counts
    calls: Mapping[str, int]
    planned: bool
    guard_stopped: bool

    def to_xcom(self) -> dict[str, object]:
        return {"status": self.status, "counts": self.counts, "api_calls": self.api_calls, "summary": self.summary,
                "note": self.note, "drift": self.drift}


def run_record_stage(request: RecordRequest, state: RecordState, files: RunFiles | None, *,
                     progress: Callable[[str], None] = lambda _: None,
                     warn: Callable[[str], None] = lambda _: None,
                     folders: RunFolders | None = None,
                     clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> RecordResult:
    """Record the run in the history, advance the watermarks when allowed, measure the drift, record the records
    held back, prune old outcome rows and run folders, free the lock.

    :param files: the run folder (``None`` when preflight never made one): the plan and ``validation.json``.
    :param progress: called with the summary (the task log); *warn* with what could not be measured or pruned.
    :param folders: every run folder of the DAG (``None``: none to prune, preflight never got to the config).
    """
    from sync_engine.drift import with_drift
    from sync_engine.history import history_counts, run_note, run_status, summary_table
    from sync_engine.state import SYNC_LOCK

    info, states, plan = request.info, request.states, request.plan
    applies = [request.applies.get(task) or {} for task in APPLY_TASKS]
    unsynced = unsynced_record_ids(info, request.extracts) if states.get("plan") == "success" else {}
    status = run_status(states, applies, request.dry_run, unsynced_records=len(unsynced))
    counts = history_counts(plan.get("counts"), applies, planned=request.dry_run)
    results = {**request.extracts, **dict(zip(APPLY_TASKS, applies, strict=True))}
    api_calls = {system: merge_calls([request.preflight_calls.get(system),
                                      *((results.get(task) or {}).get("api_calls") for task in tasks)])
                 for system, tasks in CALLS_BY_SYSTEM.items()}
    error_summary = run_note(states, request.reasons, dict(zip(APPLY_TASKS, applies, strict=True)), unsynced)

    run_id = request.run_id
    if state.get_run(run_id) is None:  # preflight failed before it could open the history row
        state.start_run(run_id=run_id, dag_id=request.dag_id, trigger=request.trigger, mode=request.mode,
                        objects=list(request.objects), dry_run=request.dry_run)
    if watermarks_may_advance(status, applies) and info and not info.get("record_ids"):
        advance_watermarks(state, info, request.extracts, run_id)
    drift = measure_run_drift(state, info, plan, states, applies, request.dry_run, warn)
    state.finish_run(run_id, status=status, counts=with_drift(counts, drift), api_calls=api_calls,
                     error_summary=error_summary)
    keep_in_bounds(request, state, folders, clock(), progress, warn)
    state.release_lock(SYNC_LOCK, run_id)
    # What the summary shows: a run that planned writes but applied none (dry run, guard, failure before the
    # apply) lists them as "would create ..."; the history row above keeps only what was written.
    planned = request.dry_run or (bool(plan.get("counts")) and not any(a.get("counts") for a in applies))
    shown = history_counts(plan.get("counts"), applies, planned=planned)
    calls = {k: sum(v.values()) for k, v in api_calls.items()}
    summary = summary_table(run_id, status, with_drift(shown, drift), calls, error_summary, planned=planned)
    progress(f"Run recorded in the sync history.\n{summary}")
    return RecordResult(status=status, counts=with_drift(counts, drift), api_calls=api_calls, summary=summary,
                        note=error_summary, drift={name: figures.as_dict() for name, figures in drift.items()},
                        shown=shown, calls=calls, planned=planned, guard_stopped=guard_stopped(states, files))


def measure_run_drift(state: RecordState, info: TaskResult, plan: TaskResult, states: Mapping[str, str | None],
                      applies: Sequence[TaskResult], dry_run: bool,
                      warn: Callable[[str], None] = lambda _: None) -> Drift:
    """The drift after the run (``sync_engine.drift``): pairs in and out of sync, records held back.

    Measured for every run that got past preflight (dry, failed and guard-stopped runs included: then it is
    what the systems hold now). A run that failed in preflight read nothing and may not hold the lock (another
    run may be writing), so it records none. Measuring never keeps the run from being recorded: a failure here
    is reported through *warn* and the run is recorded without the figures.
    """
    from sync_engine.drift import measure_drift, unapplied_actions
    from sync_engine.plan import Plan

    if not info.get("objects"):
        return {}
    objects = [str(o) for o in list(info["objects"])]
    try:
        written = plan.get("path") if states.get("plan") == "success" else None
        result = Plan.from_dir(str(written)) if written else None
        finished = {task: (apply if states.get(task) == "success" else None)
                    for task, apply in zip(APPLY_TASKS, applies, strict=True)}
        return measure_drift(state.load_active_pairs(objects), state.load_errors(), result, objects,
                             unapplied_actions(dry_run, finished))
    except Exception as exc:  # noqa: BLE001 - the figures are extra; the run's record is not
        from sync_engine.state.redaction import scrub_message

        warn(f"The drift after run {info.get('run_id')} could not be measured ({type(exc).__name__}: "
             f"{scrub_message(str(exc), 300)}); the run is recorded without it")
        return {}


def keep_in_bounds(request: RecordRequest, state: RecordState, folders: RunFolders | None, now: dt.datetime,
                   progress: Callable[[str], None], warn: Callable[[str], None]) -> None:
    """Record the held-back records, prune old outcome rows and old run folders; each step on its own, a
    failure is a warning (the run is recorded all the same, and the next run prunes what this one could not)."""
    from sync_engine.state.redaction import scrub_message

    steps: list[tuple[str, Callable[[], str | None]]] = [
        ("record the records held back", lambda: record_held_back(request, state)),
        ("prune old record outcomes", lambda: prune_outcomes(request, state, now)),
    ]
    if folders is not None:
        steps.append(("delete old run folders", lambda: prune_run_folders(request, state, folders, now)))
    for what, step in steps:
        try:
            line = step()
        except Exception as exc:  # noqa: BLE001 - housekeeping never keeps the run from being recorded
            warn(f"Run {request.run_id} could not {what} ({type(exc).__name__}: {scrub_message(str(exc), 300)}); "
                 "the run is recorded all the same")
            continue
        if line:
            progress(line)


def record_held_back(request: RecordRequest, state: RecordState) -> str | None:
    """The plan's held-back records as outcome rows (a dry run: its planned writes too, marked ``planned``).

    Written rows come from the applier, batch by batch; a run without a plan has no held-back records.
    """
    from sync_engine.outcomes import held_back_outcomes, planned_outcomes
    from sync_engine.plan import Plan
    from sync_engine.vocabulary import HELD_OUTCOMES, OUTCOME_ACTIONS

    path = request.plan.get("path") if request.states.get("plan") == "success" else None
    if not path:
        return None
    if request.dry_run:
        plan = Plan.from_dir(str(path))
        outcomes = [*planned_outcomes(plan.actions, plan.keys), *held_back_outcomes(plan.report)]
        n = state.replace_record_outcomes(request.run_id, outcomes, actions=OUTCOME_ACTIONS, planned=True)
        return f"Record outcomes: {n} planned (dry run) in hm_sync_record_outcome"
    n = state.replace_record_outcomes(request.run_id, held_back_outcomes(Plan.report_from_dir(str(path))),
                                      actions=HELD_OUTCOMES)
    return f"Record outcomes: {n} records held back recorded in hm_sync_record_outcome"


def prune_outcomes(request: RecordRequest, state: RecordState, now: dt.datetime) -> str | None:
    """Delete outcome rows older than ``history.record_outcome_days``."""
    n = state.prune_record_outcomes(now - dt.timedelta(days=request.record_outcome_days))
    return f"Record outcomes: {n} rows older than {request.record_outcome_days} days deleted" if n else None


def prune_run_folders(request: RecordRequest, state: RecordState, folders: RunFolders, now: dt.datetime) -> str | None:
    """Delete run folders older than ``history.run_folder_days``, but not those of runs that failed since the
    last success (:func:`sync_engine.run_folders.folders_to_remove`)."""
    from sync_engine.run_folders import folders_to_remove

    failed = {folders.name_of(run_id) for run_id in state.runs_failed_since_last_success()}
    decision = folders_to_remove(folders.written(), keep_days=request.run_folder_days, now=now,
                                 current=folders.name_of(request.run_id), failed=failed)
    for name in decision.remove:
        folders.remove(name)
    if not decision.remove and not decision.kept_failed:
        return None
    return (f"Run folders: {len(decision.remove)} older than {request.run_folder_days} days deleted, "
            f"{len(decision.kept_failed)} of failed runs kept until a run succeeds")


def advance_watermarks(state: RecordState, info: TaskResult, extracts: Mapping[str, TaskResult],
                       run_id: str) -> None:
    """Only after everything planned was attempted (see :func:`watermarks_may_advance`)."""
    for name in info.get("objects", []):
        stamp = (extracts.get(f"extract_salesforce_{str(name).lower()}") or {}).get("max_modstamp")
        if stamp:
            state.set_watermark("salesforce", str(name), dt.datetime.fromisoformat(str(stamp)), run_id)
    stamp = (extracts.get("extract_heymarket") or {}).get("max_updated")
    if stamp:
        state.set_watermark("heymarket", "contacts", dt.datetime.fromisoformat(str(stamp)), run_id)


def unsynced_record_ids(info: TaskResult, extracts: Mapping[str, TaskResult]) -> dict[str, str]:
    """Requested record ids that were not synced -> why: refused in preflight, refused by Salesforce, not found.

    Ids and reasons only (never contact data). Empty for a run without record ids.
    """
    unsynced = {str(k): str(v) for k, v in dict(info.get("record_id_problems") or {}).items()}
    if not info.get("record_ids"):
        return unsynced
    found: set[str] = set()
    for task in SALESFORCE_EXTRACTS:
        found.update(str(i) for i in extracts.get(task, {}).get("found_ids") or [])
        unsynced.update({str(k): f"'{k}': {v}" for k, v in dict(extracts.get(task, {}).get("rejected_ids") or {}).items()})
    for record_id in info.get("record_ids") or []:
        if str(record_id) not in found and str(record_id) not in unsynced:
            unsynced[str(record_id)] = NOT_FOUND.format(id=record_id)
    return unsynced


def watermarks_may_advance(status: str, applies: Sequence[TaskResult]) -> bool:
    """After a successful run, and after a ``partial`` one whose every planned write was attempted.

    A stopped (budget, cancel) or failed run re-reads the same window next time. Records rejected one by
    one are not a reason to hold the watermarks back: they sit in the retry queue and the extractors
    re-read them by id when their retry is due. Holding back instead would make every later run re-read
    an ever longer window for as long as one record keeps failing.
    """
    if status == "success":
        return True
    return status == "partial" and not any(a.get("stopped") for a in applies)


def guard_stopped(states: Mapping[str, str | None], files: RunFiles | None) -> bool:
    """Whether a guard stopped the run (its ``validation.json`` lists the trips): validate refused the plan, or
    held it back but for its opt-out changes (``consent_only``: the applies wrote those alone, then the run failed).

    A validate that failed on expectations alone, or could not write its report, is an ordinary failure.
    """
    from sync_engine.stages.validate_stage import CONSENT_ONLY, VALIDATION_FILE

    if files is None or states.get("validate") not in ("failed", "success"):
        return False
    try:
        if not files.exists(VALIDATION_FILE):
            return False
        report = json.loads(files.read_text(VALIDATION_FILE))
        held = states.get("validate") == "failed" or bool(report.get(CONSENT_ONLY))
        return held and bool(report.get("guards"))
    except (OSError, ValueError, AttributeError):
        return False


def merge_calls(parts: Sequence[Mapping[str, int] | None]) -> dict[str, int]:
    """Per-endpoint API call counts of several tasks, added up (``None`` for a task that reported none)."""
    merged: dict[str, int] = {}
    for calls in parts:
        for endpoint, n in dict(calls or {}).items():
            merged[endpoint] = merged.get(endpoint, 0) + int(n)
    return merged
