"""Run alerts without sending anything: the ``alerts:`` config section and the message every channel gets.

Delivery through the real notifiers to a local SMTP server and webhook receiver is in
``tests/hooks/test_alert_notifiers.py``; real failing DAG runs that alert are in ``tests/e2e/test_alerts.py``.
"""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import pytest

from sync_engine.config import (
    ALERT_EVENTS,
    AlertsConfig,
    ConfigError,
    EmailAlert,
    SlackAlert,
    WebhookAlert,
    load_config,
)
from sync_operators.alerts import (
    DEFAULT_BASE_URL,
    WHY_CHARS,
    RunAlert,
    alert_event,
    counts_line,
    run_link,
    scrub,
    send_run_alerts,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "include" / "mappings" / "example-full.yaml"
RUN_ID = "manual__2026-12-07T09:30:00.123456+00:00"
LINK = f"https://airflow.example.com/dags/heymarket_sync/runs/{RUN_ID.replace(':', '%3A').replace('+', '%2B')}"


def load(tmp_path: Path, text: str):  # noqa: ANN201 - SyncConfig
    path = tmp_path / "sync.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_config(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    """Each problem as ``<line>: <key path>: <problem> — <fix>``, without the file name."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return [f"{p.line}: {p.path}: {p.problem} — {p.fix}" for p in info.value.problems]


# --- the config section ---------------------------------------------------------------------------------


def test_no_alerts_section_means_no_alerts(tmp_path: Path) -> None:
    assert load(tmp_path, "default_region: US\n").alerts is None
    assert load_config(REPO / "include" / "mappings" / "sync.yaml").alerts is None


def test_every_channel_with_defaults_and_per_channel_events(tmp_path: Path) -> None:
    alerts = load(tmp_path, """
        alerts:
          email:
            to: ops@example.com
          slack:
            conn_id: slack_alerts
            events: [failed, guard_stopped]
          webhook:
            conn_id: hooks
        """).alerts
    assert alerts.events == ALERT_EVENTS
    assert alerts.email == EmailAlert(conn_id="smtp_default", to=("ops@example.com",))
    assert alerts.webhook == WebhookAlert(conn_id="hooks", endpoint="")
    assert alerts.channels_for("failed") == [("email", "smtp_default"), ("slack", "slack_alerts"),
                                             ("webhook", "hooks")]
    assert alerts.channels_for("partial") == [("email", "smtp_default"), ("webhook", "hooks")]
    assert alerts.channels_for("guard_stopped") == alerts.channels_for("failed")


def test_section_events_apply_to_channels_without_their_own(tmp_path: Path) -> None:
    alerts = load(tmp_path, """
        alerts:
          events: [guard_stopped]
          slack: {conn_id: s}
          webhook: {conn_id: w, events: [partial]}
        """).alerts
    assert alerts.channels_for("guard_stopped") == [("slack", "s")]
    assert alerts.channels_for("partial") == [("webhook", "w")]
    assert alerts.channels_for("failed") == []


def test_example_full_documents_every_alerts_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    keys = {"alerts", *AlertsConfig.model_fields, *EmailAlert.model_fields, *SlackAlert.model_fields,
            *WebhookAlert.model_fields}
    assert [k for k in sorted(keys) if f"{k}:" not in text] == []
    alerts = load_config(EXAMPLE).alerts
    assert alerts is not None and [name for name, _ in alerts.channels()] == ["email", "slack", "webhook"]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (  # a secret in the file, for each channel
            """
            alerts:
              email:
                to: [ops@example.com]
                password: hunter2
            """,
            ["4: alerts.email.password: 'password' does not belong in this file: addresses, tokens and passwords"
             " of a channel stay in its Airflow connection — put it there (Admin > Connections) and name the"
             " connection with conn_id"],
        ),
        (
            """
            alerts:
              slack:
                webhook_url: https://hooks.slack.com/services/T000/B000/XXXX
            """,
            ["3: alerts.slack.webhook_url: 'webhook_url' does not belong in this file: addresses, tokens and"
             " passwords of a channel stay in its Airflow connection — put it there (Admin > Connections) and"
             " name the connection with conn_id"],
        ),
        (
            """
            alerts:
              webhook:
                conn_id: hooks
                endpoint: /hooks/sync?token=abc
            """,
            ["4: alerts.webhook.endpoint: '/hooks/sync?token=abc' has a query string, where tokens often hide"
             " — put a token in the connection (its password, or an Authorization header in its extra) and keep"
             " only the path here"],
        ),
        (
            """
            alerts:
              webhook:
                conn_id: hooks
                endpoint: https://hooks.example.com/x
            """,
            ["4: alerts.webhook.endpoint: 'https://hooks.example.com/x' is a whole URL — put the base URL in the"
             " connection's host and keep only the path here (e.g. /hooks/heymarket-sync)"],
        ),
        (  # no channel
            """
            alerts:
              events: [failed]
            """,
            ["1: alerts: alerts has no channel, so no alert would be sent — add email:, slack: or webhook: (see"
             " include/mappings/example-full.yaml), or remove the alerts section"],
        ),
        (
            """
            alerts:
              events: [failed, partial, failed]
              slack: {conn_id: s}
            """,
            ["2: alerts.events: failed is listed twice — name each event once"],
        ),
        (
            """
            alerts:
              events: []
              slack: {conn_id: s}
            """,
            ["2: alerts.events: the list of events is empty — name at least one of: failed, partial,"
             " guard_stopped (or remove the channel / the alerts section)"],
        ),
        (
            """
            alerts:
              events: [failed, stopped]
              slack: {conn_id: s}
            """,
            ["2: alerts.events[1]: 'stopped' is not allowed — must be one of: failed, partial, guard_stopped"],
        ),
        (
            """
            alerts:
              email:
                to: [ops@example.com, not-an-address]
              slack: {}
            """,
            ["3: alerts.email.to[1]: 'not-an-address' is not an e-mail address — write the user's e-mail (or"
             " Salesforce username), e.g. jane.doe@example.com",
             "4: alerts.slack.conn_id: 'conn_id' is required — add conn_id: to this entry"],
        ),
        (
            """
            alerts:
              emial:
                to: ops@example.com
            """,
            ["2: alerts.emial: unknown key 'emial' — did you mean 'email'?"],
        ),
        (
            """
            alerts:
              email:
                to: []
            """,
            ["3: alerts.email.to: no recipient — write at least one address, e.g. to: [sync-admins@example.com]"],
        ),
    ],
)
def test_config_problems_name_line_key_and_fix(tmp_path: Path, yaml_text: str, expected: list[str]) -> None:
    assert problems(tmp_path, yaml_text) == expected


