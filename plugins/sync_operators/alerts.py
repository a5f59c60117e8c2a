"""Run alerts: tell people about a sync run that failed, ended partial, or was stopped by a guard.

``record_run`` calls :func:`send_run_alerts` once per run, after the history row is written and the lock is
released: it alone knows the run's status and its ``Why:`` text, and it runs also when other tasks failed.
Each channel of the config's ``alerts:`` section is an Airflow **notifier** of its provider:

* ``email``: :class:`~airflow.providers.smtp.notifications.smtp.SmtpNotifier` (the SMTP provider ships with
  Airflow core) over an SMTP connection;
* ``slack``: :class:`~airflow.providers.slack.notifications.slack_webhook.SlackWebhookNotifier` over a
  ``slackwebhook`` connection, which keeps the webhook URL (its token) in the masked password field;
* ``webhook``: :class:`~airflow.providers.http.notifications.http.HttpNotifier` posting a JSON document to an
  ``http`` connection (base URL in the connection, a token in its password or in an ``Authorization`` header
  in its extra).

Secrets live in those connections, never in the YAML, the message, a log line or an exception. The message
carries the DAG id, the run id, the status, the Why text, the counts line and a link to the run in the
Airflow UI: ids, counts and reason text only. The Why text comes from our own exceptions, which carry no
contact data; it is still scrubbed of anything shaped like an e-mail address, a phone number, a credential in
a URL, a bearer token, or a secret Airflow's masker knows, in case a third-party message slipped one in.

A channel that fails is logged (channel, connection id, a scrubbed reason) and the others are still tried;
sending never raises, so an alert problem can neither fail the run nor hide why it failed. A dry run never
alerts (``record_run`` checks that before calling here).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import quote

if TYPE_CHECKING:
    from airflow.sdk import Context

    from sync_engine.config import AlertChannelName, AlertEvent, AlertsConfig

#: What each event is called in the subject and the first line.
EVENT_TITLES: dict[str, str] = {
    "failed": "run failed",
    "partial": "run ended partial",
    "guard_stopped": "run stopped by a guard (nothing but opt-out changes was written)",
}
#: The template variable the notifiers' templated fields read the prepared texts from. Handing the texts in
#: as a variable (``{{ heymarket_sync_alert.subject }}``) instead of as the template itself means a ``{{`` or
#: ``{%`` inside a Why text is printed, never evaluated.
TEMPLATE_VAR = "heymarket_sync_alert"
#: Airflow's own fallback for ``[api] base_url`` when it builds links to runs (the task runner's log_url).
DEFAULT_BASE_URL = "http://localhost:8080"
#: Longest Why text an alert carries (the history row keeps the whole of it).
WHY_CHARS = 1500

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# E.164 digits (Heymarket's form), +-prefixed international numbers, (415) 555-0100 / 415.555.0100.
_PHONE = re.compile(r"\+\d[\d ().-]{6,}\d|\b\d{10,15}\b|\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s:@'\"]+:[^/\s@'\"]*@", re.IGNORECASE)
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
# A whole URL's path and query (webhook URLs carry their token there), and requests' "with url: /path".
_URL_PATH = re.compile(r"(\bhttps?://[^/\s'\"?#)\]>]+)[/?#][^\s'\")\]>]*", re.IGNORECASE)
_URL_LABEL = re.compile(r"(\burl: )\S+")
# Request ids and other UUIDs stay as they are: a UUID's last group may be twelve digits, which reads as a phone.
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)


def scrub(text: str, *, urls: bool = False) -> str:
    """``text`` without personal data or credentials: e-mail addresses, phone numbers, ``user:pass@`` in URLs,
    bearer tokens, and any secret Airflow's masker holds in this process.

    :param urls: also cut every URL down to its scheme and host (for failure reasons of the webhook channels,
        whose URL paths may carry a token).
    """
    text = _URL_USERINFO.sub(r"\1***@", text)
    text = _BEARER.sub(r"\1 ***", text)
    if urls:
        text = _URL_LABEL.sub(r"\1***", _URL_PATH.sub(r"\1/***", text))
    text = _EMAIL.sub("<e-mail>", text)
    uuids = _UUID.findall(text)
    text = _PHONE.sub("<phone>", _UUID.sub("\x00", text))
    for uuid in uuids:
        text = text.replace("\x00", uuid, 1)
    return _masked(text)


def _masked(text: str) -> str:
    """Airflow's secrets masker over ``text`` (connection passwords read in this process are registered)."""
    try:
        from airflow.sdk.log import redact
    except ImportError:  # pragma: no cover - the task SDK is always there in a deployment
        return text
    return str(redact(text))


