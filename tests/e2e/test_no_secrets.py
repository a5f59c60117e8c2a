"""A whole sync run leaks no secret and no contact payload: not in logs, XCom, history or the run folder."""

from __future__ import annotations

import datetime as dt
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


def test_message_runs_keep_message_bodies_out_of_logs_xcom_history_state_and_page(
    sync, dagbag, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,  # noqa: ANN001
) -> None:
    """Message texts are the most sensitive data the project touches: they go to the Task's Description and
    nowhere else. Planted bodies (and phones) on matched, unmatched and refused messages; a run with a refused
    Task (its owner is inactive) and a failing run (Salesforce down) are scanned too."""
    from airflow.api_fastapi.core_api import security
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, text
    from sync_history.app import create_app
    from sync_history.runs import HistoryReader, PageSettings

    from tests.e2e.test_messages_dag import ALEX, ANA, BEN, DAN, people

    dag = dagbag.dags["heymarket_messages"]
    for task in dag.tasks:
        task.retries = 0
        task.config_path = str(sync.config_path)
    sync.write_config(lambda c: c.setdefault("messages", {}).update(settle_seconds=0))
    people(sync)
    sync.sf.load({"User": [{"Username": "gone@sandbox.example.com", "LastName": "Gone", "Alias": "gone",
                            "Email": "gone@example.com", "IsActive": False, "TimeZoneSidKey": "GMT",
                            "LocaleSidKey": "en_US", "EmailEncodingKey": "UTF-8", "LanguageLocaleKey": "en_US",
                            "ProfileId": "00e5g000000HmSy"}]})
    inactive = next(u["Id"] for u in sync.sf_records("User") if u["Username"].startswith("gone@"))
    sync.store().replace_user_map([{"sf_user_id": inactive, "hm_user_id": ALEX, "source": "email"}], run_id="setup")
    bodies = [f"PLANTED-BODY-{n}-a0f3 meet me at 42 Wallaby Way" for n in range(4)]
    now = dt.datetime.now(dt.UTC)
    stamp = [(now - dt.timedelta(minutes=m)).isoformat().replace("+00:00", "Z") for m in (40, 30, 20, 10)]
    sync.hm.load({"messages": [
        {"phone": ANA, "inbox_id": 9001, "direction": "outbound", "user": ALEX, "text": bodies[0], "date": stamp[0]},
        {"phone": BEN, "inbox_id": 9001, "direction": "inbound", "text": bodies[1], "date": stamp[1]},
        {"phone": DAN, "inbox_id": 9001, "direction": "inbound", "text": bodies[2], "date": stamp[2]},
        {"phone": BEN, "inbox_id": 9001, "direction": "outbound", "user": 502, "text": bodies[3], "date": stamp[3]},
    ]})
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()

    refused = dag.test(run_conf={"mode": "incremental", "start": None, "end": None, "dry_run": False})
    sync.sf.faults(fail_next=[503] * 50)
    failing = dag.test(run_conf={"mode": "backfill", "start": now.date().isoformat(), "end": None,
                                 "dry_run": False})
    sync.sf.faults(fail_next=[])

    assert str(refused.state) == "success" and str(failing.state) == "failed"
    tasks = {t["Description"] for t in sync.sf_records("Task")}
    assert {bodies[1], bodies[3]} <= tasks  # the bodies did reach Salesforce, where they belong
    out, err = capfd.readouterr()
    xcoms = []
    for dag_run in (refused, failing):
        for task in dag.tasks:
            ti = dag_run.get_task_instance(task.task_id)
            for key in ("return_value", "failure", "api_calls"):
                xcoms.append(ti.xcom_pull(task_ids=task.task_id, key=key))
    runs = sync.store().list_runs(limit=20, dag_id="heymarket_messages")
    assert [r["status"] for r in runs] == ["failed", "partial"]
    assert "INACTIVE_OWNER_OR_USER" in str(runs[1]["error_summary"])
    app = create_app(HistoryReader("heymarket_sync_state", PageSettings(salesforce_conn_id="salesforce_default")))
    app.dependency_overrides[security.get_user] = lambda: object()
    with TestClient(app) as client:
        pages = [client.get(path) for path in ("/", "/api/runs", "/export.csv", "/export.json",
                                               *(f"/runs/{r['run_id']}" for r in runs),
                                               *(f"/api/runs/{r['run_id']}" for r in runs))]
    assert all(page.status_code == 200 for page in pages), [page.status_code for page in pages]
    assert refused.run_id in pages[0].text  # the page does show the message runs
    engine = create_engine(sync.state_url)
    with engine.connect() as conn:
        tables = [r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))]
        state = json.dumps({t: [list(r) for r in conn.execute(text(f'SELECT * FROM "{t}"'))] for t in tables},
                           default=str)
    engine.dispose()
    places = {
        "task logs (stdout/stderr)": out + err,
        "log records": "\n".join(r.getMessage() for r in caplog.records),
        "XCom": json.dumps(xcoms, default=str),
        "history": json.dumps(runs, default=str),
        "Sync history page (HTML, JSON, exports, each run's view)": "\n".join(page.text for page in pages),
        "state store (every table, error table and pending messages included)": state,
    }
    assert "upsert Task via Collections" in places["task logs (stdout/stderr)"] + places["log records"]
    for where, text_ in places.items():
        for body in bodies:
            assert body not in text_ and "PLANTED-BODY" not in text_, f"a message body in {where}"
        if where != "state store (every table, error table and pending messages included)":  # links hold phones
            for phone in (ANA, BEN, DAN):
                assert phone not in text_, f"a phone in {where}"
