"""preflight: check everything that can be checked before reading a record, then take the sync lock."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import TYPE_CHECKING

from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from sync_operators.run_info import RunInfo

#: A killed run cannot release its lock; apply tasks heartbeat it, so an idle lock older than this is stale.
LOCK_TTL_SECONDS = 15 * 60
#: XCom key under which preflight says the run's conf was refused (``record_run`` then writes nothing).
REFUSED_XCOM_KEY = "refused"


def run_type_name(dag_run: object) -> str:
    """``scheduled`` / ``manual`` / ... (``DagRunType`` is an enum whose ``str()`` is ``DagRunType.MANUAL``)."""
    run_type = getattr(dag_run, "run_type", None)
    return str(getattr(run_type, "value", run_type or "manual"))


class TransientPreflightError(Exception):
    """A connection is briefly unusable (down, 5xx, 429 after the clients' own retries).

    Not an ``AirflowFailException``: Airflow retries preflight with the DAG's retries and backoff.
    """


class PreflightOperator(SyncStageOperator):
    """Checks the run's params, config and credentials, the default inbox and the Salesforce API budget,
    decides the run mode, takes the lock.

    Returns the run dict every later stage receives (mode per side, objects, record ids per object, run
    folder, watermarks). What a retry cannot fix (unknown or wrong params, bad config, wrong credentials)
    fails at once with a message that says what to do; what usually passes (a connection briefly down, a
    5xx, a 429, the lock held by a running run) raises an ordinary exception, so the DAG's retries apply.
    """

    def execute(self, context: Context) -> RunInfo:
        from airflow.sdk.exceptions import AirflowFailException

        from salesforce_access.ids import check_record_ids
        from sync_engine.config import ConfigError
        from sync_operators import checks
        from sync_operators.params import ConfError, check_conf
        from sync_operators.runtime import RunFolder, open_state_store

        dag_run = context["dag_run"]
        run_id = context["run_id"]
        # First, before anything is read or written: Airflow itself accepts unknown conf keys silently.
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

        objects = [name for name in conf.objects if config.object_config(name).enabled]
        if not objects:
            raise AirflowFailException(
                f"No object to sync: the run asks for {' and '.join(conf.objects)}, but the config enables only "
                f"{' and '.join(config.enabled_objects()) or 'none'} (objects.<name>.enabled in {self.config_path})."
            )
        ids = check_record_ids(conf.record_ids, objects)
        if conf.record_ids and not ids.valid:
            raise AirflowFailException(
                "None of the record ids can be synced, so nothing was read or written: "
                + "; ".join(ids.problems.values()))
        for reason in ids.problems.values():
            self.log.warning("Record id not synced: %s", reason)

        found = checks.check_connections_and_mapping(config, objects, self.config_path)
        context["ti"].xcom_push(key="api_calls", value=found.api_calls)  # record_run adds them to the history
        if found.problems:
            raise AirflowFailException("Preflight failed:\n" + "\n".join(f"- {p}" for p in
                                                                      found.problems + found.transient))
        if found.transient:
            raise TransientPreflightError(
                "Preflight could not check a connection; this usually passes, so the task is retried (the DAG's "
                "retries, with backoff):\n" + "\n".join(f"- {p}" for p in found.transient))

        store = open_state_store(config.state.conn_id)
        modes = checks.decide_modes(store, config, objects, conf.mode, ids.valid,
                                    scheduled=run_type_name(dag_run) == "scheduled")
        self.take_sync_lock(store, context, LOCK_TTL_SECONDS)  # takes over the lock of a run that has ended

        runs_root = os.environ.get("HEYMARKET_SYNC_RUNS_ROOT") or config.state.runs_root
        folder = RunFolder(runs_root, self.dag_id, run_id)
        folder.ensure()
        for name, describe in found.describes.items():
            folder.write_text(f"describe_{name}.json", json.dumps(describe))
        info: RunInfo = {
            "dag_id": self.dag_id,
            "run_id": run_id,
            "runs_root": runs_root,
            "run_dir": folder.url,
            "config_path": self.config_path,
            "objects": objects,
            "record_ids": ids.valid,
            "record_ids_by_object": ids.by_object,
            "record_id_problems": ids.problems,
            "dry_run": conf.dry_run,
            "allow_mass_delete": conf.allow_mass_delete,
            "trigger": run_type_name(dag_run),
            "started_at": dt.datetime.now(dt.UTC).isoformat(),
            **modes,
        }
        store.start_run(
            run_id=run_id, dag_id=self.dag_id, trigger=info["trigger"], mode=str(modes["mode"]),
            objects=objects, dry_run=conf.dry_run,
            params={"record_ids": len(conf.record_ids), "allow_mass_delete": conf.allow_mass_delete},
        )
        self.log.info("Run %s: %s%s mode (Salesforce read %s, Heymarket read %s) of %s%s.", run_id,
                      "dry run, " if conf.dry_run else "", modes["mode"], modes["sf_mode"], modes["hm_mode"],
                      " and ".join(objects),
                      f", {len(ids.valid)} record id(s)" if conf.record_ids else "")
        return info
