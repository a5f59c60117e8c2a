"""record_run: one history row per run, watermarks advanced, lock released — also when something failed.

The stage itself is :func:`sync_engine.stages.record_stage.run_record_stage`; this operator gathers what it
needs (the wired task results, the task states, the failure messages), pushes the run's note and sends the
alerts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sync_engine.stages.record_stage import (
    APPLY_TASKS,
    EXTRACT_TASKS,
    NOT_FOUND,
    SALESFORCE_EXTRACTS,
    unsynced_record_ids,
    watermarks_may_advance,
)
from sync_operators.alerts import counts_line
from sync_operators.base import FAILURE_XCOM_KEY, SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg

    from sync_engine.config import HistoryConfig
    from sync_engine.history import TaskResult
    from sync_engine.stages.record_stage import RecordRequest
    from sync_operators.runtime import DagRunFolders, RunFolder

__all__ = ["APPLY_TASKS", "EXTRACT_TASKS", "NOT_FOUND", "SALESFORCE_EXTRACTS", "RecordRunOperator",
           "unsynced_record_ids", "watermarks_may_advance"]

#: The DAG's last task (empty): it needs every stage and record_run to succeed, so it decides the run's state.
RUN_STATE_TASK = "sync_ok"
#: XCom key of the run's note (why it failed or wrote less); ``sync_run_note_plugin`` copies it onto the
#: Airflow run's note when the run ends.
NOTE_XCOM_KEY = "run_note"


class RecordRunOperator(SyncStageOperator):
    """Runs with trigger rule ALL_DONE (whatever happened before it), records the run, succeeds when it did.

    It succeeds also when it recorded a *failed* run: the run's state comes from the DAG's last task,
    ``sync_ok``, which needs every stage to succeed, so a red run has a green ``record_run`` meaning "the
    failure is recorded", and a red ``record_run`` means the recording itself failed. A run whose params
    preflight refused is not recorded and sends no alert (nothing was read or written); its note says why.

    :param extracts: extract task id -> its output (templated; ``{task.task_id: task.output, ...}``).
    :param plan: the plan task's output (templated).
    :param applies: apply task id -> its output (templated).
    """

    template_fields: Sequence[str] = (*SyncStageOperator.template_fields, "extracts", "plan", "applies")

    def __init__(self, *, extracts: Mapping[str, Mapping[str, object] | XComArg],
                 plan: Mapping[str, object] | XComArg,
                 applies: Mapping[str, Mapping[str, object] | XComArg], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, wired, expected in (("extracts", extracts, EXTRACT_TASKS), ("applies", applies, APPLY_TASKS)):
            if set(wired) != set(expected):
                raise ValueError(f"{self.task_id}: {name} must be the outputs of the tasks {list(expected)}, got "
                                 f"{sorted(wired)} (a renamed task must be renamed in sync_engine.stages too)")
        self.extracts = extracts
        self.plan = plan
        self.applies = applies

    def execute(self, context: Context) -> dict[str, object]:
        from sync_engine.stages.record_stage import run_record_stage
        from sync_operators.preflight import REFUSED_XCOM_KEY
        from sync_operators.runtime import open_state_store

        ti = context["ti"]
        refused = self.preflight_xcom(context, REFUSED_XCOM_KEY)
        if refused:
            return self._refused(context, str(refused))
        request = self._request(context)
        result = run_record_stage(request, open_state_store(self._state_conn_id()), self._files(request.info),
                                  progress=self.log.info, warn=self.log.warning, folders=self._folders(request.info))
        if result.note:
            ti.xcom_push(key=NOTE_XCOM_KEY, value=result.note)
        if result.status == "failed":
            ti.xcom_push(key="summary", value=result.summary)  # kept for readers of the older failed-run shape
        # After the history row and the lock: a channel that fails is logged, never raised.
        self._alert(run_id=request.run_id, status=result.status, dry_run=request.dry_run, error_summary=result.note,
                    counts=counts_line(result.shown, result.calls, planned=result.planned),
                    guard_stopped=result.guard_stopped)
        return result.to_xcom()

    def _refused(self, context: Context, refused: str) -> dict[str, object]:
        """The params were refused before anything was read or written: no history row, no lock to free."""
        context["ti"].xcom_push(key=NOTE_XCOM_KEY, value=refused)
        summary = f"Run {context['run_id']}: REFUSED (not recorded in the sync history)\n\nWhy: {refused}"
        self.log.info("%s", summary)
        return {"status": "refused", "note": refused, "summary": summary}

    def _request(self, context: Context) -> RecordRequest:
        """What the stage needs: the wired results, the task states, the failure messages, preflight's calls."""
        from sync_engine.stages.record_stage import RecordRequest
        from sync_operators.preflight import run_type_name

        ti = context["ti"]
        run_id = str(context["run_id"])
        info: TaskResult = self.xcom_value(self.run)
        states = ti.get_task_states(dag_id=self.dag_id, run_ids=[run_id]).get(run_id, {})
        # the stages only: sync_ok (the DAG's last task) waits for this one and says nothing about the run yet
        states = {task: (str(state) if state is not None else None) for task, state in states.items()
                  if task != RUN_STATE_TASK}
        params = context["params"]
        history = self._history_config()
        return RecordRequest(
            run_id=run_id, dag_id=self.dag_id, info=info, states=states,
            reasons={task: ti.xcom_pull(task_ids=task, key=FAILURE_XCOM_KEY)
                     for task, state in states.items() if state == "failed" and task != self.task_id},
            extracts={task: self.xcom_value(value) for task, value in self.extracts.items()},
            plan=self.xcom_value(self.plan), applies={task: self.xcom_value(value) for task, value in self.applies.items()},
            preflight_calls=self.preflight_xcom(context, "api_calls") or {},
            dry_run=bool(info.get("dry_run", params.get("dry_run"))), trigger=run_type_name(context["dag_run"]),
            mode=str(params.get("mode") or ""), objects=tuple(params.get("objects") or []),
            record_outcome_days=history.record_outcome_days, run_folder_days=history.run_folder_days)

    @staticmethod
    def _files(info: TaskResult) -> RunFolder | None:
        """The run folder preflight made (``None`` when it made none)."""
        if not all(info.get(key) for key in ("runs_root", "dag_id", "run_id")):
            return None
        from sync_operators.runtime import RunFolder

        return RunFolder(str(info["runs_root"]), str(info["dag_id"]), str(info["run_id"]))

    def _alert(self, *, run_id: str, status: str, dry_run: bool, error_summary: str | None, counts: str,
               guard_stopped: bool) -> None:
        """Tell the config's ``alerts:`` channels about a failed, partial or guard-stopped run (once per run).

        Never raises: each channel's failure is logged by ``send_run_alerts``, anything else here too.
        """
        from sync_engine.config import ConfigError
        from sync_operators.alerts import RunAlert, alert_event, run_link, scrub, send_run_alerts

        event = alert_event(status, dry_run=dry_run, guard_stopped=guard_stopped)
        if event is None:
            return
        try:
            alerts = self.load_config().alerts
        except (ConfigError, OSError):
            self.log.warning("Run %s ended %s, but no alert was sent: the sync config (which names the alert "
                             "channels) cannot be read; its problems are in the preflight log", run_id, event)
            return
        if alerts is None:
            return
        try:
            alert = RunAlert.build(dag_id=self.dag_id, run_id=run_id, event=event, status=status,
                                   error_summary=error_summary, counts=counts, link=run_link(self.dag_id, run_id))
            send_run_alerts(alert, alerts, self.log)
        except Exception as exc:  # noqa: BLE001 - an alert must never fail the run or hide why it failed
            self.log.warning("Run %s ended %s; its alert could not be prepared: %s", run_id, event,
                             scrub(f"{type(exc).__name__}: {exc}", urls=True))

    @staticmethod
    def _folders(info: TaskResult) -> DagRunFolders | None:
        """Every run folder of the DAG (``None`` when preflight never got to the runs root)."""
        if not all(info.get(key) for key in ("runs_root", "dag_id")):
            return None
        from sync_operators.runtime import DagRunFolders

        return DagRunFolders(str(info["runs_root"]), str(info["dag_id"]))

    def _history_config(self) -> HistoryConfig:
        """The config's retentions, or the defaults when the config itself is broken."""
        from sync_engine.config import ConfigError, HistoryConfig

        try:
            return self.load_config().history
        except (ConfigError, OSError):
            return HistoryConfig()

    def _state_conn_id(self) -> str:
        """The state connection from the config, or the default one when the config itself is broken."""
        from sync_engine.config import ConfigError

        try:
            return self.load_config().state.conn_id
        except (ConfigError, OSError):
            from sync_engine.config import StateConfig

            return StateConfig().conn_id