def alert_event(status: str, *, dry_run: bool, guard_stopped: bool) -> AlertEvent | None:
    """Which alert a run's outcome is, if any.

    :param status: the history status (``success``, ``partial``, ``failed``, ``cancelled``, ``dry_run``).
    :param guard_stopped: validate refused the plan because a guard tripped (mass delete, invalid phones).
    :return: ``guard_stopped``, ``failed``, ``partial``, or ``None`` (success, cancelled by a person, dry run).
    """
    if dry_run:
        return None
    if status == "failed":
        return "guard_stopped" if guard_stopped else "failed"
    if status == "partial":
        return "partial"
    return None


def counts_line(counts: Mapping[str, Mapping[str, Mapping[str, int]]], api_calls: Mapping[str, int], *,
                planned: bool = False) -> str:
    """One line for the run's counts (the history's object x direction x action) and its API calls.

    :param planned: no apply task reported anything, so the counts are the plan's (a run that failed or was
        stopped before writing): the line says so, so that "12 created" is not read as written.
    """
    parts = []
    for obj in sorted(counts):
        for direction in sorted(counts[obj]):
            actions = ", ".join(f"{n} {action}" for action, n in sorted(counts[obj][direction].items()) if n)
            if actions:
                parts.append(f"{obj} {direction}: {actions}")
    calls = ", ".join(f"{system} {n}" for system, n in sorted(api_calls.items()))
    line = "; ".join(parts) if parts else "no changes"
    if planned and parts:
        line = f"planned, nothing written: {line}"
    return line + (f". API calls: {calls}" if calls else "")


def run_link(dag_id: str, run_id: str, base_url: str | None = None) -> str:
    """The run in the Airflow UI: ``[api] base_url`` + ``/dags/<dag_id>/runs/<run_id>`` (run id URL-quoted)."""
    if base_url is None:
        from airflow.sdk.configuration import conf

        base_url = conf.get("api", "base_url", fallback=None) or DEFAULT_BASE_URL
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


@dataclass(frozen=True)
class RunAlert:
    """One run's alert, in every form the channels send.

    :param event: ``failed``, ``partial`` or ``guard_stopped``.
    :param status: the history row's status (``failed`` for a guard stop: the run did fail).
    :param why: the history row's ``error_summary`` (scrubbed and shortened here).
    :param counts: one line of counts and API calls (see :func:`counts_line`).
    :param link: the run in the Airflow UI.
    """

    dag_id: str
    run_id: str
    event: AlertEvent
    status: str
    why: str | None
    counts: str
    link: str

    @classmethod
    def build(cls, *, dag_id: str, run_id: str, event: AlertEvent, status: str, error_summary: str | None,
              counts: str, link: str) -> RunAlert:
        why = " ".join(scrub(error_summary).split()) if error_summary else None
        if why and len(why) > WHY_CHARS:
            why = why[: WHY_CHARS - 3] + "..."
        return cls(dag_id=dag_id, run_id=run_id, event=event, status=status, why=why, counts=counts, link=link)

    @property
    def subject(self) -> str:
        return f"Heymarket sync: {EVENT_TITLES[self.event]} ({self.dag_id} {self.run_id})"

    def lines(self) -> list[tuple[str, str]]:
        """The message as (label, value) lines, shared by every format."""
        return [
            ("DAG", self.dag_id),
            ("Run", self.run_id),
            ("Status", self.status + (": stopped by a guard, nothing but opt-out changes was written"
                                      if self.event == "guard_stopped" else "")),
            ("Why", self.why or "no reason was recorded"),
            ("Counts", self.counts),
            ("Open the run", self.link),
        ]

    def text(self) -> str:
        return "\n".join([self.subject, "", *(f"{label}: {value}" for label, value in self.lines())])

    def html(self) -> str:
        rows = "".join(
            f"<tr><th align=\"left\" valign=\"top\">{html.escape(label)}</th><td>"
            + (f"<a href=\"{html.escape(value)}\">{html.escape(value)}</a>" if label == "Open the run"
               else html.escape(value))
            + "</td></tr>"
            for label, value in self.lines()
        )
        return f"<p><b>{html.escape(self.subject)}</b></p><table>{rows}</table>"

    def slack_text(self) -> str:
        """Slack mrkdwn: ``&``, ``<`` and ``>`` escaped as Slack asks; the link as ``<url|label>``."""

        def esc(value: str) -> str:
            return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

        body = [f"*{label}:* {esc(value)}" for label, value in self.lines() if label != "Open the run"]
        return "\n".join([f"*{esc(self.subject)}*", *body, f"<{self.link}|Open the run in Airflow>"])

    def payload(self) -> dict[str, str | None]:
        """The generic webhook's JSON document (``text`` too, for receivers that show only that)."""
        return {"source": "heymarket_sync", "event": self.event, "dag_id": self.dag_id, "run_id": self.run_id,
                "status": self.status, "why": self.why, "counts": self.counts, "url": self.link,
                "subject": self.subject, "text": self.text()}

    def template_values(self) -> dict[str, str]:
        return {"subject": self.subject, "html": self.html(), "slack_text": self.slack_text(),
                "json": json.dumps(self.payload())}


