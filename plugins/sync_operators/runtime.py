"""What every stage needs at run time: the config, the state store, the run folder, a stop flag.

Kept apart from the operators so that each operator's ``execute()`` stays a few calls. Nothing here runs
at DAG parse time.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from heymarket_hook import HeymarketHook
    from sync_engine.config import SyncConfig
    from sync_engine.state import StateStore

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Overridable so that a deployment can keep its mapping outside the image.
DEFAULT_CONFIG_PATH = os.environ.get(
    "HEYMARKET_SYNC_CONFIG", str(REPO_ROOT / "include" / "mappings" / "sync.yaml")
)


#: Libraries whose INFO lines say nothing to a person reading a task log (GX's registry and metric chatter,
#: Alembic's "Context impl ..." on every state store opened, HTTP connection pools): WARNING and up only.
LIBRARY_LOGGERS = ("great_expectations", "alembic", "urllib3", "fsspec", "simple_salesforce", "charset_normalizer",
                   "numexpr", "tzlocal", "py4j", "matplotlib", "altair")


def quiet_library_logs(level: int = logging.WARNING) -> None:
    """Raise the library loggers to *level* in this task process (their warnings and errors still show).

    Library loggers are plain ``logging`` loggers; Airflow's task runner forwards what passes their level into
    the task log. Called at the start of every stage (``pre_execute``), so it holds however the worker was
    set up, and before GX is imported (its import alone logs some 200 INFO lines).
    """
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < level:
            logger.setLevel(level)
    # Some libraries give a module logger its own level when they are imported (GX sets
    # great_expectations.data_context.types.base to INFO): those already imported are lowered here.
    prefixes = tuple(f"{name}." for name in LIBRARY_LOGGERS)
    for name, known in list(logging.root.manager.loggerDict.items()):
        if name.startswith(prefixes) and isinstance(known, logging.Logger) and logging.NOTSET < known.level < level:
            known.setLevel(level)


def load_sync_config(path: str) -> SyncConfig:
    from sync_engine.config import load_config

    return load_config(Path(path))


def heymarket_hook(config: SyncConfig) -> HeymarketHook:
    """The Heymarket hook of the config's connection; the config's ``requests_per_minute``, when set, overrides
    the connection's pacing (unset, the connection's extra decides, 450/min without one)."""
    from heymarket_hook import HeymarketHook

    return HeymarketHook(config.heymarket.conn_id, requests_per_minute=config.heymarket.requests_per_minute)


def state_url_from_connection(conn_id: str) -> str:
    """The SQLAlchemy URL of the state store.

    The connection may carry the URL in its extra (``{"url": "postgresql+psycopg2://..."}``) or be a
    regular ``postgres``/``sqlite`` connection. With no such connection we fall back to a SQLite file in
    ``$AIRFLOW_HOME`` so that a first try needs no setup (DESIGN: SQLite by default).
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
        return f"sqlite:///{home / 'heymarket_sync_state.db'}"
    url = conn.extra_dejson.get("url")
    if url:
        return str(url)
    if conn.conn_type in {"postgres", "postgresql"}:
        auth = conn.login or ""
        if conn.password:
            auth += f":{conn.password}"
        host = f"{auth}@{conn.host}" if auth else (conn.host or "")
        port = f":{conn.port}" if conn.port else ""
        return f"postgresql+psycopg2://{host}{port}/{conn.schema or ''}"
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    raise ValueError(
        f"Connection '{conn_id}' (type {conn.conn_type}) cannot be used as the sync state store: give it an "
        "extra {\"url\": \"<SQLAlchemy URL>\"} or make it a postgres/sqlite connection."
    )


def open_state_store(conn_id: str) -> StateStore:
    from sync_engine.state import StateStore

    store = StateStore(state_url_from_connection(conn_id))
    store.migrate()
    return store


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", part)


class RunFolder:
    """Where a run's frames live; only paths and counts travel through XCom.

    :param root: a local folder or any fsspec URL (``s3://bucket/prefix``); relative local roots are taken
        from ``$AIRFLOW_HOME``.
    """

    def __init__(self, root: str, dag_id: str, run_id: str) -> None:
        if "://" not in root and not os.path.isabs(root):
            root = str(Path(os.environ.get("AIRFLOW_HOME", ".")) / root)
        self.url = f"{root.rstrip('/')}/{_safe(dag_id)}/{_safe(run_id)}"

    @property
    def is_local(self) -> bool:
        return "://" not in self.url

    def path(self, name: str) -> str:
        return f"{self.url}/{name}"

    def ensure(self) -> None:
        if self.is_local:
            Path(self.url).mkdir(parents=True, exist_ok=True)

    def write_frame(self, name: str, frame: pd.DataFrame) -> str:
        target = self.path(name)
        if self.is_local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target, index=False)
        return target

    def read_frame(self, name: str) -> pd.DataFrame:
        import pandas as pd

        return pd.read_parquet(self.path(name))

    def exists(self, name: str) -> bool:
        if self.is_local:
            return Path(self.path(name)).exists()
        import fsspec

        fs, path = fsspec.core.url_to_fs(self.path(name))
        return fs.exists(path)

    def read_text(self, name: str) -> str:
        if self.is_local:
            return Path(self.path(name)).read_text()
        import fsspec

        with fsspec.open(self.path(name), "r") as handle:
            return handle.read()

    def write_text(self, name: str, text: str) -> str:
        target = self.path(name)
        if self.is_local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_text(text)
        else:
            import fsspec

            with fsspec.open(target, "w") as handle:
                handle.write(text)
        return target


class DagRunFolders:
    """Every run folder of one DAG (``<root>/<dag_id>/``): the ``DagRunFolders`` port that ``record_run`` prunes.

    Local folders and fsspec URLs alike; a folder's age is the time its newest file was written.
    """

    def __init__(self, root: str, dag_id: str) -> None:
        self.url = RunFolder(root, dag_id, "-").url.rsplit("/", 1)[0]

    @staticmethod
    def name_of(run_id: str) -> str:
        return _safe(run_id)

    def _fs(self):  # noqa: ANN202 - an fsspec filesystem and the folder's path in it
        import fsspec

        return fsspec.core.url_to_fs(self.url)

    def written(self) -> dict[str, datetime]:
        """Folder name -> when its newest file was written (UTC); an empty folder counts by its own time."""
        fs, base = self._fs()
        if not fs.exists(base):
            return {}
        found: dict[str, datetime] = {}
        for entry in fs.ls(base, detail=True):
            if entry.get("type") != "directory":
                continue
            name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
            times = [_modified(fs, path) for path in fs.find(entry["name"])] or [_modified(fs, entry["name"])]
            found[name] = max(times)
        return found

    def remove(self, name: str) -> None:
        fs, base = self._fs()
        fs.rm(f"{base.rstrip('/')}/{name}", recursive=True)


def _modified(fs, path: str) -> datetime:  # noqa: ANN001 - any fsspec filesystem
    stamp = fs.modified(path)
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


class StopFlag:
    """Set by ``on_kill`` (SIGTERM when a run is marked failed); long loops check it between batches.

    Airflow 3.3 only calls ``on_kill`` on SIGTERM and sends SIGKILL 5 s later, so a cooperative stop
    must finish its current batch's checkpoint within that window.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()
