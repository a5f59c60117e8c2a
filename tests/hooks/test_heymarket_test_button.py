"""The UI's Test button, at the api-server: Airflow 3.3.2's own route, the request the UI sends, the emulator.

The route (``POST /api/v2/connections/test``) runs in-process (FastAPI's TestClient over the real core app,
in a child process with its own SQLite metadata DB) against connections stored in that DB, and the request
body is built exactly as the 3.3.2 UI builds it for a row of the connection list (``port:
Number(connection.port)``, the masked password, the listed extra). The emulator answers the hook's calls.
``tests/deploy/test_connection_test_button.py`` clicks the same button in Chromium against the real stack.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from emulators.common import credentials
from emulators.common.process import EmulatorProcess

WRONG_KEY = "hm_wrong_key_for_the_button_0000"

_ROUTE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from fastapi.testclient import TestClient
    from airflow import settings
    from airflow.api_fastapi.app import create_app
    from airflow.models.connection import Connection
    from airflow.models.revoked_token import RevokedToken
    from airflow.models.team import Team
    from airflow.utils.session import create_session

    spec = json.loads(sys.argv[1])
    for model in (RevokedToken, Team, Connection):
        model.__table__.create(settings.engine, checkfirst=True)
    with create_session() as session:
        for fields in spec["stored"]:
            session.add(Connection(**fields))

    def ui_body(row):
        # What the 3.3.2 UI's Test button posts for a row of Admin > Connections (index-*.js, `vRt`).
        return {"conn_type": row["conn_type"], "connection_id": row["connection_id"],
                "description": row["description"] or "",
                "extra": "{}" if row["extra"] in ("", None) else row["extra"],
                "host": row["host"] or "", "login": row["login"] or "", "password": row["password"] or "",
                "port": row["port"] or 0,  # Number(null) is 0
                "schema": row["schema"] or ""}

    client = TestClient(create_app(apps="core"))
    listed = client.get("/api/v2/connections").json()["connections"]
    answers = {}
    for row in listed:
        body = ui_body(row)
        reply = client.post("/api/v2/connections/test", json=body)
        answers[row["connection_id"]] = {"sent_port": body["port"], "sent_password": body["password"],
                                        "status": reply.status_code, "reply": reply.json()}
    for body in spec["unsaved"]:
        reply = client.post("/api/v2/connections/test", json=body)
        answers[body["connection_id"]] = {"status": reply.status_code, "reply": reply.json()}
    print(json.dumps(answers))
    """
)


