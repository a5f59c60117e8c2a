"""Admin ▸ Connections ▸ Test for Heymarket connections, clicked in headless Chromium against the running stack.

The stack (``tests/deploy/stack.py``: api-server, scheduler, dag-processor, triggerer and a Celery worker as
processes, ``[core] test_connection = Enabled`` from docker-compose.yaml) has the Heymarket emulator beside
it. Chromium is driven through the DevTools protocol as in ``test_history_page.py``, with real mouse clicks
and typed text, so React sees what a person's browser sends. In Airflow 3.3.2 the Test button sits in each
row of the connection list; it posts the listed connection with ``port: Number(port)`` (0 for an empty port),
which is why the Heymarket form keeps its Port field (``heymarket_hook/provider_info.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.common import credentials
from tests.deploy.stack import REPO, VENV_BIN, AirflowStack, airflow_stack, wait_for  # noqa: F401 - fixture
from tests.deploy.test_history_page import DevTools

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

WRONG_KEY = "hm_wrong_key_typed_in_the_form_0000"
#: Rewritten only on request (HM_UPDATE_SCREENSHOT=1), like the history page's picture.
README_SCREENSHOT = REPO / "docs" / "img" / "heymarket-connection-test.png"

_KEYS = {"Enter": 13, "Backspace": 8}
#: Every toast the page shows, in order, kept by the page itself (toasts vanish after a few seconds).
_TOAST_RECORDER = """
(() => {
  if (window.__toasts) return true;
  window.__toasts = []; const seen = new WeakSet();
  setInterval(() => document.querySelectorAll('[data-scope=toast][data-part=root]').forEach(e => {
    const text = e.innerText.trim();
    if (!seen.has(e) && text) { seen.add(e); window.__toasts.push({type: e.dataset.type, text}); }
  }), 50);
  return true;
})()
"""


class ConnectionsPage(DevTools):
    """The connection list and its form, operated with the mouse and the keyboard."""

    def __init__(self, workdir: Path, stack: AirflowStack) -> None:
        super().__init__(workdir)
        self.stack = stack
        self.call("Network.enable")
        self.call("Network.setCookie", name="_token", value=stack.token(), url=stack.api_url, httpOnly=True,
                  path="/")

    def wait(self, expression: str, what: str, timeout: float = 30.0) -> object:
        probe = f"(() => {{ const v = {expression}; return (v instanceof Node) ? true : v; }})()"
        return wait_for(lambda: self.evaluate(probe), timeout, what, interval=0.2, on_timeout=self.what_it_shows)

    def what_it_shows(self) -> str:
        """For a failure message: the page's text, its toasts, and a screenshot."""
        shot = self.screenshot(Path(tempfile.mkdtemp(prefix="hm-chromium-failure-")) / "page.png")
        toasts = self.evaluate("JSON.stringify(window.__toasts || [])")
        return f"page text:\n{self.evaluate('document.body.innerText')}\ntoasts: {toasts}\nscreenshot: {shot}"

    def open_list(self) -> None:
        self.navigate(f"{self.stack.api_url}/connections")
        self.wait("[...document.querySelectorAll('button')].find(b => b.innerText.includes('Add Connection'))",
                  "the connection list")
        self.evaluate(_TOAST_RECORDER)

    def click(self, expression: str) -> None:
        """A mouse click in the middle of the element, once nothing (a toast) covers that point."""
        script = (f"(() => {{ const e = {expression}; if (!e) return null; e.scrollIntoView({{block: 'center'}});"
                  " const b = e.getBoundingClientRect(), x = b.x + b.width / 2, y = b.y + b.height / 2;"
                  " return e.contains(document.elementFromPoint(x, y)) ? [x, y] : null; })()")
        box = wait_for(lambda: self.evaluate(script), 30, f"a clickable {expression}", interval=0.2,
                       on_timeout=self.what_it_shows)
        x, y = box  # type: ignore[misc]
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def press(self, key: str) -> None:
        code = _KEYS[key]
        self.call("Input.dispatchKeyEvent", type="keyDown", key=key, code=key, windowsVirtualKeyCode=code,
                  text="\r" if key == "Enter" else "")
        self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=key, windowsVirtualKeyCode=code)

    def type_into(self, expression: str, text: str) -> None:
        """Click the field, select what it holds, delete it and type ``text``."""
        self.click(expression)
        self.evaluate(f"(() => {{ const e = {expression}; e.select && e.select(); }})()")
        self.press("Backspace")
        self.call("Input.insertText", text=text)

    @staticmethod
    def field(name: str) -> str:
        return f"document.querySelector('[role=dialog] input[name={name}]')"

    @staticmethod
    def row(conn_id: str) -> str:
        return (f"[...document.querySelectorAll('tbody tr')].find(r => r.cells[1] && "
                f"r.cells[1].innerText.trim() === '{conn_id}')")

    def fill_form(self, *, host: str | None = None, api_key: str | None = None, port: int | None = None) -> None:
        for name, value in (("host", host), ("password", api_key), ("port", port)):
            if value is not None:
                self.type_into(self.field(name), str(value))

    def save_form(self) -> None:
        self.click("[...document.querySelectorAll('[role=dialog] button')].find(b => b.innerText.trim() === 'Save')")
        self.wait("!document.querySelector('[role=dialog]')", "the form to close after Save")

    def add_connection(self, conn_id: str, **fields: str | int) -> None:
        """Admin ▸ Connections ▸ Add Connection: id, type Heymarket (picked from the list), fields, Save."""
        self.click("[...document.querySelectorAll('button')].find(b => b.innerText.includes('Add Connection'))")
        self.wait(self.field("connection_id"), "the Add Connection form")
        self.type_into(self.field("connection_id"), conn_id)
        self.type_into("document.querySelector('[role=dialog] input[role=combobox]')", "Heymarket")
        self.wait("[...document.querySelectorAll('[role=option]')].some(o => o.innerText.trim() === 'Heymarket')",
                  "Heymarket in the connection type list")
        self.press("Enter")
        self.wait(self.field("port"), "the Heymarket form's standard fields")
        self.fill_form(**fields)  # type: ignore[arg-type]
        self.save_form()
        self.wait(self.row(conn_id), f"{conn_id} in the list")

    def edit_connection(self, conn_id: str, **fields: str | int) -> dict[str, str]:
        """Open the row's edit form, return what it shows, change ``fields``, Save."""
        self.click(self.row(conn_id) + ".querySelector('button[aria-label=\"Edit Connection\"]')")
        self.wait(self.field("port"), f"the edit form of {conn_id}")
        shown = self.evaluate("Object.fromEntries([...document.querySelectorAll('[role=dialog] input[name]')]"
                              ".filter(e => e.name).map(e => [e.name, e.value]))")
        self.fill_form(**fields)  # type: ignore[arg-type]
        self.save_form()
        return dict(shown)  # type: ignore[arg-type]

    def click_test(self, conn_id: str) -> dict[str, str]:
        """Click the row's Test button; return the toast it answers with (``type``, ``text``)."""
        before = int(self.evaluate("window.__toasts.length"))  # type: ignore[arg-type]
        self.click(self.row(conn_id) + ".querySelector('button[aria-label=\"Test Connection\"]')")
        script = (f"window.__toasts.slice({before}).find(t => t.text.startsWith('Test Connection')) || null")
        return dict(self.wait(script, f"the Test toast of {conn_id}", timeout=60))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def stack(airflow_stack: AirflowStack) -> AirflowStack:  # noqa: F811 - the imported fixture
    return airflow_stack


