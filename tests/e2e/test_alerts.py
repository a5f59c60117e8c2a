"""Alerts from real ``heymarket_sync`` runs (``dag.test()`` against both emulators): a run failing on a wrong
Heymarket key, a run stopped by the invalid-phone guard (and its dry run, which stays silent), and a run that
ends partial. The alerts go through the providers' notifiers to a local SMTP server and a local webhook
receiver (Slack-shaped and generic JSON), once per run, with the run's Why text and link, no secret and none of
the contact data the run read.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from emulators.common import credentials
from sync_operators.alerts import WHY_CHARS
from tests.e2e.test_sync_faults import REJECTING_HEYMARKET, REJECTING_SALESFORCE
from tests.hooks.alert_receivers import (  # noqa: F401 - fixtures
    ALERTS_SECTION,
    SECRETS,
    SLACK_TOKEN_PATH,
    SmtpServer,
    WebhookServer,
    alert_connections,
    smtp_server,
    webhook_server,
)

pytestmark = [pytest.mark.e2e,
              pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")]

BASE_URL = "https://airflow.example.test"
WRONG_KEY = "hm-WRONG-key-for-the-alert-test-0c2a"
FIELDS = [{"id": 1, "title": "Customer Tier"}, {"id": 2, "title": "Preferred Language"}]
#: 20 Contacts the run reads; 8 have phones no one can dial (40 % > the 25 % guard). Their names, e-mails and
#: phones are what must never reach an alert.
VALID = [(f"Quillfeather{i}", f"q.feather{i}@planted.example", f"+1 415 555 01{i:02d}") for i in range(12)]
INVALID = [(f"Marrowbright{i}", f"m.bright{i}@planted.example", f"555-01{i}") for i in range(8)]
GUARD_CONTACTS = [{"FirstName": "Planted", "LastName": last, "Email": mail, "Phone": phone}
                  for last, mail, phone in VALID + INVALID]
PLANTED = [value for person in VALID + INVALID for value in person] + ["14155550100", "Planted"]


@pytest.fixture
def alerting(sync, smtp_server: SmtpServer, webhook_server: WebhookServer,  # noqa: ANN001, F811 - fixtures
             monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The sync harness with the three alert channels configured, and ``[api] base_url`` set."""
    for name, value in alert_connections(smtp_server, webhook_server).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
    yield sync


def task_logs(capfd: pytest.CaptureFixture[str]) -> str:
    """What the run's tasks logged (dag.test() runs them in-process; their logs go to stdout/stderr)."""
    out, err = capfd.readouterr()
    return out + err


def set_alerts(sync, section: dict) -> None:  # noqa: ANN001
    sync.write_config(lambda data: data.__setitem__("alerts", section))


def link_of(run_id: str) -> str:
    return f"{BASE_URL}/dags/heymarket_sync/runs/{quote(run_id, safe='')}"


def requests_by_channel(webhook: WebhookServer) -> dict[str, list]:
    slack = [r for r in webhook.requests if r.path.startswith("/services/")]
    hooks = [r for r in webhook.requests if r.path == "/hooks/heymarket-sync"]
    assert len(slack) + len(hooks) == len(webhook.requests), [r.path for r in webhook.requests]
    return {"slack": slack, "webhook": hooks}


def assert_no_secret_and_no_contact_data(*texts: str) -> None:
    blob = "\n".join(texts)
    for secret in (*SECRETS, SLACK_TOKEN_PATH, WRONG_KEY, credentials.HEYMARKET_API_KEY,
                   credentials.SALESFORCE_PASSWORD, credentials.SALESFORCE_SECURITY_TOKEN):
        assert secret not in blob, f"secret {secret[:6]}... in an alert"
    leaked = [value for value in PLANTED if value in blob]
    assert leaked == [], f"contact data in an alert: {leaked[:5]}"


def as_shown(why: str) -> str:
    """The history row's *why* as every alert channel shows it: on one line, at most ``WHY_CHARS`` characters."""
    line = " ".join(why.split())
    return line if len(line) <= WHY_CHARS else line[: WHY_CHARS - 3] + "..."


