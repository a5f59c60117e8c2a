"""record_run: one history row per run, watermarks advanced, lock released — also when something failed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sync_operators.alerts import counts_line
from sync_operators.base import FAILURE_XCOM_KEY, SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg

    from sync_engine.drift import Drift
    from sync_engine.history import TaskResult
    from sync_engine.state import StateStore

EXTRACT_TASKS = ("extract_salesforce_contact", "extract_salesforce_lead", "extract_heymarket")
SALESFORCE_EXTRACTS = EXTRACT_TASKS[:2]
APPLY_TASKS = ("apply_heymarket", "apply_salesforce")
#: The DAG's last task (empty): it needs every stage and record_run to succeed, so it decides the run's state.
RUN_STATE_TASK = "sync_ok"
#: XCom key of the run's note (why it failed or wrote less); ``sync_run_note_plugin`` copies it onto the
#: Airflow run's note when the run ends.
NOTE_XCOM_KEY = "run_note"
#: Why a requested record id that preflight let through was not synced, when Salesforce did not return it.
NOT_FOUND = ("'{id}' was not found in Salesforce (deleted, merged, or not visible to the integration user); "
             "check the id on the record")


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
                                 f"{sorted(wired)} (a renamed task must be renamed in sync_operators.record too)")
        self.extracts = extracts
        self.plan = plan
        self.applies = applies

    def execute(self, context: Context) -> dict[str, object]:
        from sync_engine.drift import with_drift
        from sync_engine.history import history_counts, run_note, run_status, summary_table
        from sync_engine.state import SYNC_LOCK
        from sync_operators.preflight import REFUSED_XCOM_KEY, run_type_name
        from sync_operators.runtime import open_state_store

        ti = context["ti"]
        run_id = context["run_id"]
        refused = ti.xcom_pull(task_ids="preflight", key=REFUSED_XCOM_KEY)
        if refused:
            # The params were refused before anything was read or written: no history row, no lock to free.
            ti.xcom_push(key=NOTE_XCOM_KEY, value=str(refused))
            summary = f"Run {run_id}: REFUSED (not recorded in the sync history)\n\nWhy: {refused}"
            self.log.info("%s", summary)
            return {"status": "refused", "note": str(refused), "summary": summary}
        info = ti.xcom_pull(task_ids="preflight") or {}
        states = ti.get_task_states(dag_id=self.dag_id, run_ids=[run_id]).get(run_id, {})
        # the stages only: sync_ok (the DAG's last task) waits for this one and says nothing about the run yet
        states = {task: (str(state) if state is not None else None) for task, state in states.items()
                  if task != RUN_STATE_TASK}
        extracts: dict[str, TaskResult] = {task: self.xcom_value(self.extracts[task]) for task in EXTRACT_TASKS}
        plan: TaskResult = self.xcom_value(self.plan)
        applies: list[TaskResult] = [self.xcom_value(self.applies[task]) for task in APPLY_TASKS]
        dry_run = bool(info.get("dry_run", context["params"].get("dry_run")))

        unsynced = unsynced_record_ids(info, extracts) if states.get("plan") == "success" else {}
        status = run_status(states, applies, dry_run, unsynced_records=len(unsynced))
        counts = history_counts(plan.get("counts"), applies, planned=dry_run)
        preflight_calls = ti.xcom_pull(task_ids="preflight", key="api_calls") or {}
        api_calls = {
            "salesforce": _merge_calls([{"api_calls": preflight_calls.get("salesforce")},
                                        extracts["extract_salesforce_contact"], extracts["extract_salesforce_lead"],
                                        applies[1]]),
            "heymarket": _merge_calls([{"api_calls": preflight_calls.get("heymarket")}, extracts["extract_heymarket"],
                                       applies[0]]),
        }
        reasons = {task: ti.xcom_pull(task_ids=task, key=FAILURE_XCOM_KEY)
                   for task, state in states.items() if state == "failed" and task != self.task_id}
        error_summary = run_note(states, reasons, dict(zip(APPLY_TASKS, applies, strict=True)), unsynced)

        store = open_state_store(self._state_conn_id())
        if store.get_run(run_id) is None:  # preflight failed before it could open the history row
            params = context["params"]
            store.start_run(run_id=run_id, dag_id=self.dag_id, trigger=run_type_name(context["dag_run"]),
                            mode=str(params.get("mode") or ""), objects=list(params.get("objects") or []),
                            dry_run=dry_run)
        if watermarks_may_advance(status, applies) and info and not info.get("record_ids"):
            self._advance_watermarks(store, info, extracts, run_id)
        drift = self._measure_drift(store, info, plan, states, applies, dry_run)
        store.finish_run(run_id, status=status, counts=with_drift(counts, drift), api_calls=api_calls,
                         error_summary=error_summary)
        store.release_lock(SYNC_LOCK, run_id)
        # What the summary shows: a run that planned writes but applied none (dry run, guard, failure before
        # the apply) lists them as "would create ..."; the history row above keeps only what was written.
        planned = dry_run or (bool(plan.get("counts")) and not any(a.get("counts") for a in applies))
        shown = history_counts(plan.get("counts"), applies, planned=planned)
        calls = {k: sum(v.values()) for k, v in api_calls.items()}
        summary = summary_table(run_id, status, with_drift(shown, drift), calls, error_summary, planned=planned)
        self.log.info("Run recorded in the sync history.\n%s", summary)
        if error_summary:
            ti.xcom_push(key=NOTE_XCOM_KEY, value=error_summary)
        if status == "failed":
            ti.xcom_push(key="summary", value=summary)  # kept for readers of the older failed-run shape
        # After the history row and the lock: a channel that fails is logged, never raised.
        self._alert(run_id=run_id, status=status, dry_run=dry_run, error_summary=error_summary,
                    counts=counts_line(shown, calls, planned=planned), guard_stopped=guard_stopped(info, states))
        return {"status": status, "counts": with_drift(counts, drift), "api_calls": api_calls, "summary": summary,
                "note": error_summary, "drift": {name: figures.as_dict() for name, figures in drift.items()}}

    def _measure_drift(self, store: StateStore, info: TaskResult, plan: TaskResult,
                       states: dict[str, str | None], applies: list[TaskResult], dry_run: bool) -> Drift:
        """The drift after the run (``sync_engine.drift``): pairs in and out of sync, records held back.

        Measured for every run that got past preflight (dry, failed and guard-stopped runs included: then it
        is what the systems hold now). A run that failed in preflight read nothing and may not hold the lock
        (another run may be writing), so it records none. Measuring never keeps the run from being recorded:
        a failure here is logged and the run is recorded without the figures.
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
            return measure_drift(store.load_active_pairs(objects), store.load_errors(), result, objects,
                                 unapplied_actions(dry_run, finished))
        except Exception as exc:  # noqa: BLE001 - the figures are extra; the run's record is not
            from sync_engine.state.redaction import scrub_message

            self.log.warning("The drift after run %s could not be measured (%s: %s); the run is recorded without "
                             "it", info.get("run_id"), type(exc).__name__, scrub_message(str(exc), 300))
            return {}

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

    def _state_conn_id(self) -> str:
        """The state connection from the config, or the default one when the config itself is broken."""
        from sync_engine.config import ConfigError

        try:
            return self.load_config().state.conn_id
        except (ConfigError, OSError):
            from sync_engine.config import StateConfig

            return StateConfig().conn_id

    def _advance_watermarks(self, store: StateStore, info: TaskResult, extracts: Mapping[str, TaskResult],
                            run_id: str) -> None:
        """Only after everything planned was attempted (see :func:`watermarks_may_advance`)."""
        import datetime as dt

        for name in info.get("objects", []):
            stamp = extracts.get(f"extract_salesforce_{str(name).lower()}", {}).get("max_modstamp")
            if stamp:
                store.set_watermark("salesforce", str(name), dt.datetime.fromisoformat(str(stamp)), run_id)
        stamp = extracts.get("extract_heymarket", {}).get("max_updated")
        if stamp:
            store.set_watermark("heymarket", "contacts", dt.datetime.fromisoformat(str(stamp)), run_id)


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