# --- channels --------------------------------------------------------------------------------------------


class Notifier(Protocol):
    """What is used of an Airflow ``BaseNotifier``: render the templated fields, then send."""

    def render_template_fields(self, context: Context) -> None: ...

    def notify(self, context: Context) -> None: ...


class AlertLog(Protocol):
    """The two calls made on the log: a ``logging.Logger`` and an Airflow task's ``self.log`` both have them."""

    def info(self, msg: str, /, *args: object) -> object: ...

    def warning(self, msg: str, /, *args: object) -> object: ...


def _template(key: str) -> str:
    return "{{ " + TEMPLATE_VAR + "." + key + " }}"


def build_notifier(channel: AlertChannelName, config: AlertsConfig) -> Notifier:
    """The provider's notifier for one configured channel, its templated fields reading :data:`TEMPLATE_VAR`."""
    if channel == "email":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        email = config.email
        assert email is not None  # noqa: S101 - only configured channels are built
        return SmtpNotifier(to=list(email.to), from_email=email.from_email, smtp_conn_id=email.conn_id,
                            subject=_template("subject"), html_content=_template("html"))
    if channel == "slack":
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        assert config.slack is not None  # noqa: S101
        return SlackWebhookNotifier(slack_webhook_conn_id=config.slack.conn_id, text=_template("slack_text"),
                                    unfurl_links=False, unfurl_media=False, timeout=30)
    if channel == "webhook":
        from airflow.providers.http.notifications.http import HttpNotifier

        hook = config.webhook
        assert hook is not None  # noqa: S101
        # `data`, not `json`: a templated `json` would be rendered to a string and sent as a JSON string.
        return HttpNotifier(http_conn_id=hook.conn_id, endpoint=hook.endpoint or None, method="POST",
                            data=_template("json"), headers={"Content-Type": "application/json"},
                            extra_options={"timeout": 30})
    raise ValueError(f"unknown alert channel {channel!r}")


@dataclass(frozen=True)
class ChannelOutcome:
    """What happened on one channel: ``sent``, or not sent and why (scrubbed)."""

    channel: str
    conn_id: str
    sent: bool
    reason: str | None = None


def send_run_alerts(
    alert: RunAlert,
    config: AlertsConfig,
    log: AlertLog,
    *,
    notifier_factory: Callable[[AlertChannelName, AlertsConfig], Notifier] = build_notifier,
) -> list[ChannelOutcome]:
    """Send ``alert`` on every configured channel that wants its event; never raises.

    :param notifier_factory: builds a channel's notifier (tests hand in one that fails on purpose).
    :return: one outcome per channel that wanted the event, in the order email, slack, webhook.
    """
    outcomes = []
    for channel, conn_id in config.channels_for(alert.event):
        try:
            notifier = notifier_factory(channel, config)
            # What BaseNotifier.__call__ does (render the templated fields, then notify), without its own
            # error log line, which would print the provider's exception unscrubbed (a webhook URL's token).
            # Not a task's context: only what the templates and the notifiers read.
            context = cast("Context", {TEMPLATE_VAR: alert.template_values(), "dag_id": alert.dag_id,
                                       "run_id": alert.run_id})
            notifier.render_template_fields(context)
            notifier.notify(context)
        except Exception as exc:  # noqa: BLE001 - an alert must never fail the run or hide its failure
            reason = scrub(f"{type(exc).__name__}: {exc}".strip(), urls=True)[:500]
            log.warning("Alert '%s' for run %s via %s (connection '%s') NOT sent: %s", alert.event, alert.run_id,
                        channel, conn_id, reason)
            outcomes.append(ChannelOutcome(channel, conn_id, sent=False, reason=reason))
        else:
            log.info("Alert '%s' for run %s sent via %s (connection '%s')", alert.event, alert.run_id, channel,
                     conn_id)
            outcomes.append(ChannelOutcome(channel, conn_id, sent=True))
    return outcomes