def test_a_run_failing_on_a_wrong_heymarket_key_alerts_every_channel_once(
    alerting, smtp_server: SmtpServer, webhook_server: WebhookServer,  # noqa: ANN001, F811
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    import os

    sync = alerting
    sync.sf.load({"Contact": GUARD_CONTACTS[:12]})
    hm = json.loads(os.environ["AIRFLOW_CONN_HEYMARKET_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_HEYMARKET_DEFAULT", json.dumps({**hm, "password": WRONG_KEY}))
    set_alerts(sync, ALERTS_SECTION)

    dag_run = sync.run()
    logs = task_logs(capfd)

    assert str(dag_run.state) == "failed"
    row = sync.history(dag_run)  # the history row is written as before, whatever the alerts do
    why = str(row["error_summary"])
    assert row["status"] == "failed" and why.startswith("preflight failed: "), why
    assert "HTTP 401" in why and "'heymarket_default'" in why

    # e-mail: exactly one, with the run id, the Why text and the link
    (message,) = smtp_server.messages
    subject = str(message["Subject"])
    assert subject == f"Heymarket sync: run failed (heymarket_sync {dag_run.run_id})"
    body = html.unescape(smtp_server.body_text(message))
    assert f"<td>{dag_run.run_id}</td>" in body
    assert f"<td>{as_shown(why)}</td>" in body, (why, body)
    assert f'<a href="{link_of(dag_run.run_id)}">' in body

    # Slack and the generic webhook: one request each, same facts
    channels = requests_by_channel(webhook_server)
    (slack,) = channels["slack"]
    (hook,) = channels["webhook"]
    text = json.loads(slack.body)["text"]
    assert f"*Run:* {dag_run.run_id}" in text and f"<{link_of(dag_run.run_id)}|Open the run in Airflow>" in text
    assert "HTTP 401" in text
    document = hook.json()
    assert (document["event"], document["run_id"], document["why"], document["url"]) == (
        "failed", dag_run.run_id, as_shown(why), link_of(dag_run.run_id))

    assert_no_secret_and_no_contact_data(message.as_string(), slack.body.decode(), hook.body.decode())
    print(f"\ne-mail received:\nSubject: {subject}\n{body}\nSlack text:\n{text}")
    for channel in ("email", "slack", "webhook"):
        assert f"Alert 'failed' for run {dag_run.run_id} sent via {channel} (connection 'alert_" in logs
    assert WRONG_KEY not in logs and SECRETS[0] not in logs and SECRETS[2] not in logs


def test_a_guard_stop_alerts_its_channels_and_its_dry_run_alerts_nobody(
    alerting, smtp_server: SmtpServer, webhook_server: WebhookServer,  # noqa: ANN001, F811
    capfd: pytest.CaptureFixture[str],
) -> None:
    sync = alerting
    sync.sf.load({"Contact": GUARD_CONTACTS})
    sync.hm.load({"fields": FIELDS})
    set_alerts(sync, {**ALERTS_SECTION, "email": {**ALERTS_SECTION["email"], "events": ["failed"]},
                      "slack": {"conn_id": "alert_slack", "events": ["guard_stopped"]}})

    dry = sync.run(dry_run=True)
    dry_logs = task_logs(capfd)
    assert str(dry.state) == "failed"  # validate refuses the plan in a dry run too ...
    assert sync.history(dry)["status"] == "failed"
    assert smtp_server.messages == [] and webhook_server.requests == []  # ... and nobody hears of it

    assert "Alert '" not in dry_logs and "Why: validate failed" in dry_logs

    real = sync.run()
    logs = task_logs(capfd)
    assert str(real.state) == "failed"
    why = str(sync.history(real)["error_summary"])
    assert why.startswith("validate failed: The plan was not applied (nothing was written)"), why
    assert sync.hm_contacts() == []  # the guard really stopped the writes

    assert smtp_server.messages == []  # e-mail wants only `failed`
    channels = requests_by_channel(webhook_server)
    (slack,) = channels["slack"]
    (hook,) = channels["webhook"]
    document = hook.json()
    assert (document["event"], document["status"], document["run_id"]) == ("guard_stopped", "failed", real.run_id)
    assert document["subject"] == ("Heymarket sync: run stopped by a guard (nothing but opt-out changes was written) "
                                   f"(heymarket_sync {real.run_id})")
    assert document["why"] == as_shown(why)
    assert "8 of 20" in document["why"] or "40%" in document["why"] or "40 %" in document["why"], document["why"]
    assert document["counts"].startswith("planned, nothing written: Contact to_heymarket: 12 created, 8 invalid")
    assert "stopped by a guard" in json.loads(slack.body)["text"]
    assert logs.count("Alert 'guard_stopped' for run") == 2  # slack and webhook, once each
    assert_no_secret_and_no_contact_data(slack.body.decode(), hook.body.decode())
    print(f"\nwebhook document of the guard stop:\n{json.dumps(document, indent=1)}")


def test_a_partial_run_alerts_with_its_counts(
    alerting, smtp_server: SmtpServer, webhook_server: WebhookServer,  # noqa: ANN001, F811
) -> None:
    sync = alerting
    sync.sf.load(REJECTING_SALESFORCE)
    sync.hm.load(REJECTING_HEYMARKET)
    set_alerts(sync, {"events": ["partial"], "webhook": ALERTS_SECTION["webhook"]})

    dag_run = sync.run()

    assert str(dag_run.state) == "success"  # the DAG run succeeds; its history and its alert say partial
    row = sync.history(dag_run)
    assert row["status"] == "partial"
    (hook,) = webhook_server.requests
    document = hook.json()
    assert (document["event"], document["status"], document["run_id"]) == ("partial", "partial", dag_run.run_id)
    assert document["why"] == "2 record(s) rejected: see hm_sync_record_error; they are retried on later runs"
    assert "Contact to_salesforce: 1 created, 2 failed" in document["counts"], document["counts"]
    assert not document["counts"].startswith("planned")  # these were written
    assert smtp_server.messages == []
    names = [r.get("LastName") for r in REJECTING_SALESFORCE["Contact"]] + ["Portuguese (Brazil)", "Hana", "Ode"]
    assert not [n for n in names if n and n in hook.body.decode()]
