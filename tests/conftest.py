"""Test session setup: an isolated AIRFLOW_HOME (set before Airflow is imported) and the two emulators."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="hm-sync-airflow-"))

# Airflow reads these at import time; they must be set before anything imports airflow.
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__PARALLELISM": "4",
    }
)
for extra in (str(REPO), str(REPO / "plugins")):
    if extra not in sys.path:
        sys.path.insert(0, extra)

# Property tests: `make test` runs the same examples every time (a red CI is a real, replayable failure);
# `make soak` explores new ones (HM_SYNC_HYPOTHESIS=explore) and saves any failure in the examples database.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HM_SYNC_HYPOTHESIS", "repeatable"))

from emulators.common import credentials  # noqa: E402
from emulators.common.client import AdminClient  # noqa: E402
from emulators.common.process import EmulatorProcess  # noqa: E402
from tests.isolation import free_port  # noqa: E402 - ports no other test session on this machine is given

#: Airflow's secret maskers (the core's and the task SDK's), each one process-wide registry of values to mask.
_MASKER_MODULES = ("airflow._shared.secrets_masker", "airflow.sdk._shared.secrets_masker")


@pytest.fixture(autouse=True)
def fresh_secrets_masker() -> Iterator[None]:
    """Each test starts with no masked value, as a task process does: without it a wrong token a hook test
    registered ("wrong") stays masked for the rest of the worker's tests and turns up as ``***`` in an alert
    text a later test compares (seen with two xdist workers, where test files run in a different order)."""
    yield
    for name in _MASKER_MODULES:
        module = sys.modules.get(name)  # only what a test imported: a unit test never pays for Airflow's import
        if module is not None:
            module.reset_secrets_masker()


@pytest.fixture(scope="session")
def emulator_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulators")


@pytest.fixture(scope="session")
def salesforce_emulator(emulator_dir: Path) -> Iterator[EmulatorProcess]:
    """The Salesforce emulator over TLS on a free port; REQUESTS_CA_BUNDLE points at its certificate."""
    cert_dir = emulator_dir / "certs"
    emu = EmulatorProcess(
        "salesforce", free_port(), scheme="https", extra_args=["--cert-dir", str(cert_dir)],
        tls_cert=cert_dir / "cert.pem", log_path=emulator_dir / "salesforce.log",
    )
    # The certificate is created by the emulator at start; make it first so wait_ready can verify it.
    from emulators.common.tls import ensure_certificate

    ensure_certificate(cert_dir)
    os.environ["REQUESTS_CA_BUNDLE"] = str(emu.tls_cert)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def heymarket_emulator(emulator_dir: Path) -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess("heymarket", free_port(), log_path=emulator_dir / "heymarket.log").start()
    yield emu
    emu.stop()


@pytest.fixture
def sf_admin(salesforce_emulator: EmulatorProcess) -> AdminClient:
    """Admin client of a freshly reset Salesforce emulator."""
    admin = AdminClient(salesforce_emulator.base_url, verify=str(salesforce_emulator.tls_cert))
    admin.reset()
    return admin


@pytest.fixture
def hm_admin(heymarket_emulator: EmulatorProcess) -> AdminClient:
    """Admin client of a freshly reset Heymarket emulator."""
    admin = AdminClient(heymarket_emulator.base_url)
    admin.reset()
    return admin


def salesforce_conn_json(emu: EmulatorProcess) -> str:
    """An unmodified provider ``salesforce`` connection that logs in to the emulator with SOAP password login."""
    import json

    return json.dumps(
        {
            "conn_type": "salesforce",
            "login": credentials.SALESFORCE_USERNAME,
            "password": credentials.SALESFORCE_PASSWORD,
            "extra": {
                "security_token": credentials.SALESFORCE_SECURITY_TOKEN,
                # simple-salesforce builds https://{domain}.salesforce.com/services/Soap/u/{v}; the '#'
                # turns the fixed suffix into a URL fragment so the login reaches the emulator.
                "domain": f"127.0.0.1:{emu.port}/services/Soap/u/{credentials.SALESFORCE_API_VERSION}#",
                "version": credentials.SALESFORCE_API_VERSION,
            },
        }
    )


@pytest.fixture
def salesforce_conn(salesforce_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> str:
    """Sets AIRFLOW_CONN_SALESFORCE_DEFAULT to the emulator; returns the conn id."""
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", salesforce_conn_json(salesforce_emulator))
    return "salesforce_default"


@pytest.fixture
def heymarket_conn(heymarket_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> str:
    """Sets AIRFLOW_CONN_HEYMARKET_DEFAULT (API key auth) to the emulator; returns the conn id."""
    import json

    monkeypatch.setenv(
        "AIRFLOW_CONN_HEYMARKET_DEFAULT",
        json.dumps({"conn_type": "heymarket", "host": heymarket_emulator.base_url,
                    "password": credentials.HEYMARKET_API_KEY}),
    )
    return "heymarket_default"


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata DB (SQLite in the session's AIRFLOW_HOME), created once; needed by dag.test()."""
    from airflow.utils.db import resetdb

    resetdb()
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path):  # noqa: ANN201 - airflow DagBag, imported lazily
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    return bag