# --- which runs alert -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "dry_run", "guard", "event"),
    [
        ("failed", False, False, "failed"),
        ("failed", False, True, "guard_stopped"),
        ("partial", False, False, "partial"),
        ("success", False, False, None),
        ("cancelled", False, False, None),  # a person stopped it
        ("failed", True, True, None),  # a dry run never alerts
        ("dry_run", True, False, None),
    ],
)
def test_alert_event(status: str, dry_run: bool, guard: bool, event: str | None) -> None:
    assert alert_event(status, dry_run=dry_run, guard_stopped=guard) == event


# --- the message ----------------------------------------------------------------------------------------


def test_counts_line() -> None:
    counts = {"Lead": {"to_heymarket": {"created": 4, "deleted": 0}},
              "Contact": {"to_salesforce": {"created": 3}, "to_heymarket": {"updated": 2, "created": 7, "failed": 1}}}
    assert counts_line(counts, {"salesforce": 5, "heymarket": 9}) == (
        "Contact to_heymarket: 7 created, 1 failed, 2 updated; Contact to_salesforce: 3 created; "
        "Lead to_heymarket: 4 created. API calls: heymarket 9, salesforce 5")
    assert counts_line({}, {}) == "no changes"
    # nothing applied (failed or stopped before apply): the plan's counts, said as such
    assert counts_line({"Contact": {"to_heymarket": {"created": 12, "invalid": 8}}}, {"heymarket": 5}, planned=True) \
        == "planned, nothing written: Contact to_heymarket: 12 created, 8 invalid. API calls: heymarket 5"
    assert counts_line({}, {"heymarket": 1}, planned=True) == "no changes. API calls: heymarket 1"


