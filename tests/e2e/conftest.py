"""End-to-end harness: the real ``heymarket_sync`` DAG run with ``dag.test()`` against both emulators.

Each test gets a fresh state store (SQLite file, or a fresh PostgreSQL database for the ``postgres``
parametrisation), a fresh runs folder and reset emulators; connections come from ``AIRFLOW_CONN_*``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from emulators.common import credentials
from emulators.common.client import AdminClient

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO / "include" / "mappings" / "sync.yaml"
PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@dataclass
class SyncHarness:
    """Runs the DAG and reads the results; tests only say what they load and what they expect."""

    dag: object
    sf: AdminClient
    hm: AdminClient
    config_path: Path
    state_url: str

    def run(self, **conf: object):  # noqa: ANN201 - a DagRun
        # Every param explicitly: dag.test() keeps the previous run's conf in the (shared) DAG's params.
        defaults = {"mode": "incremental", "objects": ["Contact", "Lead"], "record_ids": [], "dry_run": False,
                    "allow_mass_delete": False}
        return self.dag.test(run_conf={**defaults, **conf})

    def result(self, dag_run, task_id: str = "record_run") -> dict:  # noqa: ANN001
        ti = dag_run.get_task_instance(task_id)
        return ti.xcom_pull(task_ids=task_id) or {}

    def write_config(self, change: Callable[[dict], None]) -> None:
        """Edit the run's config (a copy of the shipped one)."""
        data = yaml.safe_load(self.config_path.read_text())
        change(data)
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))

    def store(self):  # noqa: ANN201 - StateStore
        from sync_engine.state import StateStore

        return StateStore(self.state_url)

    def sf_records(self, obj: str, deleted: bool = False) -> list[dict]:
        dump = self.sf.dump()
        records = dump["records"][obj] if "records" in dump else dump[obj]
        return [r for r in records if bool(r.get("IsDeleted")) == deleted]

    def hm_contacts(self) -> list[dict]:
        return self.hm.dump()["contacts"]

    def hm_by_phone(self) -> dict[str, dict]:
        """Heymarket contacts keyed by their phone (E.164 digits, unique in Heymarket)."""
        return {c["phone"]: c for c in self.hm_contacts()}

    def history(self, dag_run) -> dict:  # noqa: ANN001
        """The run's row in the sync history table (what analysts read)."""
        row = self.store().get_run(dag_run.run_id)
        assert row is not None, f"no history row for {dag_run.run_id}"
        return row

    def salesforce_api(self):  # noqa: ANN201 - simple_salesforce.Salesforce
        """A Salesforce client of our own (the provider's hook), to change the org as a user would."""
        from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

        return SalesforceHook(salesforce_conn_id="salesforce_default").get_conn()

    @property
    def heymarket_api(self) -> HeymarketUser:
        """A plain HTTP client of the Heymarket API, to change contacts as a user would."""
        return HeymarketUser(self.hm.base_url)


@dataclass
class HeymarketUser:
    """Edits Heymarket through its public API (not through the sync's hook, which is under test)."""

    base_url: str
    session: requests.Session = field(default_factory=requests.Session)

    def _call(self, method: str, path: str, body: object = None) -> object:
        resp = self.session.request(method, f"{self.base_url}{path}", json=body, timeout=30,
                                    headers={"Authorization": f"Bearer {credentials.HEYMARKET_API_KEY}"})
        assert resp.ok, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def create(self, **contact: object) -> dict:
        """``POST /v1/contact``; returns ``{id, rev, uuid}``."""
        return self._call("POST", "/v1/contact", contact)

    def update(self, hm_id: int, **changes: object) -> dict:
        """Partial update (``PUT /v2/contact/{uuid}``): only the keys given change, ``custom`` is merged."""
        contact = self._call("GET", f"/v1/contact/{int(hm_id)}")
        return self._call("PUT", f"/v2/contact/{contact['uuid']}", changes)

    def delete(self, hm_id: int) -> None:
        self._call("DELETE", f"/v1/contact/{int(hm_id)}")


def _postgres_url() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    name = f"hm_sync_e2e_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is needed for this test ({exc}); start it with "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite"])
def state_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` by default; a test runs on both with
    ``@pytest.mark.parametrize("state_backend", ["sqlite", "postgres"], indirect=True)``."""
    return request.param


@pytest.fixture
def sync(
    state_backend: str, dagbag, sf_admin: AdminClient, hm_admin: AdminClient, salesforce_conn: str,  # noqa: ANN001
    heymarket_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SyncHarness]:
    config_path = tmp_path / "sync.yaml"
    config = yaml.safe_load(SHIPPED_CONFIG.read_text())
    config.setdefault("state", {})["runs_root"] = str(tmp_path / "runs")
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("HEYMARKET_SYNC_CONFIG", str(config_path))

    urls = _postgres_url() if state_backend == "postgres" else iter([f"sqlite:///{tmp_path / 'state.db'}"])
    url = next(urls)
    monkeypatch.setenv("AIRFLOW_CONN_HEYMARKET_SYNC_STATE", json.dumps({"conn_type": "generic",
                                                                         "extra": {"url": url}}))
    dag = dagbag.dags["heymarket_sync"]
    _point_operators_at(dag, config_path)
    hm_admin.faults(rate_limit_per_minute=100_000)  # the tests are not about Heymarket's rate limit
    yield SyncHarness(dag, sf_admin, hm_admin, config_path, url)
    for _ in urls:  # run the PostgreSQL fixture's teardown
        pass


def _point_operators_at(dag, config_path: Path) -> None:  # noqa: ANN001
    """Aim the parsed operators at the test's config copy; no retries (dag.test() would wait them out)."""
    for task in dag.tasks:
        task.retries = 0
        if hasattr(task, "config_path"):
            task.config_path = str(config_path)


MESSAGE_EXT = "Heymarket_Message_Id__c"


@dataclass
class MessagesHarness:
    """Runs ``heymarket_messages`` next to a ``SyncHarness`` (same emulators, config copy and state store)."""

    sync: SyncHarness
    dag: object

    def run(self, **conf: object):  # noqa: ANN201 - a DagRun
        # Every param explicitly: dag.test() keeps the previous run's conf in the (shared) DAG's params.
        return self.dag.test(run_conf={"mode": "incremental", "start": None, "end": None, "dry_run": False, **conf})

    def tasks(self, deleted: bool = False) -> list[dict]:
        return self.sync.sf_records("Task", deleted=deleted)

    def tasks_by_message(self) -> dict[str, dict]:
        return {t[MESSAGE_EXT]: t for t in self.tasks()}

    def copy_result(self, dag_run) -> dict:  # noqa: ANN001
        return self.sync.result(dag_run, "copy_messages")


@pytest.fixture
def messages(sync: SyncHarness, dagbag) -> Iterator[MessagesHarness]:  # noqa: ANN001
    dag = dagbag.dags["heymarket_messages"]
    for task in dag.tasks:
        task.retries = 0
        task.config_path = str(sync.config_path)
    sync.write_config(lambda c: c.setdefault("messages", {}).update(settle_seconds=0))
    yield MessagesHarness(sync, dag)