@pytest.fixture(scope="module")
def page(stack: AirflowStack) -> Iterator[ConnectionsPage]:
    workdir = Path(tempfile.mkdtemp(prefix="hm-chromium-conn-"))
    browser = ConnectionsPage(workdir, stack)
    try:
        yield browser
    finally:
        browser.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def emulator(stack: AirflowStack) -> dict[str, object]:
    hm = stack.emulators["heymarket"]
    return {"url": hm.base_url, "port": hm.port}  # type: ignore[attr-defined]


def _assert_401_names(toast: dict[str, str], conn_id: str) -> None:
    text = toast["text"]
    assert toast["type"] == "error" and text.startswith("Test Connection Failed"), toast
    assert "HTTP 401" in text and f"Check the API key in the Airflow connection '{conn_id}'" in text, text
    assert (f"check it again with the Test button of '{conn_id}' in Admin > Connections, or "
            f"`airflow connections test {conn_id}`") in text, text
    assert WRONG_KEY not in text and credentials.HEYMARKET_API_KEY not in text


def _assert_success(toast: dict[str, str], conn_id: str, url: str) -> None:
    assert toast["type"] == "success", toast
    assert toast["text"] == (f"Test Connection Successful\nHeymarket connection '{conn_id}' works: connected to "
                             f"{url} with the team API key (legacy); 2 inbox(es) visible.")


