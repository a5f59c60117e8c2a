"""Local receivers for the alert channels: an SMTP server (aiosmtpd) and an HTTP server for webhooks.

Both listen on 127.0.0.1 on a free port, keep what they receive, and stop when the fixture ends. The SMTP
server demands a login (so the connection's password is really used) and the HTTP server answers like Slack's
incoming webhooks (``200 ok``), or fails on purpose under ``/fail``.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emulators.common.process import free_port

SMTP_USER = "alerts-sender"
SMTP_PASSWORD = "smtp-Passw0rd-never-in-an-alert"
SLACK_TOKEN_PATH = "T0ALERTS/B0ALERTS/slackWebhookSecret0123456789"
WEBHOOK_TOKEN = "webhook-bearer-secret-0123456789"
#: Every secret the alert connections hold: none may appear in a message, a log line or an exception.
SECRETS = (SMTP_PASSWORD, SLACK_TOKEN_PATH.rsplit("/", 1)[-1], WEBHOOK_TOKEN)


@dataclass
class SmtpServer:
    """What the SMTP server received: one parsed message per DATA, and the logins it accepted."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def body_text(self, message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("html", "plain"))
        assert part is not None, message
        return str(part.get_content())


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        return json.loads(self.body)


@dataclass
class WebhookServer:
    port: int
    requests: list[Request] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    received = SmtpServer(port=free_port())

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN202, N802 - aiosmtpd's API
            received.messages.append(email.message_from_bytes(envelope.original_content or envelope.content,
                                                              policy=email.policy.default))
            return "250 Message accepted"

    def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
        user = auth_data.login.decode() if isinstance(auth_data.login, bytes) else str(auth_data.login)
        password = (auth_data.password.decode() if isinstance(auth_data.password, bytes)
                    else str(auth_data.password))
        ok = (user, password) == (SMTP_USER, SMTP_PASSWORD)
        if ok:
            received.logins.append((user, password))
        return AuthResult(success=ok)

    controller = Controller(Handler(), hostname="127.0.0.1", port=received.port, authenticator=authenticator,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        yield received
    finally:
        controller.stop()


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    received = WebhookServer(port=free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's API
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.requests.append(Request("POST", self.path, dict(self.headers.items()), body))
            status, answer = (500, b"receiver failing on purpose") if self.path.startswith("/fail") else (200, b"ok")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            """Quiet: pytest shows what matters."""

    server = ThreadingHTTPServer(("127.0.0.1", received.port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def alert_connections(smtp: SmtpServer, webhook: WebhookServer) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values of the three channels, each holding its secret the way the docs say."""
    return {
        "AIRFLOW_CONN_ALERT_SMTP": json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": smtp.port, "login": SMTP_USER,
            "password": SMTP_PASSWORD,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "sync-alerts@example.org",
                      "retry_limit": 0, "timeout": 10}}),
        "AIRFLOW_CONN_ALERT_SLACK": json.dumps({
            "conn_type": "slackwebhook", "host": f"{webhook.base_url}/services", "password": SLACK_TOKEN_PATH}),
        "AIRFLOW_CONN_ALERT_HOOK": json.dumps({
            "conn_type": "http", "host": "127.0.0.1", "port": webhook.port, "schema": "http",
            "extra": {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}}),
    }


#: The config's alerts section for those connections (every event, every channel).
ALERTS_SECTION = {
    "email": {"conn_id": "alert_smtp", "to": ["sync-admins@example.org"]},
    "slack": {"conn_id": "alert_slack"},
    "webhook": {"conn_id": "alert_hook", "endpoint": "/hooks/heymarket-sync"},
}
