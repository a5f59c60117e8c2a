"""The apply stages: write the validated plan to Heymarket, then to Salesforce, batch by batch, checkpointed.

What a stage adds around the engine's ``PlanApplier`` (which commits every batch in one state transaction):

- **Lock.** Each apply (re-)takes the run's sync lock before it writes (a retry after a kill gets it back) and
  renews it before every batch; a run whose lock was taken over stops before writing another batch.
- **Stop.** A stop request (SIGTERM: the run was marked failed, the task cleared) is checked before every batch,
  so the batch in flight is written and checkpointed; the Salesforce side also stops at the budget reserve.
- **Resume.** A retried attempt re-reads the same plan without the creates an earlier attempt already
  checkpointed (:func:`skip_checkpointed_creates`), and Salesforce creates first look for records an earlier
  attempt created but could not checkpoint (:class:`FindBeforeCreate`). Heymarket needs no look-up: it refuses
  a second contact with the same phone, and the writer turns that refusal into an update.
- **Cancelled.** A run marked failed never reaches ``record_run``, so the apply that was stopped writes the
  run's history row itself (:func:`record_cancelled`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from sync_engine.stages.plan_stage import LINKS_FILE
from sync_engine.vocabulary import CREATE_ACTIONS

if TYPE_CHECKING:
    import pandas as pd

    from sync_engine.apply import (
        ApplyResult,
        ApplyState,
        HeymarketWriter,
        SalesforceRecord,
        SalesforceValue,
        SalesforceWriter,
        StopCheck,
        WriteOutcome,
    )
    from sync_engine.config import SyncConfig
    from sync_engine.history import TaskResult
    from sync_engine.stages.ports import RunFiles
    from sync_engine.stages.results import PlanResult
    from sync_engine.state import LockInfo
    from sync_engine.vocabulary import Counts, ObjectName

#: The lease of the sync lock (preflight's too): renewed before and after every batch.
LOCK_TTL_SECONDS = 15 * 60
#: ``sync_engine.history.run_status`` reads a stop reason with "cancelled" in it as a cancelled run.
CANCELLED = "the run was cancelled (marked failed); what was applied so far is recorded"
STOP_REQUESTED = "the task was asked to stop (SIGTERM); what was applied so far is recorded"
#: Salesforce records created this long before the run started still count as "created by this run"
#: when a retried attempt looks for them (clock skew between the worker and Salesforce).
CREATED_SINCE_MARGIN = dt.timedelta(minutes=10)
#: How the resume message names each create action.
_CREATES: dict[str, str] = {"create_heymarket": "Heymarket contact", "create_salesforce": "Salesforce record"}


class WillNotWrite(Exception):
    """Another run holds the sync lock: this apply writes nothing (the operator fails without retry)."""


class ApplyStore(Protocol):
    """What an apply stage reads from and writes to the state store (besides the applier's batch commits)."""

    def acquire_lock(self, name: str, run_id: str, ttl_seconds: int) -> bool: ...

    def heartbeat(self, name: str, run_id: str, ttl_seconds: int | None = None) -> LockInfo: ...

    def load_links(self) -> pd.DataFrame: ...


class CreatedRecords(Protocol):
    """Salesforce records created since an instant, by the value of one field (``SalesforceAccess``)."""

    def ids_created_since(self, sobject: str, field: str, values: list[str], since: dt.datetime) -> dict[str, str]: ...


class BudgetLeft(Protocol):
    """The org's daily API budget as the last answer reported it (``SalesforceAccess.daily_budget``)."""

    @property
    def max(self) -> int: ...

    @property
    def remaining(self) -> int: ...


@dataclass(frozen=True)
class ApplyRequest:
    """What an apply stage needs to know of the run and the task (from preflight's run info and Airflow).

    :param task_id: the apply task (named in the history row of a cancelled run).
    :param started_at: when preflight started the run (ISO): a retried Salesforce create looks for records
        created since then.
    :param attempt: the task's try number (above 1: a retry, which looks before it creates).
    """

    run_id: str
    task_id: str
    objects: tuple[ObjectName, ...]
    dry_run: bool = False
    started_at: str | None = None
    attempt: int = 1


@dataclass(frozen=True)
class AppliedResult:
    """What one apply task wrote: counts per object, action and outcome; whether and why it stopped early.

    :param counts: object -> action -> ``ok`` / ``failed`` -> records.
    :param failed: records rejected one by one (they wait in the retry queue).
    :param stop_reason: why it stopped before the end of the plan (cancel, lock lost, budget reserve).
    :param dry_run: nothing was written (the plan's counts are what would be written).
    :param held_back: the guards' messages when validate held the plan back but for its opt-out changes: only
        those were written (``sync_engine.apply.consent_only``); empty for an ordinary run.
    """

    counts: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    failed: int = 0
    stopped: bool = False
    stop_reason: str | None = None
    api_calls: Mapping[str, int] = field(default_factory=dict)
    dry_run: bool = False
    held_back: tuple[str, ...] = ()

    @classmethod
    def of(cls, result: ApplyResult, api_calls: Mapping[str, int], held_back: Iterable[str] = ()) -> AppliedResult:
        """The applier's mutable result, frozen with the task's API calls."""
        return cls(counts=result.as_dict(), failed=result.failed, stopped=result.stopped,
                   stop_reason=result.stop_reason, api_calls=dict(api_calls), held_back=tuple(held_back))

    def held_back_message(self) -> str:
        """Why a run held back by guards fails although this task wrote its opt-out changes (the run's Why)."""
        return ("The guards held the plan back: only its opt-out changes were written (never held back by a "
                "guard; counted as opted_out / opted_in), nothing else:\n" + "\n".join(f"- {m}" for m in self.held_back))

    def cancelled(self) -> AppliedResult:
        """The same result, its stop read as a cancelled run (the run was marked failed)."""
        return replace(self, stop_reason=CANCELLED)

    def to_xcom(self) -> dict[str, object]:
        return {"counts": {o: {a: dict(c) for a, c in per.items()} for o, per in self.counts.items()},
                "failed": self.failed, "stopped": self.stopped, "stop_reason": self.stop_reason,
                "api_calls": dict(self.api_calls), "dry_run": self.dry_run,
                **({"held_back": list(self.held_back)} if self.held_back else {})}

    @classmethod
    def from_xcom(cls, value: Mapping[str, object] | None) -> AppliedResult:
        """The result back from the JSON the task pushed (``{}`` or ``None``: the task wrote nothing)."""
        value = value if isinstance(value, Mapping) else {}
        counts, calls, held = value.get("counts"), value.get("api_calls"), value.get("held_back")
        return cls(
            counts={str(o): {str(a): {str(k): int(n) for k, n in dict(c).items()} for a, c in dict(per).items()}
                    for o, per in counts.items()} if isinstance(counts, Mapping) else {},
            failed=int(str(value.get("failed") or 0)), stopped=bool(value.get("stopped")),
            stop_reason=str(value["stop_reason"]) if value.get("stop_reason") else None,
            api_calls={str(k): int(str(n)) for k, n in calls.items()} if isinstance(calls, Mapping) else {},
            dry_run=bool(value.get("dry_run")),
            held_back=tuple(str(m) for m in held) if isinstance(held, list) else ())


def dry_run_apply(system: str, progress: Callable[[str], None] = lambda _: None) -> AppliedResult:
    """A dry run's apply: nothing is read, locked or written."""
    progress(f"Dry run: nothing is written to {system} (the plan's counts are what would be written)")
    return AppliedResult(dry_run=True)


def hold_lock(store: ApplyStore, run_id: str, task_id: str) -> None:
    """Take (or keep) the run's lock: a retry after a kill or a cancel must get it back before writing.

    :raises WillNotWrite: another run holds it.
    """
    from sync_engine.state import SYNC_LOCK, LockHeld

    try:
        store.acquire_lock(SYNC_LOCK, run_id, LOCK_TTL_SECONDS)
    except LockHeld as exc:
        raise WillNotWrite(f"{task_id} will not write: {exc}") from exc


def stop_check(stop_requested: Callable[[], bool], store: ApplyStore, run_id: str) -> StopCheck:
    """Checked before every batch: a stop request, then the lock (renewed here for the coming batch)."""
    from sync_engine.state import SYNC_LOCK, LockLost

    def check() -> str | None:
        if stop_requested():
            return STOP_REQUESTED
        try:
            store.heartbeat(SYNC_LOCK, run_id, LOCK_TTL_SECONDS)
        except LockLost as exc:
            return f"this run no longer holds the sync lock, so it stops writing ({exc})"
        return None

    return check


def planned_actions(plan: PlanResult, create_action: str, files: RunFiles, store: ApplyStore,
                    progress: Callable[[str], None] = lambda _: None) -> dict[str, pd.DataFrame]:
    """The plan's actions without the creates (of *create_action*) an earlier attempt of this run recorded."""
    from sync_engine.plan import Plan

    planned = Plan.from_dir(plan.path).actions
    snapshot = files.read_frame(LINKS_FILE) if files.exists(LINKS_FILE) else None
    return skip_checkpointed_creates(planned, links_if_creates(planned, store, create_action), progress, snapshot,
                                     creates=(create_action,))


#: Per object, the canonical keys one direction writes (``settings.direction_keys``).
KeysByObject = Mapping[str, Sequence[str]]


def consent_only_apply(actions: Mapping[str, pd.DataFrame], files: RunFiles, keys_to_heymarket: KeysByObject,
                       keys_to_salesforce: KeysByObject, progress: Callable[[str], None] = lambda _: None,
                       ) -> tuple[tuple[str, ...], Mapping[str, pd.DataFrame], KeysByObject, KeysByObject]:
    """The guards' messages, actions and keys an apply stage writes: the whole plan, or for a plan validate held
    back but for its opt-outs (``validation.json``) the opt-out changes alone, with the opt-out as the only key."""
    from sync_engine.apply import consent_only
    from sync_engine.stages.validate_stage import guard_hold
    from sync_engine.vocabulary import OPT_OUT_KEY

    held = guard_hold(files)
    if held is None:
        return (), actions, keys_to_heymarket, keys_to_salesforce
    kept = consent_only(actions, files.read_frame(LINKS_FILE) if files.exists(LINKS_FILE) else None)
    n = sum(len(frame) for frame in kept.values())
    progress(f"Guards tripped: only the plan's {n} opt-out change(s) of linked pairs are written here, nothing else")

    def only_opt_out(keys: KeysByObject) -> dict[str, list[str]]:
        return {obj: [k for k in ks if k == OPT_OUT_KEY] for obj, ks in keys.items()}

    return held, kept, only_opt_out(keys_to_heymarket), only_opt_out(keys_to_salesforce)


def run_heymarket_apply(request: ApplyRequest, plan: PlanResult, config: SyncConfig, files: RunFiles,
                        store: ApplyStore, state: ApplyState, writer: HeymarketWriter, field_ids: Mapping[str, str],
                        uuids: Mapping[int, str], *, stop_requested: Callable[[], bool] = lambda: False,
                        api_calls: Callable[[], Mapping[str, int]] = dict,
                        progress: Callable[[str], None] = lambda _: None) -> AppliedResult:
    """Links/unlinks, then creates and updates contacts in batches, then deletes (where the object enables it).

    :param field_ids: custom field title -> Heymarket field id (the Heymarket extract's).
    :param uuids: Heymarket id -> UUID (v2 writes need it).
    :param stop_requested: whether the task was asked to stop (checked before every batch).
    :param api_calls: the writer's API calls so far, per endpoint.
    :raises WillNotWrite: another run holds the sync lock.
    """
    from sync_engine.apply import ApplyResult, PlanApplier
    from sync_engine.history import describe_applied
    from sync_engine.settings import direction_keys

    if request.dry_run:
        return dry_run_apply("Heymarket", progress)
    hold_lock(store, request.run_id, request.task_id)
    all_to_hm, all_to_sf = direction_keys(config, request.objects)
    held, actions, to_hm, to_sf = consent_only_apply(planned_actions(plan, "create_heymarket", files, store, progress),
                                                     files, all_to_hm, all_to_sf, progress)
    result = ApplyResult()
    applier = PlanApplier(state, request.run_id, to_hm, to_sf, stop=stop_check(stop_requested, store, request.run_id),
                          batch_size_heymarket=config.heymarket.batch_size, progress=progress,
                          heymarket_in_flight=config.heymarket.calls_in_flight)
    delete_objects: set[str] = {name for name in request.objects if config.object_config(name).delete_in_heymarket}
    applier.apply_heymarket(actions, writer, field_ids, uuids, delete_objects, result)
    progress(f"Heymarket apply: {describe_applied(result.as_dict())}"
             + (f"; stopped early: {result.stop_reason}" if result.stopped else ""))
    return AppliedResult.of(result, api_calls(), held)


def run_salesforce_apply(request: ApplyRequest, plan: PlanResult, config: SyncConfig, files: RunFiles,
                         store: ApplyStore, state: ApplyState, writer: SalesforceWriter, uuids: Mapping[int, str], *,
                         budget: Callable[[], BudgetLeft], created: CreatedRecords, batch_size: int = 200,
                         stop_requested: Callable[[], bool] = lambda: False,
                         api_calls: Callable[[], Mapping[str, int]] = dict,
                         progress: Callable[[str], None] = lambda _: None) -> AppliedResult:
    """Auto-creates records and updates mapped fields, in batches; stops cleanly at the budget reserve.

    :param budget: the org's daily API budget as last reported (checked before every batch).
    :param created: where a retried attempt looks for the records an earlier attempt created.
    :raises WillNotWrite: another run holds the sync lock.
    """
    from sync_engine.apply import ApplyResult, PlanApplier
    from sync_engine.history import describe_applied
    from sync_engine.settings import direction_keys

    if request.dry_run:
        return dry_run_apply("Salesforce", progress)
    hold_lock(store, request.run_id, request.task_id)
    all_to_hm, all_to_sf = direction_keys(config, request.objects)
    held, actions, to_hm, to_sf = consent_only_apply(planned_actions(plan, "create_salesforce", files, store, progress),
                                                     files, all_to_hm, all_to_sf, progress)
    result = ApplyResult()
    reserve = config.salesforce.min_daily_api_remaining
    lock_and_cancel = stop_check(stop_requested, store, request.run_id)

    def stop_reason() -> str | None:
        reason = lock_and_cancel()
        if reason:
            return reason
        left = budget()
        if left.max and left.remaining <= reserve:
            return (f"Salesforce daily API budget reserve reached ({left.remaining} of {left.max} left, "
                    f"reserve {reserve}); the rest is applied by a later run")
        return None

    # The budget reserve holds back every write but the opt-outs (issue 15): those are checked for a cancel or a
    # lost lock only, and go first.
    applier = PlanApplier(state, request.run_id, to_hm, to_sf, stop=stop_reason, batch_size_salesforce=batch_size,
                          progress=progress, consent_stop=lock_and_cancel)
    sf_fields: dict[str, dict[str, str]] = {name: config.salesforce_fields(name) for name in request.objects}
    defaults: dict[str, dict[str, SalesforceValue]] = {
        name: dict(config.object_config(name).required_defaults) for name in request.objects}
    if request.attempt > 1 and request.started_at:
        since = dt.datetime.fromisoformat(request.started_at) - CREATED_SINCE_MARGIN
        progress(f"Attempt {request.attempt} of this task: Salesforce creates first look for records an earlier "
                 "attempt created but could not record")
        writer = FindBeforeCreate(writer, created, {n: f["phone"] for n, f in sf_fields.items()}, since)
    applier.apply_salesforce(actions, writer, sf_fields, defaults, uuids, result)
    progress(f"Salesforce apply: {describe_applied(result.as_dict())}"
             + (f"; stopped early: {result.stop_reason}" if result.stopped else ""))
    return AppliedResult.of(result, api_calls(), held)


def links_if_creates(actions: Mapping[str, pd.DataFrame], store: ApplyStore,
                     create_action: str | None = None) -> pd.DataFrame:
    """The link table, read only when the plan creates something this task applies (a 100,000-row read
    costs seconds).

    :param create_action: ``create_heymarket`` or ``create_salesforce``; default: either.
    """
    import pandas as pd

    wanted = (create_action,) if create_action else CREATE_ACTIONS
    if any(len(actions.get(a, ())) for a in wanted):
        return store.load_links()
    return pd.DataFrame(columns=["object", "sf_id", "hm_id", "status"])


def skip_checkpointed_creates(actions: Mapping[str, pd.DataFrame], links: pd.DataFrame,
                              progress: Callable[[str], None] | None = None,
                              planned_links: pd.DataFrame | None = None,
                              creates: Iterable[str] = CREATE_ACTIONS,
                              ) -> dict[str, pd.DataFrame]:
    """The plan's actions without the creates an earlier attempt of this task already checkpointed.

    A create counts as done when its pair is an active link now but was not one when the plan was made
    (``planned_links``, the run folder's ``links.parquet``): an attempt that was then killed or stopped wrote
    and recorded it. Comparing with the plan-time links matters for re-creates: a contact deleted in
    Heymarket still has its old active link while the plan re-creates it, and that create must go ahead.
    Updates, links and unlinks are kept: re-applying them writes the same values again.

    Only the creates of the calling task count (*creates*): ``apply_salesforce`` runs after
    ``apply_heymarket`` has linked the pairs it created in this very run, and those are not "already done"
    Salesforce creates (reporting them as resumed work made every normal run look like a resumed one).

    :param links: the link table now, as ``StateStore.load_links`` returns it.
    :param progress: called with a message when something is skipped (the task log).
    :param planned_links: the link table when the plan was made (default: none were active).
    :param creates: the create actions the caller applies.
    """
    creates = set(creates)

    def active_pairs(frame: pd.DataFrame | None) -> set[tuple[str, str, int]]:
        if frame is None or not len(frame):
            return set()
        active = frame[frame["status"] == "active"]
        return {(str(o), str(s), int(h)) for o, s, h in zip(active["object"], active["sf_id"], active["hm_id"],
                                                            strict=True)}

    new_pairs = active_pairs(links) - active_pairs(planned_links)
    new_records = {(o, s) for o, s, _ in new_pairs}
    new_contacts = {h for _, _, h in new_pairs}
    kept = dict(actions)
    skipped: dict[str, int] = {}
    frame = kept.get("create_heymarket")
    if "create_heymarket" in creates and frame is not None and len(frame) and new_records:
        done = [(o, s) in new_records for o, s in zip(frame["object"], frame["sf_id"], strict=True)]
        kept["create_heymarket"] = frame[[not d for d in done]]
        skipped["create_heymarket"] = sum(done)
    frame = kept.get("create_salesforce")
    if "create_salesforce" in creates and frame is not None and len(frame) and new_contacts:
        done = [int(h) in new_contacts for h in frame["hm_id"]]
        kept["create_salesforce"] = frame[[not d for d in done]]
        skipped["create_salesforce"] = sum(done)
    for action, n in skipped.items():
        if n and progress is not None:
            progress(f"Resuming: {n} {_CREATES[action]} create(s) of this plan were written and recorded by an "
                     "earlier attempt of this task; they are not sent again")
    return kept


class FindBeforeCreate:
    """A Salesforce writer for retried attempts: creates only what an earlier attempt did not create.

    A kill between Salesforce's answer and the state commit leaves records that exist but have no link. The
    payload sets the phone field to ``+<E.164 digits>``, so those records are found again by that exact
    phone among records created since the run started, and are linked instead of created twice.

    :param phone_fields: Salesforce object -> its phone field (the sync's match key).
    :param created_since: look only at records created after this instant (the run's start, with margin).
    """

    def __init__(self, writer: SalesforceWriter, created: CreatedRecords, phone_fields: Mapping[str, str],
                 created_since: dt.datetime) -> None:
        self.writer = writer
        self.created = created
        self.phone_fields = phone_fields
        self.created_since = created_since.astimezone(dt.UTC)

    def create(self, object_name: str, records: list[SalesforceRecord]) -> list[WriteOutcome]:
        from sync_engine.apply import WriteOutcome

        field = self.phone_fields[object_name]
        phones = [str(r[field]) for r in records if r.get(field)]
        existing = self.created.ids_created_since(object_name, field, phones, self.created_since)
        outcomes: list[WriteOutcome | None] = [None] * len(records)
        missing = []
        for index, record in enumerate(records):
            sf_id = existing.get(str(record.get(field)))
            if sf_id:
                outcomes[index] = WriteOutcome(ok=True, sf_id=sf_id)
            else:
                missing.append(index)
        if missing:
            for index, outcome in zip(missing, self.writer.create(object_name, [records[i] for i in missing]),
                                      strict=True):
                outcomes[index] = outcome
        return [o for o in outcomes if o is not None]

    def update(self, object_name: str, records: list[SalesforceRecord]) -> list[WriteOutcome]:
        return self.writer.update(object_name, records)


class CancelState(Protocol):
    """What recording a cancelled run reads from and writes to the state store."""

    def get_run(self, run_id: str) -> dict[str, object] | None: ...

    def finish_run(self, run_id: str, status: str, counts: Counts, api_calls: Mapping[str, Mapping[str, int]] | None = None,
                   error_summary: str | None = None) -> None: ...


@dataclass(frozen=True)
class RunSoFar:
    """What the run's earlier tasks handed on, for the history row of a run cancelled during an apply.

    :param extracts: extract task id -> its result; *applies*: the apply tasks that ran before this one.
    """

    plan: TaskResult = field(default_factory=dict)
    extracts: Mapping[str, TaskResult] = field(default_factory=dict)
    applies: Mapping[str, TaskResult] = field(default_factory=dict)
    preflight_calls: Mapping[str, Mapping[str, int] | None] = field(default_factory=dict)


def record_cancelled(state: CancelState, request: ApplyRequest, outcome: AppliedResult, so_far: RunSoFar) -> bool:
    """The history row of a cancelled run: ``record_run`` never runs once the run is marked failed.

    :returns: whether a row was written (``False`` when preflight never opened one).
    """
    from sync_engine.history import history_counts
    from sync_engine.stages.record_stage import APPLY_TASKS, CALLS_BY_SYSTEM, merge_calls

    if state.get_run(request.run_id) is None:
        return False
    results: dict[str, TaskResult] = {**so_far.extracts, **so_far.applies, request.task_id: outcome.to_xcom()}
    applies = [results.get(task) or {} for task in APPLY_TASKS]
    api_calls = {system: merge_calls([so_far.preflight_calls.get(system),
                                      *((results.get(task) or {}).get("api_calls") for task in tasks)])
                 for system, tasks in CALLS_BY_SYSTEM.items()}
    state.finish_run(request.run_id, status="cancelled", counts=history_counts(so_far.plan.get("counts"), applies),
                     api_calls=api_calls, error_summary=f"cancelled during {request.task_id}")
    return True

