"""apply_heymarket / apply_salesforce: write the validated plan, batch by batch, checkpointed.

What makes a kill or a cancel safe here (the engine's ``PlanApplier`` commits every batch in one state
transaction; see docs/operations.md for the whole story):

- **Lock.** Each apply task (re-)takes the run's sync lock when it starts (a retry after a kill gets it back)
  and renews it before every batch; a run whose lock was taken over stops before writing another batch.
- **Cancel.** ``on_kill`` (SIGTERM) sets a flag that is checked before every batch, so the batch in flight
  is written and checkpointed. If Airflow says the run has ended (marked failed), the task records the run
  as ``cancelled``, releases the lock and fails without retry; if the run goes on (only this task was
  stopped), it fails normally so that Airflow's retry resumes it.
- **Retry of the same run.** A retried attempt re-reads the same plan. Creates that an earlier attempt
  already checkpointed are skipped, and Salesforce creates first look for records that an earlier attempt
  created but could not checkpoint (killed between the API's answer and the commit), so nothing is created
  twice. Heymarket needs no look-up: it refuses a second contact with the same phone, and the writer turns
  that refusal into an update.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sync_engine.history import describe_applied
from sync_engine.vocabulary import CREATE_ACTIONS
from sync_operators.base import ACTIVE_RUN_STATES, SyncStageOperator

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context, XComArg

    from heymarket_hook import HeymarketHook
    from salesforce_access import SalesforceAccess
    from sync_engine.apply import (
        ApplyResult,
        SalesforceRecord,
        SalesforceValue,
        SalesforceWriter,
        StopCheck,
        WriteOutcome,
    )
    from sync_engine.config import SyncConfig
    from sync_engine.history import TaskResult
    from sync_engine.state import StateStore
    from sync_operators.adapters import StoreApplyState
    from sync_operators.run_info import RunInfo
    from sync_operators.runtime import RunFolder

#: Same lease as preflight's: renewed before and after every batch.
LOCK_TTL_SECONDS = 15 * 60
#: ``sync_engine.history.run_status`` reads a stop reason with "cancelled" in it as a cancelled run.
CANCELLED = "the run was cancelled (marked failed); what was applied so far is recorded"
STOP_REQUESTED = "the task was asked to stop (SIGTERM); what was applied so far is recorded"
#: Salesforce records created this long before the run started still count as "created by this run"
#: when a retried attempt looks for them (clock skew between the worker and Salesforce).
CREATED_SINCE_MARGIN = dt.timedelta(minutes=10)


class _ApplyOperator(SyncStageOperator):
    """Shared set-up of both apply stages: the lock, the stop conditions, the end of a stopped task.

    :param plan: the plan task's output (templated; ``plan.output``): where the plan to apply is.
    """

    template_fields: Sequence[str] = (*SyncStageOperator.template_fields, "plan")

    def __init__(self, *, plan: Mapping[str, object] | XComArg, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan

    def _hold_lock(self, store: StateStore, run_id: str) -> None:
        """Take (or keep) the run's lock: a retry after a kill or a cancel must get it back before writing."""
        from airflow.sdk.exceptions import AirflowFailException

        from sync_engine.state import SYNC_LOCK, LockHeld

        try:
            store.acquire_lock(SYNC_LOCK, run_id, LOCK_TTL_SECONDS)
        except LockHeld as exc:
            raise AirflowFailException(f"{self.task_id} will not write: {exc}") from exc

    def _stop_check(self, store: StateStore, run_id: str) -> StopCheck:
        """Checked before every batch: a stop request, then the lock (renewed here for the coming batch)."""
        from sync_engine.state import SYNC_LOCK, LockLost

        def check() -> str | None:
            if self._stop.is_set():
                return STOP_REQUESTED
            try:
                store.heartbeat(SYNC_LOCK, run_id, LOCK_TTL_SECONDS)
            except LockLost as exc:
                return f"this run no longer holds the sync lock, so it stops writing ({exc})"
            return None

        return check

    def _result_dict(self, result: ApplyResult, api_calls: dict[str, int], dry_run: bool) -> dict[str, object]:
        return {
            "counts": result.as_dict(),
            "failed": result.failed,
            "stopped": result.stopped,
            "stop_reason": result.stop_reason,
            "api_calls": api_calls,
            "dry_run": dry_run,
        }

    def _finish(self, context: Context, store: StateStore, result: ApplyResult,
                api_calls: dict[str, int]) -> dict[str, object]:
        """The task's XCom result; a task stopped by SIGTERM ends here with an exception instead."""
        outcome = self._result_dict(result, api_calls, dry_run=False)
        if result.stopped and self._stop.is_set():
            self._end_stopped(context, store, outcome)
        return outcome

    def _end_stopped(self, context: Context, store: StateStore, outcome: dict[str, object]) -> None:
        """Within the 5 s between SIGTERM and SIGKILL: say how the run ended, free the lock if it is over."""
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        from sync_engine.state import SYNC_LOCK

        ti = context["ti"]
        run_id = str(context["run_id"])
        if not self._run_has_ended(context):
            raise AirflowException(
                f"{self.task_id} was stopped by SIGTERM while its run goes on (task cleared or its worker shut "
                "down); every batch applied so far is recorded, and a retry of this task resumes from there."
            )
        outcome["stop_reason"] = CANCELLED
        self._record_cancelled(context, store, outcome)
        store.release_lock(SYNC_LOCK, run_id)
        try:  # lets record_run (when it runs at all, e.g. under dag.test) report the run as cancelled
            ti.xcom_push("return_value", outcome)
        except Exception as exc:  # noqa: BLE001 - the run is over; the history row above already says it
            self.log.info("Could not push the stopped result to XCom (%s); the history row has it", type(exc).__name__)
        raise AirflowFailException(
            f"Run {run_id} was cancelled: {self.task_id} stopped before its next batch. Every batch applied so "
            "far is recorded and the sync lock is released; the next run resumes from here."
        )

    def _run_has_ended(self, context: Context) -> bool:
        """Whether Airflow says this task's run is over (marked failed or success), not just this task."""
        try:
            active = context["ti"].get_dr_count(dag_id=self.dag_id, run_ids=[str(context["run_id"])],
                                                states=list(ACTIVE_RUN_STATES))
        except Exception as exc:  # noqa: BLE001 - no answer within the 5 s window: treat it as a cancel
            self.log.warning("Could not ask Airflow for this run's state (%s); treating the stop as a cancel",
                             type(exc).__name__)
            return True
        return active == 0

    def _record_cancelled(self, context: Context, store: StateStore, outcome: dict[str, object]) -> None:
        """The history row of a cancelled run: record_run never runs once the run is marked failed."""
        from sync_engine.history import history_counts
        from sync_operators.record import APPLY_TASKS, EXTRACT_TASKS

        run_id = str(context["run_id"])
        if store.get_run(run_id) is None:
            return
        ti = context["ti"]
        results: dict[str, TaskResult] = {self.task_id: outcome}
        for task in ("plan", *EXTRACT_TASKS, *APPLY_TASKS):
            if task not in results:
                try:
                    results[task] = dict(ti.xcom_pull(task_ids=task) or {})
                except Exception:  # noqa: BLE001 - counts are best effort; the status is what matters
                    results[task] = {}
        try:
            preflight_calls = dict(ti.xcom_pull(task_ids="preflight", key="api_calls") or {})
        except Exception:  # noqa: BLE001 - as above
            preflight_calls = {}
        applies = [results[task] for task in APPLY_TASKS]
        calls = {"heymarket": ("extract_heymarket", "apply_heymarket"),
                 "salesforce": ("extract_salesforce_contact", "extract_salesforce_lead", "apply_salesforce")}
        api_calls = {system: _sum_calls([preflight_calls.get(system), *(results[t].get("api_calls") for t in tasks)])
                     for system, tasks in calls.items()}
        store.finish_run(run_id, status="cancelled", counts=history_counts(results["plan"].get("counts"), applies),
                         api_calls=api_calls, error_summary=f"cancelled during {self.task_id}")
        self.log.warning("Run %s recorded as cancelled", run_id)


    #: The create action this task applies (an earlier attempt's checkpointed creates of it are skipped).
    create_action: str = ""

    def _prepare(self, system: str) -> tuple[RunInfo, SyncConfig, RunFolder, str, StateStore,
                                             StoreApplyState, dict[str, pd.DataFrame]] | None:
        """What both apply stages start with; ``None`` for a dry run (nothing is written).

        Holds the sync lock for this run, opens the state, and reads the plan without the creates an earlier
        attempt of this run already applied and recorded.
        """
        from sync_engine.plan import Plan
        from sync_engine.stages.results import PlanResult
        from sync_operators.adapters import StoreApplyState
        from sync_operators.runtime import open_state_store

        info = self.run_info()
        if info["dry_run"]:
            self.log.info("Dry run: nothing is written to %s (the plan's counts are what would be written)", system)
            return None
        config = self.load_config()
        folder = self.run_folder()
        run_id = str(info["run_id"])
        store = open_state_store(config.state.conn_id)
        self._hold_lock(store, run_id)
        state = StoreApplyState(store, lock_run_id=run_id, lock_ttl_seconds=LOCK_TTL_SECONDS)
        planned = Plan.from_dir(PlanResult.from_xcom(self.xcom_value(self.plan)).path).actions
        snapshot = folder.read_frame("links.parquet") if folder.exists("links.parquet") else None
        actions = skip_checkpointed_creates(planned, links_if_creates(planned, store, self.create_action),
                                            self.log.info, snapshot, creates=(self.create_action,))
        return info, config, folder, run_id, store, state, actions


