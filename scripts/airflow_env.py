"""Run the DAGs in-process (``dag.test()``) against the sandbox: the environment and the metadata DB.

Used by ``make sync`` and ``make demo``. The Airflow home is ``.airflow/`` in the checkout unless
``AIRFLOW_HOME`` is set; ``.sandbox/env`` (written by ``make sandbox-up``) supplies the connections.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def prepare_environment(sandbox_env: Path | None = None) -> None:
    """Set the Airflow and connection variables; must run before ``airflow`` is imported.

    :param sandbox_env: the env file to read (default: the sandbox's, ``.sandbox/env``).
    """
    from emulators.sandbox import ENV_FILE, read_env

    sandbox_env = ENV_FILE if sandbox_env is None else sandbox_env
    if sandbox_env.exists():
        # The sandbox's values win over the machine's (e.g. a system-wide REQUESTS_CA_BUNDLE).
        os.environ.update(read_env(sandbox_env))
    home = Path(os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow")))
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO / "plugins"))
    os.environ.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
    # Task logs go to the terminal with dag.test(); warnings and errors are enough there (the summary is
    # printed at the end). LOG_LEVEL=INFO shows every task's progress lines.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", os.environ.get("LOG_LEVEL", "WARNING"))
    os.environ.setdefault("HEYMARKET_SYNC_RUNS_ROOT", str(home / "runs"))
    for path in (str(REPO), str(REPO / "plugins")):
        if path not in sys.path:
            sys.path.insert(0, path)


def ensure_metadata_db() -> None:
    """Create or upgrade Airflow's metadata DB (idempotent; a few seconds the first time)."""
    from airflow.utils.db import upgradedb

    upgradedb()


def load_dag(dag_id: str):  # noqa: ANN201 - airflow.sdk.DAG, imported lazily
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    return bag.dags[dag_id]