def test_run_link_quotes_the_run_id_and_follows_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_link("heymarket_sync", RUN_ID, "https://airflow.example.com/") == LINK
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    assert run_link("heymarket_sync", "r1").startswith(f"{DEFAULT_BASE_URL}/dags/heymarket_sync/runs/r1")
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.internal:8443/base")
    assert run_link("heymarket_sync", "r1") == "https://airflow.internal:8443/base/dags/heymarket_sync/runs/r1"


WHY = ("preflight failed: Heymarket connection 'heymarket_default': Heymarket GET /v1/inboxes failed with HTTP 401 "
       "(unauthorized): Heymarket rejected the credentials. Check the API key & <retry>; not run because of it: "
       "extract_heymarket, plan")


def make_alert(why: str | None = WHY, event: str = "failed", status: str = "failed") -> RunAlert:
    return RunAlert.build(dag_id="heymarket_sync", run_id=RUN_ID, event=event, status=status,  # type: ignore[arg-type]
                          error_summary=why, counts="no changes. API calls: heymarket 1", link=LINK)


def test_every_format_carries_run_id_status_why_counts_and_link() -> None:
    alert = make_alert()
    assert alert.subject == f"Heymarket sync: run failed (heymarket_sync {RUN_ID})"
    text = alert.text()
    for part in (RUN_ID, "Status: failed\n", f"Why: {WHY}", "Counts: no changes. API calls: heymarket 1",
                 f"Open the run: {LINK}"):
        assert part in text
    page = alert.html()
    assert "Check the API key &amp; &lt;retry&gt;" in page and f'<a href="{LINK}">' in page
    slack = alert.slack_text()
    assert "Check the API key &amp; &lt;retry&gt;" in slack and f"<{LINK}|Open the run in Airflow>" in slack
    payload = json.loads(alert.template_values()["json"])
    assert payload == {"source": "heymarket_sync", "event": "failed", "dag_id": "heymarket_sync", "run_id": RUN_ID,
                       "status": "failed", "why": WHY, "counts": "no changes. API calls: heymarket 1", "url": LINK,
                       "subject": alert.subject, "text": text}


def test_guard_stop_and_partial_say_what_happened() -> None:
    assert "run stopped by a guard (nothing but opt-out changes was written)" in make_alert(event="guard_stopped").subject
    partial = make_alert("apply_salesforce stopped: budget reserve reached", event="partial", status="partial")
    assert partial.subject.startswith("Heymarket sync: run ended partial")
    assert "Status: partial\n" in partial.text()
    assert "Status: failed: stopped by a guard, nothing but opt-out changes was written" in make_alert(event="guard_stopped").text()
    assert "Why: no reason was recorded" in make_alert(None).text()


def test_the_why_text_is_scrubbed_and_shortened() -> None:
    why = ("apply_heymarket failed: contact jane.roe@example.com (+1 415-555-0134, 14155550199) was refused by "
           "https://user:pa55word@hooks.example.com/x with Authorization Bearer abcdefghijklmnop " + "x" * 3000)
    alert = make_alert(why)
    assert alert.why is not None and len(alert.why) == WHY_CHARS and alert.why.endswith("...")
    for leaked in ("jane.roe", "415-555-0134", "14155550199", "pa55word", "abcdefghijklmnop"):
        assert leaked not in alert.text()
    assert "contact <e-mail> (<phone>, <phone>)" in alert.why and "https://***@hooks.example.com/x" in alert.why


@pytest.mark.parametrize(
    ("raw", "urls", "clean"),
    [
        ("sent to ana@example.co.uk", False, "sent to <e-mail>"),
        ("phone +44 20 7946 0958 and (415) 555-0100 and 415.555.0100", False,
         "phone <phone> and <phone> and <phone>"),
        ("E.164 digits 14155550134", False, "E.164 digits <phone>"),
        # ids, timestamps, counts and request ids are not personal data: kept
        (f"run {RUN_ID}: 950 of 15000 left [X-Request-Id 5035e353-0e7a-4b30-9515-5cce5f0392c8] 003xx000004TmiQ",
         False, f"run {RUN_ID}: 950 of 15000 left [X-Request-Id 5035e353-0e7a-4b30-9515-5cce5f0392c8] 003xx000004TmiQ"),
        # a request id whose last group is all digits is still a request id, not a phone
        ("[X-Request-Id 5035e353-0e7a-4b30-9515-415555013412] and 14155550134", False,
         "[X-Request-Id 5035e353-0e7a-4b30-9515-415555013412] and <phone>"),
        ("postgresql://sync:s3cret@db:5432/state", False, "postgresql://***@db:5432/state"),
        ("header Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", False, "header Bearer ***"),
        ("HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: /services/T0/B0/tok "
         "(https://hooks.slack.com/services/T0/B0/tok?x=1)", True,
         "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: *** "
         "(https://hooks.slack.com/***)"),
    ],
)
def test_scrub(raw: str, urls: bool, clean: str) -> None:
    assert scrub(raw, urls=urls) == clean


