"""The Sync history page as an analyst tool, in headless Chromium against the stack's real api-server.

500 runs spanning 30 days are written once for the module into the stack's state store (the way preflight
and ``record_run`` write them, ``tests.history_seed``), ending three days ago so that the runs other
modules record (now) stay out of the seeded window; every view here filters on that window. What each view
must show is computed from the seeded plan, never read back from the page. The same api-server (the
session's stack) serves ``test_history_page``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.deploy.stack import AirflowStack, airflow_stack  # noqa: F401 - the session's stack fixture
from tests.deploy.test_history_page import PERSONAL_DATA, DevTools
from tests.history_seed import BIG_CREATES, PLANTED, SeedRun, plan_history, seed

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SEED_RUNS = 500
SEED_DAYS = 30


@dataclass(frozen=True)
class Seeded:
    runs: list[SeedRun]
    window: str  # the query string selecting exactly the seeded runs
    big: SeedRun
    failed: SeedRun

    def newest_first(self, runs: list[SeedRun] | None = None) -> list[str]:
        chosen = self.runs if runs is None else runs
        return [r.run_id for r in sorted(chosen, key=lambda r: (r.started_at, r.run_id), reverse=True)]


@pytest.fixture(scope="module")
def stack(airflow_stack: AirflowStack) -> AirflowStack:  # noqa: F811 - the imported fixture
    return airflow_stack


@pytest.fixture(scope="module")
def seeded(stack: AirflowStack) -> Seeded:
    from sync_engine.state import StateStore

    end = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    runs = plan_history(SEED_RUNS, days=SEED_DAYS, end=end, prefix=f"analyst__{uuid.uuid4().hex[:6]}_")
    big = runs[SEED_RUNS // 2]
    failed = next(r for r in runs if r.status == "failed" and r.counts)
    with StateStore(stack.settings.state_url) as store:
        store.migrate()
        seed(store, runs, outcomes_for=[big.run_id, failed.run_id])
    first = runs[0].started_at.date()
    return Seeded(runs=runs, window=f"from={first.isoformat()}&to={end.date().isoformat()}", big=big, failed=failed)


@pytest.fixture(scope="module")
def browser(stack: AirflowStack) -> Iterator[DevTools]:
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


def click_and_wait(browser: DevTools, script: str, timeout: float = 60.0) -> None:
    """Run ``script`` (a click or a form submit) and wait until the page it leads to has loaded."""
    browser.events.clear()
    browser.call("Runtime.evaluate", expression=script)
    deadline = time.monotonic() + timeout
    while not any(e.get("method") == "Page.loadEventFired" for e in browser.events):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no page loaded within {timeout:.0f}s after {script}")
        browser.events.append(json.loads(browser.ws.recv(timeout=timeout)))


def fetch_text(browser: DevTools, url: str) -> str:
    """What the browser gets for ``url`` (with its login cookie), as text."""
    result = browser.call("Runtime.evaluate", expression=f"fetch({json.dumps(url)}).then(r => r.text())",
                          awaitPromise=True, returnByValue=True)
    return str(dict(result["result"]).get("value"))  # type: ignore[arg-type]


def rows(browser: DevTools) -> list[list[str]]:
    """``[run id, status]`` of every run row of the table shown."""
    return browser.evaluate(  # type: ignore[return-value]
        "[...document.querySelectorAll('#runs tbody tr[data-run-id]')].map(r => [r.dataset.runId, r.dataset.status])")


def test_time_axis_log_scale_and_failed_runs_marked(stack: AirflowStack, seeded: Seeded, browser: DevTools) -> None:
    browser.navigate(f"{stack.api_url}/sync-history/?{seeded.window}&page_size=500")
    assert [r[0] for r in rows(browser)] == seeded.newest_first()
    assert "500 run(s) match" in str(browser.evaluate("document.querySelector('#summary').innerText"))
    # bars sit at their run's start: x grows with the time and is proportional to it
    bars = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#chart-written rect[data-series=\"written to heymarket\"]')]"
        ".map(b => [b.dataset.runId, [b.getBoundingClientRect().x, b.getBoundingClientRect().height]]))")
    assert isinstance(bars, dict) and len(bars) > 400
    placed = sorted((r.started_at, bars[r.run_id][0]) for r in seeded.runs if r.run_id in bars)
    xs = [x for _, x in placed]
    assert xs == sorted(xs)
    (t0, x0), (t1, x1), (t2, x2) = placed[0], placed[len(placed) // 3], placed[-1]
    assert abs((x1 - x0) / (x2 - x0) - (t1 - t0) / (t2 - t0)) < 0.03
    # the 2,655-create run and a run of a few records are both readable
    small = next(r for r in seeded.runs if r.status == "success" and r.run_id in bars
                 and 2 <= r.counts["Contact"]["to_heymarket"]["created"] <= 4)
    big_h, small_h = bars[seeded.big.run_id][1], bars[small.run_id][1]
    assert seeded.big.counts["Contact"]["to_heymarket"]["created"] == BIG_CREATES
    assert small_h >= 10 and big_h > small_h, (small_h, big_h)  # pixels; a linear scale gives the small one < 1
    titles = browser.evaluate("[...document.querySelectorAll('.chart h2')].map(h => h.innerText)")
    assert titles and all("(log scale)" in t for t in titles)  # type: ignore[union-attr]
    # failed and cancelled runs are marked on the chart, written records or not
    marks = browser.evaluate("[...document.querySelectorAll('#chart-written .run-mark')]"
                             ".map(m => [m.dataset.runId, m.dataset.status])")
    expected = sorted([r.run_id, r.status] for r in seeded.runs if r.status in ("failed", "cancelled"))
    assert sorted(marks) == expected and any(s == "failed" for _, s in expected)  # type: ignore[arg-type]
    # a failed run that ended before preflight has no known duration: "unknown", never "0s"
    unknown = next(r for r in seeded.runs if r.status == "failed" and not r.counts)
    duration = browser.evaluate(f"document.querySelector('tr[data-run-id=\"{unknown.run_id}\"] td[data-duration]')"
                                ".innerText")
    assert duration == "unknown"
    assert browser.evaluate("document.querySelectorAll('td[data-api=\"salesforce-budget\"]')[0].innerText") == \
        "budget unknown"  # the stack's config names no daily budget


def test_filters_through_the_form_and_paging_keep_the_view_in_the_url(stack: AirflowStack, seeded: Seeded,
                                                                      browser: DevTools) -> None:
    browser.navigate(f"{stack.api_url}/sync-history/?{seeded.window}")
    click_and_wait(browser, "for (const o of document.querySelectorAll('#filter-status option'))"
                            " o.selected = ['failed', 'cancelled'].includes(o.value);"
                            "document.querySelector('#filter-trigger option[value=scheduled]').selected = true;"
                            "document.querySelector('#filters button').click()")
    query = parse_qs(urlsplit(str(browser.evaluate("location.href"))).query)
    assert query["status"] == ["failed", "cancelled"] and query["trigger"] == ["scheduled"] and "from" in query
    expected = [r for r in seeded.runs if r.status in ("failed", "cancelled") and r.trigger == "scheduled"]
    assert [r[0] for r in rows(browser)] == seeded.newest_first(expected)
    # paging: 50 a page on the server, the filters kept by every pager link
    successes = seeded.newest_first([r for r in seeded.runs if r.status == "success"])
    browser.navigate(f"{stack.api_url}/sync-history/?{seeded.window}&status=success")
    assert [r[0] for r in rows(browser)] == successes[:50]
    click_and_wait(browser, "document.querySelector('#page-next').click()")
    assert [r[0] for r in rows(browser)] == successes[50:100]
    click_and_wait(browser, "document.querySelector('#page-last').click()")
    last = -(-len(successes) // 50)
    assert [r[0] for r in rows(browser)] == successes[(last - 1) * 50:]
    assert parse_qs(urlsplit(str(browser.evaluate("location.href"))).query)["page"] == [str(last)]


def test_exports_have_exactly_the_runs_the_filters_select(stack: AirflowStack, seeded: Seeded,
                                                          browser: DevTools) -> None:
    browser.navigate(f"{stack.api_url}/sync-history/?{seeded.window}&trigger=manual&object=Lead")
    expected = [r for r in seeded.runs if r.trigger in ("manual", "DagRunType.MANUAL") and "Lead" in r.objects]
    assert len(expected) > 50  # more than the page shows: the export takes every page
    csv_href = str(browser.evaluate("document.querySelector('#export-csv').href"))
    exported = list(csv.DictReader(io.StringIO(fetch_text(browser, csv_href))))
    assert [r["run_id"] for r in exported] == seeded.newest_first(expected)
    by_id = {r.run_id: r for r in expected}
    for row in exported:
        assert int(row["to_salesforce_created"] or row["planned_to_salesforce_created"]) == \
            by_id[row["run_id"]].counts["Lead"]["to_salesforce"]["created"]  # the object filter: Lead only
    json_href = str(browser.evaluate("document.querySelector('#export-json').href"))
    data = json.loads(fetch_text(browser, json_href))
    assert data["count"] == len(expected) and data["filters"]["object"] == ["Lead"]


def test_a_runs_own_view_lists_its_records_filtered_by_action(stack: AirflowStack, seeded: Seeded,
                                                              browser: DevTools) -> None:
    browser.navigate(f"{stack.api_url}/sync-history/?{seeded.window}&page_size=500")
    click_and_wait(browser, f"document.querySelector('tr[data-run-id=\"{seeded.big.run_id}\"] a.run-view').click()")
    assert str(browser.evaluate("document.querySelector('#run-title').innerText")).endswith(seeded.big.run_id)
    contact = seeded.big.counts["Contact"]["to_heymarket"]
    total = contact["created"] + contact["failed"] + contact["duplicate"] + contact["invalid"]
    summary = str(browser.evaluate("document.querySelector('#records-summary').innerText"))
    assert summary.startswith(f"{total:,} record(s); page 1 of {-(-total // 100)}"), summary
    assert browser.evaluate("document.querySelectorAll('#records tbody tr').length") == 100
    # the stack's Salesforce connection names no org URL: plain ids, no links
    assert browser.evaluate("document.querySelectorAll('#records a.sf-record').length") == 0
    click_and_wait(browser, "document.querySelector('#record-action').value = 'invalid';"
                            "document.querySelector('#record-filters button').click()")
    shown = browser.evaluate("[...document.querySelectorAll('#records tbody tr')].map(r => r.dataset.action)")
    assert shown == ["invalid"] * contact["invalid"] and contact["invalid"] > 0
    assert parse_qs(urlsplit(str(browser.evaluate("location.href"))).query)["action"] == ["invalid"]
    browser.navigate(f"{stack.api_url}/sync-history/runs/{seeded.failed.run_id}")
    facts = str(browser.evaluate("document.querySelector('dl.facts').innerText"))
    assert "failed" in facts and "preflight failed" in facts and "0s" not in facts.split("Duration")[1][:12]


def test_no_page_or_export_holds_personal_data(stack: AirflowStack, seeded: Seeded) -> None:
    """Planted in run params, a failure message, a record error and the link table: none reaches the page."""
    pages = [f"/sync-history/?{seeded.window}&page={p}" for p in range(1, 11)] + [
        f"/sync-history/api/runs?{seeded.window}&page_size=500", f"/sync-history/export.csv?{seeded.window}",
        f"/sync-history/export.json?{seeded.window}", f"/sync-history/runs/{seeded.big.run_id}",
        f"/sync-history/runs/{seeded.failed.run_id}", f"/sync-history/api/runs/{seeded.failed.run_id}?page_size=1000"]
    planted = [PLANTED["phone"], PLANTED["phone"][2:], PLANTED["phone_human"], PLANTED["email"], PLANTED["name"]]
    for path in pages:
        resp = stack.api("GET", path)
        assert resp.status_code == 200, (path, resp.status_code)
        assert not [p for p in planted if p in resp.text], path
        found = PERSONAL_DATA.search(re.sub(r"<style>.*?</style>", "", resp.text, flags=re.S))
        assert found is None, (path, found.group(0) if found else None)
