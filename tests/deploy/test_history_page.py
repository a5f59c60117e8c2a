"""The "Sync history" page: in the running stack's api-server, over HTTP and in a real (headless) Chromium.

Chromium is driven through the DevTools protocol (a few commands over its websocket) because the page needs
the Airflow UI's ``_token`` cookie, which ``chromium --screenshot`` alone cannot send. Needs Debian's
``chromium`` package (``apt-get install -y chromium``).
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.deploy.stack import REPO, AirflowStack, airflow_stack, free_port, wait_for  # noqa: F401 - fixture

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

#: The README's picture; rewritten only on request (HM_UPDATE_SCREENSHOT=1), so tests leave the checkout clean.
README_SCREENSHOT = REPO / "docs" / "img" / "sync-history.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Personal data must never reach the page: e-mail addresses and phone-number-like digit runs.
PERSONAL_DATA = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"  # e-mail
                           r"|\+?\b\d{10,15}\b"  # E.164 digits (Heymarket's form)
                           r"|\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")  # (415) 555-0100, 415.555.0100

COUNTS_1 = {"Contact": {"to_heymarket": {"created": 7, "updated": 2, "failed": 1}, "to_salesforce": {"created": 3},
                        "state": {"linked": 4, "in_sync": 41, "out_of_sync": 1, "held_duplicate": 2,
                                  "held_retry": 1}},
            "Lead": {"to_heymarket": {"created": 4, "deleted": 1}, "state": {"in_sync": 12, "out_of_sync": 0}}}
COUNTS_2 = {"Contact": {"to_heymarket": {"updated": 5}}, "Lead": {"to_salesforce": {"updated": 2, "failed": 2}}}


@pytest.fixture(scope="module")
def stack(airflow_stack: AirflowStack) -> AirflowStack:  # noqa: F811 - the imported fixture
    return airflow_stack


#: The history row of the partial run says why (as apply does when the Salesforce budget guard trips).
NOTE = ("apply_salesforce stopped: Salesforce daily API budget reserve reached (950 of 15000 left, reserve 1000); "
        "the rest is applied by a later run")


@pytest.fixture(scope="module")
def recorded_runs(stack: AirflowStack) -> list[str]:
    """Two finished runs written to the stack's state store the way preflight and record_run write them."""
    from sync_engine.state import StateStore

    tag = uuid.uuid4().hex[:6]
    ids = [f"history_check__{tag}_1", f"history_check__{tag}_2", f"history_check__{tag}_dry"]
    runs = [(COUNTS_1, "success", False), (COUNTS_2, "partial", False), (COUNTS_1, "dry_run", True)]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with StateStore(stack.settings.state_url) as store:
        store.migrate()
        for i, (run_id, (counts, status, dry)) in enumerate(zip(ids, runs, strict=True)):
            began = start + dt.timedelta(minutes=30 * i)
            # the dry run's trigger as preflight writes it today (the enum's str())
            store.start_run(run_id, "heymarket_sync", trigger="DagRunType.MANUAL" if dry else "scheduled",
                            mode="incremental", objects=["Contact", "Lead"], dry_run=dry, started_at=began)
            store.finish_run(run_id, status, counts, {"heymarket": {"contacts": 3 + i}, "salesforce": {"query": 5}},
                             NOTE if status == "partial" else None, ended_at=began + dt.timedelta(seconds=95))
    return ids


# --- over HTTP -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sync-history/", "/sync-history/api/runs"])
def test_routes_refuse_requests_without_credentials(stack: AirflowStack, path: str) -> None:
    resp = stack.api("GET", path, auth=False)
    assert resp.status_code == 401, (resp.status_code, resp.text[:300])


def test_runs_json_with_a_bearer_token(stack: AirflowStack, recorded_runs: list[str]) -> None:
    data = stack.api_json("GET", "/sync-history/api/runs?limit=100")
    by_id = {run["run_id"]: run for run in data["runs"]}  # type: ignore[union-attr]
    assert set(recorded_runs) <= set(by_id), sorted(by_id)
    first, second = by_id[recorded_runs[0]], by_id[recorded_runs[1]]
    assert first["status"] == "success" and second["status"] == "partial"
    assert first["counts"]["Contact"] == {"created": 10, "updated": 2, "deleted": 0, "failed": 1}
    assert first["counts"]["Lead"] == {"created": 4, "updated": 0, "deleted": 1, "failed": 0}
    assert second["counts"]["Lead"]["failed"] == 2
    assert first["api_calls"] == {"heymarket": 3, "salesforce": 5}
    assert first["duration_seconds"] == 95
    assert set(first) == {"run_id", "dag_id", "status", "mode", "trigger", "dry_run", "objects", "started_at",
                          "ended_at", "duration_seconds", "counts", "planned", "api_calls", "note", "in_sync",
                          "out_of_sync", "held_back", "held_back_reasons", "drift", "by_direction",
                          "planned_by_direction", "quality", "salesforce_daily_budget", "salesforce_budget_share",
                          "heymarket_calls_per_minute"}
    # per direction, not mixed: Contact 7 + Lead 4 created in Heymarket, 3 Contacts created in Salesforce
    assert first["by_direction"] == {  # opt-out states written (issue 15): none in these runs
        "to_heymarket": {"created": 11, "updated": 2, "deleted": 1, "failed": 1, "opted_out": 0},
        "to_salesforce": {"created": 3, "updated": 0, "failed": 0, "opted_out": 0, "opted_in": 0}}
    assert first["heymarket_calls_per_minute"] == round(3 / (95 / 60), 1)  # 3 calls in 95 s
    assert first["salesforce_daily_budget"] is None  # the stack's config names none: "budget unknown"
    assert (first["note"], second["note"]) == (None, NOTE)
    # the drift after the run: linked pairs in sync, records held back and why (none recorded for the second)
    assert (first["in_sync"], first["out_of_sync"], first["held_back"]) == (53, 1, 3)
    assert first["held_back_reasons"] == {"duplicate": 2, "waiting_retry": 1}
    assert first["drift"]["Lead"] == {"in_sync": 12, "out_of_sync": 0, "held_back": 0, "held_back_reasons": {}}
    assert (second["in_sync"], second["held_back"]) == (None, None)
    assert not PERSONAL_DATA.search(json.dumps(data))