def watermarks_may_advance(status: str, applies: list[TaskResult]) -> bool:
    """After a successful run, and after a ``partial`` one whose every planned write was attempted.

    A stopped (budget, cancel) or failed run re-reads the same window next time. Records rejected one by
    one are not a reason to hold the watermarks back: they sit in the retry queue and the extractors
    re-read them by id when their retry is due. Holding back instead would make every later run re-read
    an ever longer window for as long as one record keeps failing.
    """
    if status == "success":
        return True
    return status == "partial" and not any(a.get("stopped") for a in applies)


def guard_stopped(info: TaskResult, states: dict[str, str | None]) -> bool:
    """Whether validate refused the plan because a guard tripped (its ``validation.json`` lists the trips).

    A validate that failed on expectations alone, or could not write its report, is an ordinary failure.
    """
    if states.get("validate") != "failed" or not all(info.get(key) for key in ("runs_root", "dag_id", "run_id")):
        return False
    import json

    from sync_operators.runtime import RunFolder

    folder = RunFolder(str(info["runs_root"]), str(info["dag_id"]), str(info["run_id"]))
    try:
        if not folder.exists("validation.json"):
            return False
        return bool(json.loads(folder.read_text("validation.json")).get("guards"))
    except (OSError, ValueError, AttributeError):
        return False


def _merge_calls(results: list[TaskResult]) -> dict[str, int]:
    """Sum the per-endpoint API call counts the tasks reported."""
    merged: dict[str, int] = {}
    for result in results:
        for endpoint, n in dict(result.get("api_calls") or {}).items():
            merged[endpoint] = merged.get(endpoint, 0) + int(n)
    return merged
