"""preflight: check everything that can be checked before reading a record, then take the sync lock."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import TYPE_CHECKING

from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

#: A killed run cannot release its lock; apply tasks heartbeat it, so an idle lock older than this is stale.
LOCK_TTL_SECONDS = 15 * 60


def run_type_name(dag_run: object) -> str:
    """``scheduled`` / ``manual`` / ... (``DagRunType`` is an enum whose ``str()`` is ``DagRunType.MANUAL``)."""
    run_type = getattr(dag_run, "run_type", None)
    return str(getattr(run_type, "value", run_type or "manual"))


class PreflightOperator(SyncStageOperator):
    """Validates config and credentials, checks the Salesforce API budget, decides the run mode, locks.

    Returns the run dict every later stage receives (mode per side, objects, record ids, run folder,
    watermarks). Problems a retry cannot fix (bad config, wrong credentials, lock held) fail at once with
    a message that says what to do.
    """

    def execute(self, context: Context) -> dict[str, object]:
        from airflow.sdk.exceptions import AirflowFailException

        from sync_operators import checks
        from sync_operators.runtime import RunFolder, open_state_store

        params = context["params"]
        dag_run = context["dag_run"]
        run_id = context["run_id"]
        from sync_engine.config_loader import ConfigError

        try:
            config = self.load_config()
        except (ConfigError, OSError) as exc:
            raise AirflowFailException(f"The sync config cannot be used: {exc}") from exc

        objects = [name for name in params.get("objects") or ["Contact", "Lead"] if config.object_config(name).enabled]
        if not objects:
            raise AirflowFailException(
                f"No object to sync: params.objects={params.get('objects')} but enabled in the config are "
                f"{list(config.enabled_objects())}."
            )
        record_ids = sorted(set(params.get("record_ids") or []))

        problems, describes, api_calls = checks.check_connections_and_mapping(config, objects)
        context["ti"].xcom_push(key="api_calls", value=api_calls)  # record_run adds them to the history row
        if problems:
            raise AirflowFailException("Preflight failed:\n" + "\n".join(f"- {p}" for p in problems))

        store = open_state_store(config.state.conn_id)
        modes = checks.decide_modes(store, config, objects, str(params.get("mode", "incremental")), record_ids,
                                    scheduled=run_type_name(dag_run) == "scheduled")
        self.take_sync_lock(store, context, LOCK_TTL_SECONDS)  # takes over the lock of a run that has ended

        runs_root = os.environ.get("HEYMARKET_SYNC_RUNS_ROOT") or config.state.runs_root
        folder = RunFolder(runs_root, self.dag_id, run_id)
        folder.ensure()
        for name, describe in describes.items():
            folder.write_text(f"describe_{name}.json", json.dumps(describe))
        info: dict[str, object] = {
            "dag_id": self.dag_id,
            "run_id": run_id,
            "runs_root": runs_root,
            "run_dir": folder.url,
            "config_path": self.config_path,
            "objects": objects,
            "record_ids": record_ids,
            "dry_run": bool(params.get("dry_run")),
            "allow_mass_delete": bool(params.get("allow_mass_delete")),
            "trigger": run_type_name(dag_run),
            "started_at": dt.datetime.now(dt.UTC).isoformat(),
            **modes,
        }
        store.start_run(
            run_id=run_id, dag_id=self.dag_id, trigger=info["trigger"], mode=str(modes["mode"]),
            objects=objects, dry_run=bool(info["dry_run"]),
            params={"record_ids": len(record_ids), "allow_mass_delete": info["allow_mass_delete"]},
        )
        self.log.info("Run %s: mode=%s (salesforce %s, heymarket %s), objects=%s, record_ids=%d, dry_run=%s",
                      run_id, modes["mode"], modes["sf_mode"], modes["hm_mode"], objects, len(record_ids),
                      info["dry_run"])
        return info
