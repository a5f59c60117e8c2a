"""Run the DAGs in-process (``dag.test()``) against the sandbox: the environment and the metadata DB.

Used by ``make sync``, ``make setup`` and ``make demo``. The Airflow home is ``.airflow/`` in the checkout
unless ``AIRFLOW_HOME`` is set; ``.sandbox/env`` (written by ``make sandbox-up``) supplies the connections.

One make command at a time uses an Airflow home (:class:`LocalHome`, a lock file held while it runs). So when
a make command starts, any run of this home's own metadata DB that still says ``queued`` or ``running`` was
left so by one that was killed (SIGKILL, a closed terminal): :func:`fail_abandoned_runs` marks those runs
failed, and the sync lock such a run still holds in the state store is taken over at once instead of after
its 15-minute lease.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from scripts.terminal import quiet_airflow_logging, silence_library_warnings

REPO = Path(__file__).resolve().parents[1]
#: The DAGs the make targets run; only their runs are ever marked failed here.
MAKE_DAG_IDS = ("heymarket_sync", "heymarket_setup")
#: Held (``flock``) by the make command using the Airflow home; the kernel releases it when that process dies.
HOME_LOCK = "make-targets.lock"


class ConfError(ValueError):
    """``CONF`` is not what the DAG accepts; the message says what is wrong, on one line."""


def airflow_home() -> Path:
    """``$AIRFLOW_HOME``, or ``.airflow/`` in the checkout."""
    return Path(os.environ.get("AIRFLOW_HOME") or REPO / ".airflow")


def prepare_environment(sandbox_env: Path | None = None) -> None:
    """Set the Airflow and connection variables; must run before ``airflow`` is imported.

    :param sandbox_env: the env file to read (default: the sandbox's, ``.sandbox/env``).
    """
    from emulators.sandbox import ENV_FILE, read_env

    silence_library_warnings()
    sandbox_env = ENV_FILE if sandbox_env is None else sandbox_env
    if sandbox_env.exists():
        # The sandbox's values win over the machine's (e.g. a system-wide REQUESTS_CA_BUNDLE).
        os.environ.update(read_env(sandbox_env))
    home = airflow_home()
    os.environ["AIRFLOW_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO / "plugins"))
    os.environ.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
    # Task logs go to the terminal with dag.test(); warnings and errors are enough there (the summary is
    # printed at the end). LOG_LEVEL=INFO shows every task's progress lines, LOG_LEVEL=DEBUG everything.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", os.environ.get("LOG_LEVEL", "WARNING"))
    os.environ.setdefault("HEYMARKET_SYNC_RUNS_ROOT", str(home / "runs"))
    for path in (str(REPO), str(REPO / "plugins")):
        if path not in sys.path:
            sys.path.insert(0, path)


def ensure_metadata_db() -> None:
    """Create or upgrade Airflow's metadata DB (idempotent; a few seconds the first time)."""
    from airflow.utils.db import upgradedb

    quiet_airflow_logging()  # Airflow configured its logging on import
    upgradedb()


def load_dag(dag_id: str):  # noqa: ANN201 - airflow.sdk.DAG, imported lazily
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    return bag.dags[dag_id]


# --- CONF ---------------------------------------------------------------------------------------------


def read_conf(prog: str, example: str) -> dict[str, object]:
    """The run's params from the ``CONF`` environment variable (``make ... CONF='{...}'``), as a JSON object.

    It never passes through a shell: the Makefile exports it and this reads it as it is.

    :raises ConfError: not JSON, or not a JSON object.
    """
    raw = os.environ.get("CONF", "")
    if not raw.strip():
        return {}
    try:
        conf = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfError(f"{prog}: CONF is not valid JSON ({exc}): {raw}; example: CONF='{example}'") from None
    if not isinstance(conf, dict):
        raise ConfError(f"{prog}: CONF must be a JSON object, got {raw}; example: CONF='{example}'")
    return conf


def check_conf(prog: str, dag, conf: Mapping[str, object]) -> None:  # noqa: ANN001 - airflow.sdk.DAG
    """Validate ``conf`` against the DAG's params before anything runs (as Airflow's trigger form would).

    :raises ConfError: an unknown param, or a value its schema refuses.
    """
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    from sync_operators.params import suggestion

    params = copy.deepcopy(dag.params)
    unknown = sorted(set(conf) - set(params))
    if unknown:
        hints = [f"{key!r} (did you mean {hint!r}?)" if (hint := suggestion(key, sorted(params))) else repr(key)
                 for key in unknown]
        raise ConfError(f"{prog}: CONF has unknown param(s) {', '.join(hints)}; "
                        f"{dag.dag_id} takes {', '.join(sorted(params))}")
    for key, value in conf.items():
        try:
            params[key] = value
        except ParamValidationError as exc:
            first_line = str(exc).strip().splitlines()[0].removeprefix(f"Invalid input for param {key}: ")
            raise ConfError(f"{prog}: CONF param {key!r}: {first_line}") from None


# --- one make command per Airflow home -------------------------------------------------------------


class HomeBusy(RuntimeError):
    """Another make command is using this Airflow home right now."""


class LocalHome:
    """The Airflow home of the make targets, claimed for as long as this process lives.

    :param home: the ``AIRFLOW_HOME`` folder.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self._fd: int | None = None

    @classmethod
    def current(cls, prog: str) -> LocalHome:
        """This process's claim on ``$AIRFLOW_HOME``, made on the first call (``make demo`` runs twice)."""
        home = airflow_home()
        claimed = _CLAIMED.get(home)
        if claimed is None:
            claimed = _CLAIMED[home] = cls(home).claim(prog)
        return claimed

    def claim(self, prog: str) -> LocalHome:
        """Take the home's lock file; the kernel releases it when this process ends, however it ends.

        :raises HomeBusy: another make command holds it (its pid is in the message).
        """
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / HOME_LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise HomeBusy(f"{prog}: another make sync/setup/demo (pid {holder}) is using the Airflow home "
                           f"{self.home}; wait for it to end, or give this one a home of its own with "
                           "AIRFLOW_HOME=...") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    @property
    def claimed(self) -> bool:
        return self._fd is not None

    def metadata_db_is_local(self) -> bool:
        """Whether Airflow's metadata DB is a SQLite file inside this home (never a shared deployment's)."""
        from airflow.configuration import conf
        from sqlalchemy.engine import make_url

        url = make_url(conf.get("database", "sql_alchemy_conn"))
        if url.get_backend_name() != "sqlite" or not url.database:
            return False
        return Path(url.database).resolve().is_relative_to(self.home.resolve())


_CLAIMED: dict[Path, LocalHome] = {}


def fail_abandoned_runs(prog: str, home: LocalHome, dag_ids: Iterable[str] = MAKE_DAG_IDS) -> list[str]:
    """Mark failed the runs of ``dag_ids`` that a killed make command left ``queued``/``running`` in this
    home's metadata DB, with their unfinished task instances; say so in one line. Returns their run ids.

    Only ``dag.test()`` runs (``triggered_by`` TEST: what the make targets start), only with the home claimed
    (so no make command is running them), and only in a metadata DB that is this home's own SQLite file.
    """
    if not home.claimed or not home.metadata_db_is_local():
        return []
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, State, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select

    failed: list[str] = []
    with create_session() as session:
        runs = session.scalars(select(DagRun).where(
            DagRun.dag_id.in_(list(dag_ids)),
            DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]),
            DagRun.triggered_by == DagRunTriggeredByType.TEST,
        )).all()
        for run in runs:
            for ti in run.get_task_instances(session=session):
                if ti.state in State.unfinished:
                    ti.set_state(TaskInstanceState.FAILED, session=session)
            run.set_state(DagRunState.FAILED)
            failed.append(f"{run.dag_id} {run.run_id}")
    if failed:
        print(f"{prog}: marked {len(failed)} run(s) failed that a killed make command had left running in "
              f"{home.home} ({'; '.join(failed)}); the sync lock such a run holds is taken over now", flush=True)
    return failed