def test_dry_run_counts_are_shown_as_planned(stack: AirflowStack, recorded_runs: list[str]) -> None:
    """A dry run wrote nothing: what it counted must never appear as written."""
    data = stack.api_json("GET", "/sync-history/api/runs?limit=100")
    dry = next(run for run in data["runs"] if run["run_id"] == recorded_runs[2])  # type: ignore[union-attr]
    assert dry["dry_run"] is True and dry["trigger"] == "manual"
    assert dry["counts"] == {}
    assert dry["planned"]["Contact"] == {"created": 10, "updated": 2, "deleted": 0, "failed": 1}


def test_limit_is_applied_and_checked(stack: AirflowStack, recorded_runs: list[str]) -> None:
    assert len(stack.api_json("GET", "/sync-history/api/runs?limit=1")["runs"]) == 1  # type: ignore[arg-type]
    assert stack.api("GET", "/sync-history/api/runs?limit=0").status_code == 422


def test_page_accepts_the_ui_cookie(stack: AirflowStack, recorded_runs: list[str]) -> None:
    """The Airflow UI shows the page in a same-origin iframe, which sends the ``_token`` cookie, no header."""
    resp = requests.get(f"{stack.api_url}/sync-history/", cookies={"_token": stack.token()}, timeout=30)
    assert resp.status_code == 200
    assert all(run_id in resp.text for run_id in recorded_runs)
    assert resp.headers["content-type"].startswith("text/html")


def test_plugin_is_registered_with_its_menu_entry(stack: AirflowStack) -> None:
    plugins = {p["name"]: p for p in stack.api_json("GET", "/api/v2/plugins")["plugins"]}  # type: ignore[union-attr]
    assert "sync_history" in plugins, sorted(plugins)
    plugin = plugins["sync_history"]
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == ["/sync-history"]
    view = plugin["external_views"][0]
    assert (view["url_route"], view["category"], view["destination"]) == ("sync-history", "browse", "nav")
    errors = stack.api_json("GET", "/api/v2/plugins/importErrors")["import_errors"]
    assert not [e for e in errors if "sync_history" in e["source"]], errors  # type: ignore[index]


# --- in a real browser ---------------------------------------------------------------------------------