class HeymarketApplyOperator(_ApplyOperator):
    """Links/unlinks, then creates and updates contacts in batches of 100, then deletes (where enabled).

    :param heymarket_extract: the Heymarket extract task's output (templated): the custom fields' ids.
    """

    create_action = "create_heymarket"
    template_fields: Sequence[str] = (*_ApplyOperator.template_fields, "heymarket_extract")

    def __init__(self, *, heymarket_extract: Mapping[str, object] | XComArg, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.heymarket_extract = heymarket_extract

    def execute(self, context: Context) -> dict[str, object]:
        from sync_engine.apply import ApplyResult, PlanApplier
        from sync_engine.settings import direction_keys
        from sync_engine.stages.results import HeymarketExtractResult
        from sync_operators.adapters import HookHeymarketWriter, uuid_map
        from sync_operators.runtime import heymarket_hook

        prepared = self._prepare("Heymarket")
        if prepared is None:
            return self._result_dict(ApplyResult(), {}, dry_run=True)
        info, config, folder, run_id, store, state, actions = prepared
        result = ApplyResult()
        hook = heymarket_hook(config)
        quiet_batch_lines(hook)
        field_ids = HeymarketExtractResult.from_xcom(self.xcom_value(self.heymarket_extract)).field_ids
        to_hm, to_sf = direction_keys(config, list(info["objects"]))
        applier = PlanApplier(state, run_id, to_hm, to_sf, stop=self._stop_check(store, run_id),
                              batch_size_heymarket=config.heymarket.batch_size, progress=self.log.info,
                              heymarket_in_flight=config.heymarket.calls_in_flight)
        delete_objects: set[str] = {name for name in info["objects"] if config.object_config(name).delete_in_heymarket}
        applier.apply_heymarket(actions, HookHeymarketWriter(hook), field_ids, uuid_map(folder, store),
                                delete_objects, result)
        self.log.info("Heymarket apply: %s%s", describe_applied(result.as_dict()),
                      f"; stopped early: {result.stop_reason}" if result.stopped else "")
        return self._finish(context, store, result, dict(hook.api_calls))


class SalesforceApplyOperator(_ApplyOperator):
    """Auto-creates Contacts/Leads and updates mapped fields through sObject Collections (Bulk 2.0 when big).

    Before every batch it checks the org's daily API budget; when the configured reserve is reached it
    stops cleanly and the run ends ``partial``.

    :param batch_size: records per sObject Collections call (Salesforce's maximum, 200, by default); smaller
        batches checkpoint more often, at the cost of more API calls.
    """

    create_action = "create_salesforce"

    def __init__(self, *, batch_size: int = 200, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 1 <= batch_size <= 200:
            raise ValueError(f"{self.task_id}: batch_size must be 1..200 (sObject Collections), got {batch_size}")
        self.batch_size = batch_size

    def execute(self, context: Context) -> dict[str, object]:
        from salesforce_access import SalesforceAccess
        from sync_engine.apply import ApplyResult, PlanApplier
        from sync_engine.settings import direction_keys
        from sync_operators.adapters import AccessSalesforceWriter, uuid_map

        prepared = self._prepare("Salesforce")
        if prepared is None:
            return self._result_dict(ApplyResult(), {}, dry_run=True)
        info, config, folder, run_id, store, state, actions = prepared
        result = ApplyResult()
        access = SalesforceAccess(config.salesforce.conn_id, bulk_threshold=config.salesforce.bulk_threshold)
        to_hm, to_sf = direction_keys(config, list(info["objects"]))
        reserve = config.salesforce.min_daily_api_remaining
        lock_and_cancel = self._stop_check(store, run_id)

        def stop_reason() -> str | None:
            reason = lock_and_cancel()
            if reason:
                return reason
            budget = access.daily_budget(refresh=False)
            if budget.max and budget.remaining <= reserve:
                return (f"Salesforce daily API budget reserve reached ({budget.remaining} of {budget.max} left, "
                        f"reserve {reserve}); the rest is applied by a later run")
            return None

        applier = PlanApplier(state, run_id, to_hm, to_sf, stop=stop_reason, batch_size_salesforce=self.batch_size,
                              progress=self.log.info)
        sf_fields: dict[str, dict[str, str]] = {name: config.salesforce_fields(name) for name in info["objects"]}
        defaults: dict[str, dict[str, SalesforceValue]] = {
            name: dict(config.object_config(name).required_defaults) for name in info["objects"]}
        writer: SalesforceWriter = AccessSalesforceWriter(access)
        if int(context["ti"].try_number) > 1:
            since = dt.datetime.fromisoformat(str(info["started_at"])) - CREATED_SINCE_MARGIN
            self.log.info("Attempt %s of this task: Salesforce creates first look for records an earlier attempt "
                          "created but could not record", context["ti"].try_number)
            writer = FindBeforeCreate(writer, access, {n: f["phone"] for n, f in sf_fields.items()}, since)
        applier.apply_salesforce(actions, writer, sf_fields, defaults, uuid_map(folder, store), result)
        self.log.info("Salesforce apply: %s%s", describe_applied(result.as_dict()),
                      f"; stopped early: {result.stop_reason}" if result.stopped else "")
        return self._finish(context, store, result, dict(access.api_calls))


def links_if_creates(actions: Mapping[str, pd.DataFrame], store: StateStore,
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


#: How the resume message names each create action.
_CREATES: dict[str, str] = {"create_heymarket": "Heymarket contact", "create_salesforce": "Salesforce record"}


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

    def __init__(self, writer: SalesforceWriter, access: SalesforceAccess, phone_fields: Mapping[str, str],
                 created_since: dt.datetime) -> None:
        self.writer = writer
        self.access = access
        self.phone_fields = phone_fields
        self.created_since = created_since.astimezone(dt.UTC)

    def create(self, object_name: str, records: list[SalesforceRecord]) -> list[WriteOutcome]:
        from sync_engine.apply import WriteOutcome

        field = self.phone_fields[object_name]
        existing = self._created_by_phone(object_name, field, [str(r[field]) for r in records if r.get(field)])
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

    def _created_by_phone(self, object_name: str, field: str, phones: list[str]) -> dict[str, str]:
        return self.access.ids_created_since(object_name, field, phones, self.created_since)


def quiet_batch_lines(hook: HeymarketHook) -> None:
    """The hook's own INFO line per call ("batch 1/1, 100 sent ...") off for this hook instance.

    The applier sends one batch per hook call, so the hook numbers every call "batch 1/1"; the applier's own
    progress line says how far the whole write is. Warnings (retries, refusals) still show. The hook keeps its
    logger in ``_log`` (Airflow's ``LoggingMixin``); a plain ``logging`` logger at WARNING takes its place.
    """
    import logging

    quiet = logging.getLogger("heymarket_hook.batch_calls")
    quiet.setLevel(logging.WARNING)
    hook._log = quiet  # type: ignore[assignment]  # noqa: SLF001 - a stdlib logger in LoggingMixin's cache: the hook only logs lines


def _sum_calls(parts: Iterable[Mapping[str, int] | None]) -> dict[str, int]:
    """Per-endpoint API call counts of several tasks, added up (``None`` for a task that reported none)."""
    total: dict[str, int] = {}
    for calls in parts:
        for endpoint, n in dict(calls or {}).items():
            total[endpoint] = total.get(endpoint, 0) + int(n)
    return total
