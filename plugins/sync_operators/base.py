"""The base of every stage operator: config path, the run dict from preflight, a cooperative stop flag, the lock.

The sync lock (a row in the state store, see ``sync_engine.state.lock``) keeps two runs from writing at the
same time. A run that ends normally releases it in ``record_run``. A run that is killed (worker lost,
SIGKILL) or marked failed never reaches ``record_run``, so its lock stays behind until its 15-minute lease
runs out. Waiting that long would break the promise that "the next run finishes the job", so
:meth:`SyncStageOperator.take_sync_lock` asks Airflow whether the holder run is still queued or running;
when Airflow says it has ended, the lock is taken over after a grace period in which Airflow is sure to
have killed whatever was left of that run's task.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from sync_operators.runtime import DEFAULT_CONFIG_PATH, RunFolder, StopFlag, load_sync_config

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg

    from sync_engine.config import SyncConfig
    from sync_engine.stages.results import RunInfo, SalesforceExtractResult
    from sync_engine.state import LockInfo, StateStore

#: Airflow's supervisor waits this long between SIGTERM and SIGKILL (``supervisor.kill(escalation_delay)``).
SIGTERM_TO_SIGKILL_SECONDS = 5.0
#: Extra time on top of the supervisor's worst case before a dead run's lock is taken over.
TAKEOVER_MARGIN_SECONDS = 5.0
#: Airflow states of a run that may still have a task writing (its lock must be respected).
ACTIVE_RUN_STATES = ("queued", "running")
#: XCom key under which a failed stage leaves the message it failed with, for ``record_run``'s history row.
FAILURE_XCOM_KEY = "failure"
#: Longest failure message kept in XCom.
FAILURE_CHARS = 2000


class SyncLockBusy(Exception):
    """The sync lock is held by another run that Airflow still reports as queued or running.

    Not an ``AirflowFailException``: Airflow retries the task with the DAG's backoff, because the other run
    ends. Only bad credentials, bad config, refused params and tripped guards fail a run at once.
    """


def remember_failure(context: Context) -> None:
    """``on_failure_callback`` of every stage: keep the exception's message where ``record_run`` finds it.

    The history row then says why a run failed ("Heymarket connection ...: could not reach ...") instead of
    only which task failed. Our exceptions carry ids, counts and fixes, never contact values or secrets.
    """
    exception = context.get("exception")
    if exception is None:
        return
    message = str(exception).strip() or type(exception).__name__
    context["ti"].xcom_push(key=FAILURE_XCOM_KEY, value=message[:FAILURE_CHARS])


class SyncStageOperator(BaseOperator):
    """Holds what all stages share; subclasses implement ``execute``.

    :param run: the dict returned by the preflight task (templated; pass ``preflight.output``).
    :param config_path: the sync YAML (templated; default ``include/mappings/sync.yaml`` or
        ``$HEYMARKET_SYNC_CONFIG``).
    """

    template_fields: Sequence[str] = ("run", "config_path")
    ui_color = "#e8f4fd"
    #: Seconds to wait before taking over the lock of a run that Airflow reports as ended. ``None``: the
    #: supervisor's worst case, i.e. ``[workers] min_heartbeat_interval`` (it notices the run ended on its
    #: next heartbeat) + 5 s (SIGTERM to SIGKILL) + a 5 s margin = 15 s with the defaults.
    stale_lock_grace_seconds: float | None = None

    def __init__(self, *, run: Mapping[str, object] | XComArg | None = None, config_path: str = DEFAULT_CONFIG_PATH,
                 **kwargs: Any) -> None:
        user_callbacks = kwargs.pop("on_failure_callback", None) or []
        if callable(user_callbacks):
            user_callbacks = [user_callbacks]
        super().__init__(on_failure_callback=[remember_failure, *user_callbacks], **kwargs)
        self.run = run
        self.config_path = config_path
        self._stop = StopFlag()
        #: preflight's other XComs (``refused``, ``api_calls``) are read from the task ``run`` is wired to, so a
        #: renamed preflight is renamed here too (its return value is what ``run`` renders to).
        self.preflight_task_id = str(getattr(getattr(run, "operator", None), "task_id", "preflight"))

    def pre_execute(self, context: Context) -> None:
        """Before ``execute``, in the task process: library loggers to WARNING, so the log is ours to read."""
        from sync_operators.runtime import quiet_library_logs

        quiet_library_logs()

    def on_kill(self) -> None:
        # Airflow 3.3 calls this from its SIGTERM handler (run marked failed, task cleared, worker shutting
        # down) and SIGKILLs the process 5 s later. Only set a flag here: the apply loops check it before
        # every batch, so the batch in flight is still written and checkpointed.
        self.log.warning("%s: stop requested; finishing the current batch and stopping", self.task_id)
        self._stop.set()

    def load_config(self) -> SyncConfig:
        return load_sync_config(self.config_path)

    def run_info(self) -> RunInfo:
        """Preflight's result, typed (it travels through XCom as plain JSON)."""
        from sync_engine.stages.results import RunInfo

        if not isinstance(self.run, Mapping):
            raise ValueError(f"{self.task_id} needs the preflight task's output as `run`, got {type(self.run)!r}")
        return RunInfo.from_xcom(self.run)

    def xcom_value(self, value: Mapping[str, object] | XComArg | None) -> Mapping[str, object]:
        """A wired task output after templating: the upstream task's result as plain JSON (``{}``: none).

        :raises ValueError: the value was never rendered (the operator is used outside a DAG run).
        """
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError(f"{self.task_id} needs an upstream task's output here, got {type(value)!r}")
        return value

    def salesforce_results(self, wired: Sequence[Mapping[str, object] | XComArg]) -> tuple[SalesforceExtractResult, ...]:
        """The wired Salesforce extract outputs, typed.

        :raises ValueError: one is not an extract result (a wiring mistake).
        """
        from sync_engine.stages.results import SalesforceExtractResult

        return tuple(SalesforceExtractResult.from_xcom(self.xcom_value(value)) for value in wired)

    def preflight_xcom(self, context: Context, key: str) -> Any:
        """One of preflight's XComs besides its return value (``None`` when it pushed none)."""
        return context["ti"].xcom_pull(task_ids=self.preflight_task_id, key=key)

    def run_folder(self) -> RunFolder:
        info = self.run_info()
        return RunFolder(info.runs_root, info.dag_id, info.run_id)

    # ------------------------------------------------------------------------------------ the sync lock

    def take_sync_lock(self, store: StateStore, context: Context, ttl_seconds: int) -> None:
        """Take the sync lock for this run, taking it over from a run that Airflow says has ended.

        Re-entrant (a retried task of the same run gets it back). A holder that Airflow reports as queued
        or running, or does not know at all (another deployment sharing the state database), keeps it
        until it releases it or its lease expires.

        :raises SyncLockBusy: another run holds the lock; the message says which and what to do. Airflow
            retries the task (the DAG's retries, with backoff): a busy lock is a wait, not a fault.
        """
        from sync_engine.state import SYNC_LOCK, LockHeld

        run_id = str(context["run_id"])
        if store.acquire_lock(SYNC_LOCK, run_id, ttl_seconds, raise_if_held=False):
            return
        holder = store.lock_holder(SYNC_LOCK)
        if holder is not None and self._holder_has_ended(context, store, holder):
            self._take_over(store, holder, run_id)
        try:
            store.acquire_lock(SYNC_LOCK, run_id, ttl_seconds)
        except LockHeld as exc:
            raise SyncLockBusy(f"{exc}. This task is retried (with the DAG's retries and backoff) and goes on once "
                               "that run has finished.") from exc

    def _holder_has_ended(self, context: Context, store: StateStore, holder: LockInfo) -> bool:
        """Whether Airflow knows the holder run and says it is neither queued nor running."""
        history = store.get_run(holder.holder_run_id)
        dag_id = str(history["dag_id"]) if history else self.dag_id
        ti = context["ti"]
        if not ti.get_dr_count(dag_id=dag_id, run_ids=[holder.holder_run_id]):
            self.log.warning("The sync lock is held by run %r, which Airflow does not know (DAG %s); it is "
                             "kept until its lease expires", holder.holder_run_id, dag_id)
            return False
        return not ti.get_dr_count(dag_id=dag_id, run_ids=[holder.holder_run_id], states=list(ACTIVE_RUN_STATES))

    def _take_over(self, store: StateStore, holder: LockInfo, run_id: str) -> None:
        """Wait until the ended run's task is surely gone, then remove its lock and close its history row."""
        from sync_engine.state import SYNC_LOCK

        grace = self._stale_lock_grace()
        self.log.warning(
            "The sync lock is held by run %r, which Airflow reports as ended (killed, marked failed, or lost "
            "with its worker); waiting %.0f s for any task of it to be gone, then taking the lock over",
            holder.holder_run_id, grace)
        time.sleep(grace)
        # Deletes the row only while that run still holds it: a lock that changed hands meanwhile is kept.
        if store.release_lock(SYNC_LOCK, holder.holder_run_id):
            self._close_abandoned_run(store, holder.holder_run_id, run_id)

    def _stale_lock_grace(self) -> float:
        if self.stale_lock_grace_seconds is not None:
            return float(self.stale_lock_grace_seconds)
        from airflow.sdk.configuration import conf

        heartbeat = conf.getfloat("workers", "min_heartbeat_interval", fallback=5.0)
        return heartbeat + SIGTERM_TO_SIGKILL_SECONDS + TAKEOVER_MARGIN_SECONDS

    def _close_abandoned_run(self, store: StateStore, abandoned_run_id: str, run_id: str) -> None:
        """The history row of a run that never reached ``record_run`` would say ``running`` forever."""
        row = store.get_run(abandoned_run_id)
        if row is None or row.get("status") != "running":
            return
        store.finish_run(
            abandoned_run_id, status="failed", counts=_json_object(row.get("counts")),
            api_calls=_json_object(row.get("api_calls")),
            error_summary=(f"ended without recording its result (task killed, worker lost or run marked failed); "
                           f"run {run_id} took over its sync lock and resumes the work"),
        )
        self.log.warning("Closed the history row of run %r as failed (it never recorded its end)", abandoned_run_id)


def _json_object(value: object) -> dict[str, Any]:
    """A JSON column of a history row as a dict (``{}`` when it holds none)."""
    return dict(value) if isinstance(value, Mapping) else {}