def test_a_new_connection_from_the_form_wrong_key_then_right_key(
    stack: AirflowStack, page: ConnectionsPage, emulator: dict[str, object], tmp_path: Path,
) -> None:
    page.open_list()
    page.add_connection("hm_ui_new", host=str(emulator["url"]), api_key=WRONG_KEY, port=int(emulator["port"]))
    stored = stack.api_json("GET", "/api/v2/connections/hm_ui_new")
    assert (stored["conn_type"], stored["port"], stored["password"]) == ("heymarket", emulator["port"], "***")

    _assert_401_names(page.click_test("hm_ui_new"), "hm_ui_new")
    page.screenshot(tmp_path / "test-401.png")

    shown = page.edit_connection("hm_ui_new", api_key=credentials.HEYMARKET_API_KEY)
    assert shown["password"] == "***" and shown["port"] == str(emulator["port"])  # the form never shows the key
    _assert_success(page.click_test("hm_ui_new"), "hm_ui_new", str(emulator["url"]))
    time.sleep(0.5)  # let the toast finish painting before the picture
    shot = page.screenshot(tmp_path / "test-success.png")
    print(f"\nscreenshots of the Test button: {tmp_path / 'test-401.png'}, {shot}")
    if os.environ.get("HM_UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)


def test_an_existing_connection_saved_without_port_works_once_the_form_has_the_port(
    stack: AirflowStack, page: ConnectionsPage, emulator: dict[str, object],
) -> None:
    """A connection saved before this change (or by the API/CLI without a port): Airflow 3.3.2 refuses the
    button's request; filling the form's Port field and saving is the fix the README gives."""
    stack.api_json("POST", "/api/v2/connections", json={
        "connection_id": "hm_saved_earlier", "conn_type": "heymarket", "host": emulator["url"],
        "password": credentials.HEYMARKET_API_KEY})
    page.open_list()
    refused = page.click_test("hm_saved_earlier")
    assert refused == {"type": "error", "text": "Test Connection Failed\nBad Request"}, refused

    shown = page.edit_connection("hm_saved_earlier", port=int(emulator["port"]))
    assert shown["port"] == ""
    assert stack.api_json("GET", "/api/v2/connections/hm_saved_earlier")["port"] == emulator["port"]
    _assert_success(page.click_test("hm_saved_earlier"), "hm_saved_earlier", str(emulator["url"]))


def test_the_cli_test_command(stack: AirflowStack) -> None:
    """``airflow connections test <conn_id>``, run as ``docker compose exec airflow-scheduler ...`` would."""
    hm = stack.emulators["heymarket"]
    for conn_id, key in (("hm_cli_right", credentials.HEYMARKET_API_KEY), ("hm_cli_wrong", WRONG_KEY)):
        stack.api_json("POST", "/api/v2/connections", json={
            "connection_id": conn_id, "conn_type": "heymarket", "host": hm.base_url,  # type: ignore[attr-defined]
            "port": hm.port, "password": key})  # type: ignore[attr-defined]
    env = stack.service_env("airflow-scheduler")

    def cli(conn_id: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(VENV_BIN / "airflow"), "connections", "test", conn_id], env=env,
                              capture_output=True, text=True, timeout=180, check=False)

    good = cli("hm_cli_right")
    assert good.returncode == 0 and "Connection success!" in good.stdout, good.stdout + good.stderr
    bad = cli("hm_cli_wrong")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    printed = " ".join(bad.stdout.split())  # Airflow's console wraps long lines at 200 characters
    assert "Connection failed!" in printed and "HTTP 401" in printed
    assert ("Check the API key in the Airflow connection 'hm_cli_wrong' (a rotated key stops working at once), "
            "then check it again with the Test button of 'hm_cli_wrong' in Admin > Connections, or "
            "`airflow connections test hm_cli_wrong`") in printed, bad.stdout
    assert WRONG_KEY not in bad.stdout + bad.stderr
    print(f"\n$ airflow connections test hm_cli_wrong\n{bad.stdout.strip()}")


def test_no_connection_secret_reached_the_api_server_log(stack: AirflowStack, page: ConnectionsPage) -> None:
    """The tests above typed and stored the keys; the api-server, which ran the hook, never logged them."""
    log = stack.components["airflow-apiserver"].log_path.read_text(errors="replace")
    assert "hm_ui_new" in log or "connections/test" in log  # the log is the right one
    assert WRONG_KEY not in log and credentials.HEYMARKET_API_KEY not in log
    assert json.dumps(credentials.HEYMARKET_API_KEY) not in log