def fail_fast(dag) -> None:  # noqa: ANN001 - airflow.sdk.DAG
    """No task retries in a make command: someone is watching the terminal, so a transient failure (the sandbox
    down, a timeout) is reported at once with its Why line instead of after minutes of backoff. The deployed
    DAGs keep their retries."""
    for task in dag.tasks:
        task.retries = 0


def take_over_at_once(dag) -> None:  # noqa: ANN001 - airflow.sdk.DAG
    """No grace period before taking over the sync lock of a run that Airflow reports as ended.

    The grace period covers a task process a real executor may still be killing. Here every task runs inside
    the make command's own process, and the claimed home proves no other make command is running: a run of
    this home that has ended has nothing left alive. (A lock held by a run this home does not know, such as a
    deployment sharing the state store, is still kept until its lease expires.)
    """
    for task in dag.tasks:
        if hasattr(task, "stale_lock_grace_seconds"):
            task.stale_lock_grace_seconds = 0


def start_local_run(prog: str, dag_id: str, conf: Mapping[str, object]):  # noqa: ANN201 - airflow.sdk.DAG
    """Everything before ``dag.test()``: claim the home, validate ``conf``, migrate the metadata DB, clean up
    after a killed make command. Returns the DAG.

    :raises HomeBusy: another make command uses the home.
    :raises ConfError: ``conf`` does not fit the DAG's params.
    """
    home = LocalHome.current(prog)
    import airflow.settings  # noqa: F401 - configures Airflow's logging, which the next line adjusts

    quiet_airflow_logging()
    dag = load_dag(dag_id)
    check_conf(prog, dag, conf)
    ensure_metadata_db()
    fail_abandoned_runs(prog, home)
    take_over_at_once(dag)
    fail_fast(dag)
    return dag