class DevTools:
    """Headless Chromium and the few DevTools protocol commands these tests need."""

    def __init__(self, workdir: Path) -> None:
        if CHROMIUM is None:
            raise RuntimeError("chromium is not installed: apt-get install -y chromium")
        self.port = free_port()
        self.log = (workdir / "chromium.log").open("wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={workdir / 'profile'}", f"--remote-debugging-port={self.port}",
             "--window-size=1400,900", "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        targets = wait_for(lambda: [t for t in requests.get(f"http://127.0.0.1:{self.port}/json/list", timeout=2)
                                    .json() if t["type"] == "page"], 30, "chromium DevTools endpoint", 0.3)
        from websockets.sync.client import connect

        self.ws = connect(targets[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)  # type: ignore[index]
        self._ids = itertools.count(1)
        self.events: list[dict[str, object]] = []

    def call(self, method: str, **params: object) -> dict[str, object]:
        call_id = next(self._ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result") or {})
            self.events.append(message)

    def navigate(self, url: str, timeout: float = 60.0) -> None:
        self.events.clear()
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load within {timeout:.0f}s")
            self.events.append(json.loads(self.ws.recv(timeout=timeout)))

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return dict(result.get("result") or {}).get("value")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(str(data)))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                    self.proc.wait(wait)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
            self.log.close()


@pytest.fixture(scope="module")
def browser(stack: AirflowStack) -> Iterator[DevTools]:
    """Chromium logged in to the stack the way the UI is: the ``_token`` cookie, HTTP-only."""
    workdir = Path(tempfile.mkdtemp(prefix="hm-chromium-"))
    devtools = DevTools(workdir)
    try:
        devtools.call("Network.enable")
        devtools.call("Network.setCookie", name="_token", value=stack.token(), url=stack.api_url, httpOnly=True,
                      path="/")
        yield devtools
    finally:
        devtools.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_page_renders_table_and_charts_in_chromium(stack: AirflowStack, recorded_runs: list[str],
                                                    browser: DevTools, tmp_path: Path) -> None:
    browser.navigate(f"{stack.api_url}/sync-history/")
    rows = browser.evaluate("[...document.querySelectorAll('#runs tbody tr[data-run-id]')].map(r => r.dataset.runId)")
    assert set(recorded_runs) <= set(rows), rows  # type: ignore[arg-type]
    charts = browser.evaluate("[...document.querySelectorAll('#charts svg')].map(s => s.id)")
    assert charts == ["chart-written", "chart-failed", "chart-quality"]
    first_row_cells = browser.evaluate(
        f"Object.fromEntries([...document.querySelector('tr[data-run-id=\"{recorded_runs[0]}\"]').cells]"
        ".map((c, i) => [c.dataset.count || i, c.innerText]))")
    assert first_row_cells["1"] == "success"  # type: ignore[index]
    assert (first_row_cells["to_heymarket.created"], first_row_cells["to_salesforce.created"]) == ("11", "3")  # type: ignore[index]
    drift = browser.evaluate(
        f"[...document.querySelectorAll('tr[data-run-id=\"{recorded_runs[0]}\"] td.drift')].map(c => c.innerText)")
    assert [" ".join(str(text).split()) for text in drift] == [  # type: ignore[union-attr]
        "53 1 out of sync", "3 duplicate 2, waiting retry 1"]
    planned_cells = browser.evaluate(
        f"document.querySelectorAll('tr[data-run-id=\"{recorded_runs[2]}\"] td.planned').length")
    # to Heymarket: created, updated, deleted, failed, opted out; to Salesforce: no deletes, opted out, opted in
    assert planned_cells == 10
    notes = browser.evaluate(
        "[...document.querySelectorAll('tr.note')].map(r => [r.dataset.noteFor, r.innerText])")
    notes = {run_id: note for run_id, note in notes if run_id in recorded_runs}  # type: ignore[misc,union-attr]
    assert notes == {recorded_runs[1]: f"Why: {NOTE}"}, notes
    text = str(browser.evaluate("document.body.innerText"))
    assert not PERSONAL_DATA.search(text.replace("\n", " ")), "personal data on the page"
    shot = browser.screenshot(tmp_path / "page.png")
    assert shot.stat().st_size > 10_000


def test_page_inside_the_airflow_ui(stack: AirflowStack, recorded_runs: list[str], browser: DevTools,
                                    tmp_path: Path) -> None:
    """Browse > Sync history: the Airflow UI shows the page in an iframe (``/plugin/sync-history``)."""
    browser.navigate(f"{stack.api_url}/plugin/sync-history")
    script = ("(() => { const f = document.querySelector('iframe'); const d = f && f.contentDocument;"
              " return d && d.querySelector('#runs') ? {src: f.getAttribute('src'), "
              "rows: d.querySelectorAll('#runs tbody tr').length} : null; })()")
    frame = wait_for(lambda: browser.evaluate(script), 60, "history table inside the Airflow UI", 1.0)
    assert frame["src"].rstrip("/").endswith("/sync-history"), frame  # type: ignore[index]
    assert frame["rows"] >= len(recorded_runs)  # type: ignore[index]
    menu = str(browser.evaluate("document.body.innerText"))
    assert "Sync history" in menu or "Browse" in menu
    time.sleep(1.0)  # let the shell finish painting before the picture
    shot = browser.screenshot(tmp_path / "sync-history.png")
    assert shot.stat().st_size > 20_000
    print(f"\nscreenshot of Browse > Sync history: {shot}")
    if os.environ.get("HM_UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)


# --- the reader on its own (no stack) ------------------------------------------------------------------


@pytest.fixture
def empty_state_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty PostgreSQL database behind the connection ``hm_history_check``."""
    import psycopg2

    from tests.deploy.stack import PG_HOST, PG_PORT, PG_USER

    name = f"hm_history_check_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    admin.autocommit = True
    url = f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        monkeypatch.setenv("AIRFLOW_CONN_HM_HISTORY_CHECK",
                           json.dumps({"conn_type": "generic", "extra": {"url": url}}))
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.postgres
def test_reader_on_an_empty_store_says_so_and_creates_nothing(empty_state_db: str) -> None:
    from sqlalchemy import create_engine, inspect
    from sync_history.render import render_page
    from sync_history.runs import HistoryReader

    from sync_engine.state import StateStore

    reader = HistoryReader("hm_history_check")
    history = reader.read()
    assert history.runs == [] and "no history tables" in str(history.message)
    assert 'id="empty-state"' in render_page(history)
    engine = create_engine(empty_state_db)
    try:
        assert inspect(engine).get_table_names() == [], "the page must not create the state store's tables"
    finally:
        engine.dispose()
    with StateStore(empty_state_db) as store:
        store.migrate()
    assert reader.read().message == "No sync run has been recorded yet."
