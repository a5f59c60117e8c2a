"""preflight: check everything that can be checked before reading a record, then take the sync lock."""

from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING

from sync_engine.stages.preflight_stage import TransientPreflightError
from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from sync_engine.config import SyncConfig
    from sync_engine.stages.preflight_stage import PreflightRequest

__all__ = ["LOCK_TTL_SECONDS", "REFUSED_XCOM_KEY", "PreflightOperator", "TransientPreflightError", "run_type_name"]

#: A killed run cannot release its lock; apply tasks heartbeat it, so an idle lock older than this is stale.
LOCK_TTL_SECONDS = 15 * 60
#: XCom key under which preflight says the run's conf was refused (``record_run`` then writes nothing).
REFUSED_XCOM_KEY = "refused"


def run_type_name(dag_run: object) -> str:
    """``scheduled`` / ``manual`` / ... (``DagRunType`` is an enum whose ``str()`` is ``DagRunType.MANUAL``)."""
    run_type = getattr(dag_run, "run_type", None)
    return str(getattr(run_type, "value", run_type or "manual"))


class PreflightOperator(SyncStageOperator):
    """Checks the run's params, config and credentials, the default inbox and the Salesforce API budget,
    decides the run mode, takes the lock.

    The stage itself is :func:`sync_engine.stages.preflight_stage.run_preflight_stage`. Returns the run info
    every later stage receives (``RunInfo.to_xcom()``: mode per side, objects, record ids per object, run
    folder, watermarks). What a retry cannot fix (unknown or wrong params, bad config, wrong credentials)
    fails at once with a message that says what to do; what usually passes (a connection briefly down, a
    5xx, a 429, the lock held by a running run) raises an ordinary exception, so the DAG's retries apply.
    """

    def execute(self, context: Context) -> dict[str, object]:
        from airflow.sdk.exceptions import AirflowFailException

        from salesforce_access.ids import check_record_ids
        from sync_engine.stages.preflight_stage import PreflightFailed, run_preflight_stage
        from sync_operators.checks import check_connections_and_mapping
        from sync_operators.runtime import RunFolder, open_state_store

        request, config = self._request(context)
        ti = context["ti"]
        try:
            info = run_preflight_stage(
                request, config, lambda: open_state_store(config.state.conn_id),
                RunFolder(request.runs_root, request.dag_id, request.run_id), check_ids=check_record_ids,
                check_connections=partial(check_connections_and_mapping, config_path=self.config_path),
                take_lock=lambda store: self.take_sync_lock(store, context, LOCK_TTL_SECONDS),
                api_calls=lambda calls: ti.xcom_push(key="api_calls", value=calls),  # record_run adds them up
                progress=self.log.info, warn=self.log.warning)
        except PreflightFailed as exc:
            raise AirflowFailException(str(exc)) from exc
        return info.to_xcom()

    def _request(self, context: Context) -> tuple[PreflightRequest, SyncConfig]:
        """The run's params, checked first, before anything is read or written (Airflow itself accepts unknown
        conf keys silently: refused params are pushed for ``record_run`` and fail the task), then the config.
        """
        from airflow.sdk.exceptions import AirflowFailException

        from sync_engine.config import ConfigError
        from sync_engine.stages.preflight_stage import PreflightRequest
        from sync_operators.params import ConfError, check_conf
        from sync_operators.runtime import RunFolder

        dag_run, run_id = context["dag_run"], str(context["run_id"])
        try:
            conf = check_conf(getattr(dag_run, "conf", None) or {})
        except ConfError as exc:
            message = f"The run's params were refused, nothing was read or written: {exc}"
            context["ti"].xcom_push(key=REFUSED_XCOM_KEY, value=message)
            raise AirflowFailException(message) from exc
        try:
            config = self.load_config()
        except (ConfigError, OSError) as exc:
            raise AirflowFailException(f"The sync config cannot be used: {exc}") from exc
        root = os.environ.get("HEYMARKET_SYNC_RUNS_ROOT") or config.state.runs_root
        return PreflightRequest(
            dag_id=self.dag_id, run_id=run_id, runs_root=root, run_dir=RunFolder(root, self.dag_id, run_id).url,
            config_path=self.config_path, objects=tuple(conf.objects), mode=conf.mode,
            record_ids=tuple(conf.record_ids), dry_run=conf.dry_run, allow_mass_delete=conf.allow_mass_delete,
            trigger=run_type_name(dag_run)), config