@pytest.fixture(scope="module")
def answers(heymarket_emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every stored connection tested the way the UI's button does, plus one test of an unsaved connection."""
    home = tmp_path_factory.mktemp("test-button-home")
    url, port = heymarket_emulator.base_url, heymarket_emulator.port
    stored = [
        # saved before this change (or by the CLI without --conn-port): no port
        {"conn_id": "hm_portless", "conn_type": "heymarket", "host": url, "password": credentials.HEYMARKET_API_KEY},
        # saved with the form's Port field filled in
        {"conn_id": "hm_ui_right", "conn_type": "heymarket", "host": url, "port": port,
         "password": credentials.HEYMARKET_API_KEY},
        {"conn_id": "hm_ui_wrong", "conn_type": "heymarket", "host": url, "port": port, "password": WRONG_KEY},
        {"conn_id": "hm_ui_jwt", "conn_type": "heymarket", "host": url, "port": port,
         "extra": json.dumps({"secret_id": credentials.HEYMARKET_SECRET_ID,
                              "secret_key": credentials.HEYMARKET_SECRET_KEY})},
    ]
    unsaved = [{"connection_id": "hm_not_saved_yet", "conn_type": "heymarket", "host": url, "port": 0,
                "password": credentials.HEYMARKET_API_KEY}]
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
    )
    result = subprocess.run([sys.executable, "-c", _ROUTE_SCRIPT, json.dumps({"stored": stored, "unsaved": unsaved})],
                            env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _quoted_ids(message: str) -> set[str]:
    """Every connection id a message names ('<id>' or `airflow connections test <id>`)."""
    return set(re.findall(r"connection '([^']+)'", message)) | set(re.findall(r"connections test (\S+?)`", message)) \
        | set(re.findall(r"Test button of '([^']+)'", message))


def test_a_connection_stored_without_port_is_refused_before_the_hook_runs(answers: dict[str, dict]) -> None:
    """The Airflow 3.3.2 behaviour the form works around: empty port -> the UI sends 0 -> 400."""
    answer = answers["hm_portless"]
    assert answer["sent_port"] == 0 and answer["sent_password"] == "***"
    assert answer["status"] == 400
    assert "host or port to test differs from the stored connection" in answer["reply"]["detail"]


def test_with_the_port_stored_the_button_reaches_the_hook_and_names_the_real_id(answers: dict[str, dict]) -> None:
    answer = answers["hm_ui_right"]
    assert answer["sent_password"] == "***"  # the stored key is used, not sent by the browser
    assert answer["status"] == 200, answer
    reply = answer["reply"]
    assert reply["status"] is True, reply
    assert reply["message"].startswith("Heymarket connection 'hm_ui_right' works: connected to http://127.0.0.1:")
    assert "team API key (legacy)" in reply["message"] and "inbox(es) visible" in reply["message"]
    assert _quoted_ids(reply["message"]) == {"hm_ui_right"}


def test_a_wrong_key_gets_the_hooks_401_message_naming_the_real_id(answers: dict[str, dict]) -> None:
    answer = answers["hm_ui_wrong"]
    assert answer["status"] == 200, answer
    reply = answer["reply"]
    assert reply["status"] is False
    message = reply["message"]
    assert "HTTP 401" in message and "Check the API key in the Airflow connection 'hm_ui_wrong'" in message
    assert ("check it again with the Test button of 'hm_ui_wrong' in Admin > Connections, or "
            "`airflow connections test hm_ui_wrong`") in message
    assert _quoted_ids(message) == {"hm_ui_wrong"}, message  # never the route's temporary 8-character id
    assert WRONG_KEY not in message and credentials.HEYMARKET_API_KEY not in message


def test_an_api_secret_connection_works_from_the_button(answers: dict[str, dict]) -> None:
    reply = answers["hm_ui_jwt"]["reply"]
    assert reply["status"] is True, reply
    assert "'hm_ui_jwt' works" in reply["message"] and "API secret (JWT)" in reply["message"]


def test_an_unsaved_connection_tested_through_the_api_names_its_id(answers: dict[str, dict]) -> None:
    """No stored row: the route tests the body as sent (port 0 is fine then: nothing to compare with)."""
    reply = answers["hm_not_saved_yet"]["reply"]
    assert reply["status"] is True, reply
    assert _quoted_ids(reply["message"]) == {"hm_not_saved_yet"}


def test_outside_the_test_route_the_hook_keeps_its_own_id(monkeypatch: pytest.MonkeyPatch,
                                                          heymarket_emulator: EmulatorProcess) -> None:
    """A task or the CLI: no Test-route frame on the stack, the hook names the id it was given."""
    from heymarket_hook.hook import HeymarketHook, _tested_connection_id

    monkeypatch.setenv("AIRFLOW_CONN_HM_CLI_STYLE", json.dumps(
        {"conn_type": "heymarket", "host": heymarket_emulator.base_url, "password": WRONG_KEY}))
    assert _tested_connection_id("hm_cli_style") is None
    ok, message = HeymarketHook("hm_cli_style").test_connection()
    assert not ok and _quoted_ids(message) == {"hm_cli_style"}


def test_a_lookalike_frame_with_another_transient_id_is_ignored() -> None:
    """Only the route frame whose temporary id is this hook's own is trusted."""
    from heymarket_hook.hook import _TEST_ROUTE_MODULE, _tested_connection_id

    scope: dict[str, object] = {"__name__": _TEST_ROUTE_MODULE, "_probe": _tested_connection_id}
    exec(textwrap.dedent(  # noqa: S102 - a function with the route's module and name, to own a real frame
        """
        class Body:
            connection_id = "the_real_id"

        def test_connection(asked):
            transient_conn_id = "Ab3dE6gH"
            test_body = Body()
            return _probe(asked)
        """), scope)
    route = scope["test_connection"]
    assert route("Ab3dE6gH") == "the_real_id"  # type: ignore[operator]
    assert route("Zz9yX8wV") is None  # type: ignore[operator]

