"""A whole sync run leaks no secret and no contact payload: not in logs, XCom, history or the run folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from emulators.common import credentials
from emulators.demo_data import generate

pytestmark = pytest.mark.e2e

SECRETS = {
    "Salesforce password": credentials.SALESFORCE_PASSWORD,
    "Salesforce security token": credentials.SALESFORCE_SECURITY_TOKEN,
    "Heymarket API key": credentials.HEYMARKET_API_KEY,
    "Heymarket secret key": credentials.HEYMARKET_SECRET_KEY,
}


def _xcoms(sync, dag_run) -> str:  # noqa: ANN001
    """Every task's return value, plus what a failed task leaves (its failure message, record_run's summary)."""
    values = []
    for task in sync.dag.tasks:
        ti = dag_run.get_task_instance(task.task_id)
        if ti is not None:
            for key in ("return_value", "failure", "summary"):
                values.append(ti.xcom_pull(task_ids=task.task_id, key=key))
    return json.dumps(values, default=str)


def _places(sync, dag_run, capfd: pytest.CaptureFixture[str],  # noqa: ANN001
            caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """Everything a run writes for people to read: task logs, log records, XCom, the history rows."""
    out, err = capfd.readouterr()
    return {
        "task logs (stdout/stderr)": out + err,
        "log records": "\n".join(r.getMessage() for r in caplog.records),
        "XCom": _xcoms(sync, dag_run),
        "history": json.dumps(sync.store().list_runs(limit=10), default=str),
    }


def _run_folder_text(root: Path) -> str:
    """Every JSON/text artifact of the runs (Parquet frames hold record values by design: not scanned)."""
    return "\n".join(p.read_text() for p in root.rglob("*") if p.suffix in {".json", ".md", ".txt"})


def test_a_full_run_leaks_no_secret_and_logs_no_contact_values(
    sync, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # noqa: ANN001
    # Heymarket through the JWT scheme, so both the API key (legacy) and the secret are exercised.
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_HEYMARKET_DEFAULT"])
    conn["extra"] = {"secret_id": credentials.HEYMARKET_SECRET_ID, "secret_key": credentials.HEYMARKET_SECRET_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_HEYMARKET_DEFAULT", json.dumps(conn))
    demo = generate(size=30, seed=11)
    sync.sf.load(demo.salesforce)
    sync.hm.load(demo.heymarket)
    caplog.set_level(logging.DEBUG)

    dag_run = sync.run(mode="full")

    assert str(dag_run.state) == "success"
    places = _places(sync, dag_run, capfd, caplog)
    places["run folder"] = _run_folder_text(Path(sync.result(dag_run, "preflight")["run_dir"]).parent)
    # the capture really holds the run's task logs (else this test would prove nothing)
    assert "Heymarket apply" in places["task logs (stdout/stderr)"] + places["log records"]
    assert len(places["run folder"]) > 1000  # the describes and validation.json were scanned
    for where, text in places.items():
        for name, secret in SECRETS.items():
            assert secret not in text, f"{name} found in {where}"
    # Personal data: task logs carry counts and ids, never a contact's phone, e-mail or name.
    emails = [r["Email"] for r in demo.salesforce["Contact"] + demo.salesforce["Lead"] if r.get("Email")]
    phones = [c["phone"] for c in demo.heymarket["contacts"]]
    for where in ("task logs (stdout/stderr)", "log records", "XCom", "history"):
        leaked = [v for v in emails + phones if v in places[where]]
        assert leaked == [], f"contact values in {where}: {leaked[:3]}"


def test_a_run_failing_on_wrong_credentials_says_why_without_echoing_them(
    sync, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # noqa: ANN001
    """Wrong credentials end the run in preflight; the history says which connection and what to fix, and
    neither the wrong values typed in nor the right ones appear anywhere."""
    import os

    wrong = {"wrong Heymarket API key": "hm-WRONG-key-5f0c2a9e71d4", "wrong Salesforce password": "sf-WRONG-pw-82c1e7"}
    hm = json.loads(os.environ["AIRFLOW_CONN_HEYMARKET_DEFAULT"])
    sf = json.loads(os.environ["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_HEYMARKET_DEFAULT", json.dumps({**hm, "password": wrong["wrong Heymarket API key"]}))
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", json.dumps({**sf, "password": wrong["wrong Salesforce password"]}))
    caplog.set_level(logging.DEBUG)

    dag_run = sync.run(mode="full")

    assert str(dag_run.state) == "failed"
    [row] = sync.store().list_runs(limit=10)
    assert row["status"] == "failed"
    why = str(row["error_summary"])
    assert why.startswith("preflight failed: ") and "not run because of it: " in why, why
    assert "'heymarket_default'" in why and "'salesforce_default'" in why, why
    places = _places(sync, dag_run, capfd, caplog)
    assert "preflight failed" in places["XCom"]  # the failure message and the summary were scanned
    for where, text in places.items():
        for name, secret in {**SECRETS, **wrong}.items():
            assert secret not in text, f"{name} found in {where}"
