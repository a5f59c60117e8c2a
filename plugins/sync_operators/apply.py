"""apply_heymarket / apply_salesforce: write the validated plan, batch by batch, checkpointed.

The stages are :func:`sync_engine.stages.apply_stage.run_heymarket_apply` and ``run_salesforce_apply`` (the
lock, the stop conditions, the resume of a retried attempt; see that module). What stays here is what needs
Airflow: ``on_kill`` (SIGTERM) sets the flag the stages check before every batch, and a task stopped that way
asks Airflow whether its run has ended. If it has (marked failed), the task records the run as ``cancelled``,
releases the lock and fails without retry; if the run goes on (only this task was stopped), it fails normally
so that Airflow's retry resumes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sync_engine.stages.record_stage import APPLY_TASKS, EXTRACT_TASKS
from sync_operators.base import ACTIVE_RUN_STATES, SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg

    from heymarket_hook import HeymarketHook
    from sync_engine.stages.apply_stage import AppliedResult, ApplyRequest
    from sync_engine.state import StateStore

Wired = Mapping[str, object] | None


class _ApplyOperator(SyncStageOperator):
    """Shared set-up of both apply stages: the wired inputs, the request, the end of a stopped task.

    :param plan: the plan task's output (templated; ``plan.output``): where the plan to apply is.
    :param extracts: extract task id -> its output (templated): the counts and calls of a cancelled run's row.
    :param applied_before: the apply tasks that ran before this one -> their outputs (templated), likewise.
    """

    template_fields: Sequence[str] = (*SyncStageOperator.template_fields, "plan", "extracts", "applied_before")

    def __init__(self, *, plan: Mapping[str, object] | XComArg,
                 extracts: Mapping[str, Mapping[str, object] | XComArg] | None = None,
                 applied_before: Mapping[str, Mapping[str, object] | XComArg] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, wired, known in (("extracts", extracts, EXTRACT_TASKS), ("applied_before", applied_before,
                                                                          APPLY_TASKS)):
            if not set(wired or {}) <= set(known):
                raise ValueError(f"{self.task_id}: {name} must be outputs of the tasks {list(known)}, got "
                                 f"{sorted(wired or {})}")
        self.plan = plan
        self.extracts = extracts or {}
        self.applied_before = applied_before or {}

    def request(self, context: Context) -> ApplyRequest:
        from sync_engine.stages.apply_stage import ApplyRequest

        info = self.run_info()
        return ApplyRequest(run_id=info.run_id, task_id=self.task_id, objects=info.objects, dry_run=info.dry_run,
                            started_at=info.started_at or None,
                            attempt=int(context["ti"].try_number or 1))

    def open_store(self) -> StateStore:
        from sync_operators.runtime import open_state_store

        return open_state_store(self.load_config().state.conn_id)

    def _applied(self, context: Context, store: StateStore, stage: Callable[[], AppliedResult],
                 last: bool = False) -> dict[str, object]:
        """Run the stage; the task's XCom result, or for a task stopped by SIGTERM an exception instead.

        :param last: the run's last apply: in a run validate held back but for its opt-outs, it fails the run
            with the guards' messages once it has written them (its result pushed first, for ``record_run``).
        :raises AirflowFailException: another run holds the sync lock (nothing was written), the run was
            cancelled under this task, or (*last*) guards held the plan back.
        """
        from airflow.sdk.exceptions import AirflowFailException

        from sync_engine.stages.apply_stage import WillNotWrite

        try:
            result = stage()
        except WillNotWrite as exc:
            raise AirflowFailException(str(exc)) from exc
        if result.stopped and self._stop.is_set():
            self._end_stopped(context, store, result)
        if last and result.held_back:
            context["ti"].xcom_push("return_value", result.to_xcom())
            raise AirflowFailException(result.held_back_message())
        return result.to_xcom()

    def _end_stopped(self, context: Context, store: StateStore, result: AppliedResult) -> None:
        """Within the 5 s between SIGTERM and SIGKILL: say how the run ended, free the lock if it is over."""
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        from sync_engine.stages.apply_stage import RunSoFar, record_cancelled
        from sync_engine.state import SYNC_LOCK

        run_id = str(context["run_id"])
        if not self._run_has_ended(context):
            raise AirflowException(
                f"{self.task_id} was stopped by SIGTERM while its run goes on (task cleared or its worker shut "
                "down); every batch applied so far is recorded, and a retry of this task resumes from there."
            )
        outcome = result.cancelled()
        so_far = RunSoFar(plan=self.xcom_value(self.plan),
                          extracts={t: self.xcom_value(v) for t, v in self.extracts.items()},
                          applies={t: self.xcom_value(v) for t, v in self.applied_before.items()},
                          preflight_calls=self.preflight_xcom(context, "api_calls") or {})
        if record_cancelled(store, self.request(context), outcome, so_far):
            self.log.warning("Run %s recorded as cancelled", run_id)
        store.release_lock(SYNC_LOCK, run_id)
        try:  # lets record_run (when it runs at all, e.g. under dag.test) report the run as cancelled
            context["ti"].xcom_push("return_value", outcome.to_xcom())
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


class HeymarketApplyOperator(_ApplyOperator):
    """Links/unlinks, then creates and updates contacts in batches of 100, then deletes (where enabled).

    :param heymarket_extract: the Heymarket extract task's output (templated): the custom fields' ids.
    """

    template_fields: Sequence[str] = (*_ApplyOperator.template_fields, "heymarket_extract")

    def __init__(self, *, heymarket_extract: Mapping[str, object] | XComArg, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.heymarket_extract = heymarket_extract

    def execute(self, context: Context) -> dict[str, object]:
        from sync_engine.stages.apply_stage import dry_run_apply, run_heymarket_apply
        from sync_engine.stages.results import HeymarketExtractResult, PlanResult
        from sync_operators.adapters import HookHeymarketWriter, StoreApplyState, uuid_map
        from sync_operators.runtime import heymarket_hook

        request = self.request(context)
        if request.dry_run:
            return dry_run_apply("Heymarket", self.log.info).to_xcom()
        config, folder, store = self.load_config(), self.run_folder(), self.open_store()
        hook = heymarket_hook(config)
        quiet_batch_lines(hook)
        return self._applied(context, store, lambda: run_heymarket_apply(
            request, PlanResult.from_xcom(self.xcom_value(self.plan)), config, folder, store,
            StoreApplyState(store, lock_run_id=request.run_id), HookHeymarketWriter(hook),
            HeymarketExtractResult.from_xcom(self.xcom_value(self.heymarket_extract)).field_ids,
            uuid_map(folder, store), stop_requested=self._stop.is_set, api_calls=lambda: hook.api_calls,
            progress=self.log.info))


class SalesforceApplyOperator(_ApplyOperator):
    """Auto-creates Contacts/Leads and updates mapped fields through sObject Collections (Bulk 2.0 when big).

    Before every batch it checks the org's daily API budget; when the configured reserve is reached it
    stops cleanly and the run ends ``partial``.

    :param batch_size: records per sObject Collections call (Salesforce's maximum, 200, by default); smaller
        batches checkpoint more often, at the cost of more API calls.
    """

    def __init__(self, *, batch_size: int = 200, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 1 <= batch_size <= 200:
            raise ValueError(f"{self.task_id}: batch_size must be 1..200 (sObject Collections), got {batch_size}")
        self.batch_size = batch_size

    def execute(self, context: Context) -> dict[str, object]:
        from salesforce_access import SalesforceAccess
        from sync_engine.stages.apply_stage import dry_run_apply, run_salesforce_apply
        from sync_engine.stages.results import PlanResult
        from sync_operators.adapters import AccessSalesforceWriter, StoreApplyState, uuid_map

        request = self.request(context)
        if request.dry_run:
            return dry_run_apply("Salesforce", self.log.info).to_xcom()
        config, folder, store = self.load_config(), self.run_folder(), self.open_store()
        access = SalesforceAccess(config.salesforce.conn_id, bulk_threshold=config.salesforce.bulk_threshold)
        return self._applied(context, store, lambda: run_salesforce_apply(
            request, PlanResult.from_xcom(self.xcom_value(self.plan)), config, folder, store,
            StoreApplyState(store, lock_run_id=request.run_id), AccessSalesforceWriter(access),
            uuid_map(folder, store), budget=lambda: access.daily_budget(refresh=False), created=access,
            batch_size=self.batch_size, stop_requested=self._stop.is_set, api_calls=lambda: access.api_calls,
            progress=self.log.info), last=True)


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