def test_jinja_in_a_why_text_is_printed_not_run() -> None:
    """The notifiers render their fields with Jinja; the texts go in as a variable, never as the template."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    alert = make_alert("validate failed: {{ 7 * 7 }} {% if true %}x{% endif %}")
    notifier = SmtpNotifier(to="ops@example.com", subject="{{ heymarket_sync_alert.subject }}",
                            html_content="{{ heymarket_sync_alert.html }}")
    notifier.render_template_fields({"heymarket_sync_alert": alert.template_values()})
    assert "validate failed: {{ 7 * 7 }} {% if true %}x{% endif %}" in notifier.html_content
    assert notifier.subject == alert.subject


# --- sending: one failing channel is logged and the others still go --------------------------------------


class RecordingNotifier:
    """Stands in for a provider notifier: renders like BaseNotifier, records what it would send."""

    def __init__(self, channel: str, sent: list[tuple[str, dict]], fail_with: Exception | None) -> None:
        self.channel, self.sent, self.fail_with = channel, sent, fail_with

    def render_template_fields(self, context: dict) -> None:
        self.context = context

    def notify(self, context: dict) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((self.channel, context["heymarket_sync_alert"]))


def test_a_failing_channel_is_logged_scrubbed_and_the_others_are_sent(caplog: pytest.LogCaptureFixture) -> None:
    alerts = AlertsConfig(email=EmailAlert(conn_id="mail", to=("ops@example.com",)),
                          slack=SlackAlert(conn_id="slack", events=("partial",)),
                          webhook=WebhookAlert(conn_id="hook"))
    sent: list[tuple[str, dict]] = []
    boom = ConnectionError("Max retries exceeded with url: /hooks/T0/B0/sEcReTtOkEn (Caused by refused)")

    def factory(channel: str, config: AlertsConfig) -> RecordingNotifier:
        return RecordingNotifier(channel, sent, boom if channel == "email" else None)

    log = logging.getLogger("test.alerts")
    with caplog.at_level(logging.INFO, logger="test.alerts"):
        outcomes = send_run_alerts(make_alert(), alerts, log, notifier_factory=factory)
    assert [(o.channel, o.conn_id, o.sent) for o in outcomes] == [("email", "mail", False), ("webhook", "hook", True)]
    assert outcomes[0].reason == "ConnectionError: Max retries exceeded with url: *** (Caused by refused)"
    assert [channel for channel, _ in sent] == ["webhook"]  # slack wants only partial runs
    assert sent[0][1]["subject"] == make_alert().subject
    logged = caplog.text
    assert f"Alert 'failed' for run {RUN_ID} via email (connection 'mail') NOT sent: ConnectionError" in logged
    assert f"Alert 'failed' for run {RUN_ID} sent via webhook (connection 'hook')" in logged
    assert "sEcReTtOkEn" not in logged


def test_a_notifier_that_cannot_even_be_built_is_one_failed_channel(caplog: pytest.LogCaptureFixture) -> None:
    alerts = AlertsConfig(slack=SlackAlert(conn_id="slack"), webhook=WebhookAlert(conn_id="hook"))
    sent: list[tuple[str, dict]] = []

    def factory(channel: str, config: AlertsConfig) -> RecordingNotifier:
        if channel == "slack":
            raise ImportError("No module named 'slack_sdk'")
        return RecordingNotifier(channel, sent, None)

    outcomes = send_run_alerts(make_alert(), alerts, logging.getLogger("test.alerts"), notifier_factory=factory)
    assert [(o.channel, o.sent) for o in outcomes] == [("slack", False), ("webhook", True)]
    assert outcomes[0].reason == "ImportError: No module named 'slack_sdk'"
