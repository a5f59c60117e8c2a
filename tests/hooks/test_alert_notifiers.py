"""The alert channels over real sockets: the providers' notifiers deliver a failed run's alert to a local SMTP
server (aiosmtpd, with a login) and to a local webhook receiver (Slack's incoming-webhook shape and a generic
JSON webhook with a bearer token), with connections from ``AIRFLOW_CONN_*`` as in a deployment.
"""

from __future__ import annotations

import html
import json
import logging

import pytest

from sync_engine.config import AlertsConfig
from sync_operators.alerts import RunAlert, send_run_alerts
from tests.hooks.alert_receivers import (  # noqa: F401 - fixtures
    ALERTS_SECTION,
    SECRETS,
    SLACK_TOKEN_PATH,
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_TOKEN,
    SmtpServer,
    WebhookServer,
    alert_connections,
    smtp_server,
    webhook_server,
)

#: The local SMTP server asks for a login over plain SMTP on 127.0.0.1; aiosmtpd warns about that, rightly elsewhere.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

RUN_ID = "scheduled__2026-12-07T09:30:00+00:00"
LINK = "https://airflow.example.com/dags/heymarket_sync/runs/scheduled__2026-12-07T09%3A30%3A00%2B00%3A00"
#: Personal data planted in the failure reason, as a careless third-party message might carry it.
PLANTED = ("marguerite.quill@example.net", "+1 415 555 0187", "14155550187")
WHY = ("apply_heymarket failed: Heymarket POST /v2/contacts failed with HTTP 401 (unauthorized): record of "
       f"{PLANTED[0]} ({PLANTED[1]}, {PLANTED[2]}) refused; Check the API key in the Airflow connection "
       "'heymarket_default'; {{ not a template }}")


@pytest.fixture
def channels(smtp_server: SmtpServer, webhook_server: WebhookServer,  # noqa: F811 - fixtures
             monkeypatch: pytest.MonkeyPatch) -> AlertsConfig:
    for name, value in alert_connections(smtp_server, webhook_server).items():
        monkeypatch.setenv(name, value)
    return AlertsConfig.model_validate(ALERTS_SECTION)


def failed_alert() -> RunAlert:
    return RunAlert.build(dag_id="heymarket_sync", run_id=RUN_ID, event="failed", status="failed", error_summary=WHY,
                          counts="Contact to_heymarket: 3 created, 2 failed. API calls: heymarket 4, salesforce 6",
                          link=LINK)


def assert_clean(text: str) -> None:
    for secret in (*SECRETS, SLACK_TOKEN_PATH):
        assert secret not in text, f"secret {secret[:6]}... in the alert"
    for personal in PLANTED:
        assert personal not in text, f"planted personal data {personal!r} in the alert"


def test_a_failed_run_reaches_the_smtp_server_slack_and_the_webhook(
    channels: AlertsConfig, smtp_server: SmtpServer, webhook_server: WebhookServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="test.alerts"):
        outcomes = send_run_alerts(failed_alert(), channels, logging.getLogger("test.alerts"))
    assert [(o.channel, o.sent, o.reason) for o in outcomes] == [
        ("email", True, None), ("slack", True, None), ("webhook", True, None)]

    # ---- e-mail: logged in with the connection's password, one message to the configured recipient
    assert smtp_server.logins == [(SMTP_USER, SMTP_PASSWORD)]
    (message,) = smtp_server.messages
    assert message["To"] == "sync-admins@example.org" and message["From"] == "sync-alerts@example.org"
    subject = str(message["Subject"])
    assert subject == f"Heymarket sync: run failed (heymarket_sync {RUN_ID})"
    body = html.unescape(smtp_server.body_text(message))
    for part in (RUN_ID, "Check the API key in the Airflow connection 'heymarket_default'", "{{ not a template }}",
                 "Contact to_heymarket: 3 created, 2 failed", f'<a href="{LINK}">'):
        assert part in body, part
    assert "record of <e-mail> (<phone>, <phone>) refused" in body
    assert_clean(subject + message.as_string())

    # ---- Slack: POSTed to the webhook URL made of the connection's host and password
    slack, hook = webhook_server.requests
    assert slack.path == f"/services/{SLACK_TOKEN_PATH}"
    text = json.loads(slack.body)["text"]
    assert f"*Run:* {RUN_ID}" in text and f"<{LINK}|Open the run in Airflow>" in text
    assert "record of &lt;e-mail&gt; (&lt;phone&gt;, &lt;phone&gt;) refused" in text
    assert_clean(text)

    # ---- generic webhook: JSON to the configured path, the bearer token from the connection's extra
    assert hook.path == "/hooks/heymarket-sync"
    assert hook.headers["Authorization"] == f"Bearer {WEBHOOK_TOKEN}"
    assert hook.headers["Content-Type"] == "application/json"
    document = hook.json()
    assert (document["event"], document["status"], document["run_id"], document["url"]) == (
        "failed", "failed", RUN_ID, LINK)
    assert document["why"].startswith("apply_heymarket failed: Heymarket POST /v2/contacts failed with HTTP 401")
    assert_clean(hook.body.decode())

    assert_clean(caplog.text)
    assert f"Alert 'failed' for run {RUN_ID} sent via webhook (connection 'alert_hook')" in caplog.text


def test_unreachable_and_refusing_receivers_are_logged_without_their_secrets(
    smtp_server: SmtpServer, webhook_server: WebhookServer, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SMTP and the webhook on closed ports, Slack answering 500: three logged failures, no secret in them."""
    from emulators.common.process import free_port

    connections = alert_connections(smtp_server, webhook_server)
    smtp = json.loads(connections["AIRFLOW_CONN_ALERT_SMTP"])
    smtp["port"], smtp["password"] = free_port(), "other-" + SMTP_PASSWORD  # nothing listens there
    slack = json.loads(connections["AIRFLOW_CONN_ALERT_SLACK"])
    slack["host"] = f"{webhook_server.base_url}/fail"
    hook = json.loads(connections["AIRFLOW_CONN_ALERT_HOOK"])
    hook["port"] = free_port()  # nothing listens there
    for name, conn in (("AIRFLOW_CONN_ALERT_SMTP", smtp), ("AIRFLOW_CONN_ALERT_SLACK", slack),
                       ("AIRFLOW_CONN_ALERT_HOOK", hook)):
        monkeypatch.setenv(name, json.dumps(conn))

    with caplog.at_level(logging.INFO, logger="test.alerts"):
        outcomes = send_run_alerts(failed_alert(), AlertsConfig.model_validate(ALERTS_SECTION),
                                   logging.getLogger("test.alerts"))
    assert [(o.channel, o.sent) for o in outcomes] == [("email", False), ("slack", False), ("webhook", False)]
    reasons = {o.channel: o.reason or "" for o in outcomes}
    assert reasons["email"].startswith("ConnectionRefusedError")
    assert reasons["slack"].startswith("AirflowException") and "500" in reasons["slack"]
    assert reasons["webhook"].startswith("ConnectionError")
    for channel in ("email", "slack", "webhook"):
        assert f"via {channel} (connection 'alert_" in caplog.text and "NOT sent" in caplog.text
    everything = caplog.text + json.dumps(reasons)
    for secret in (*SECRETS, "other-" + SMTP_PASSWORD):
        assert secret not in everything
    assert smtp_server.messages == []
