"""The history app's routes over a seeded state store, on SQLite and PostgreSQL (FastAPI's test client; the
same app in a real api-server and Chromium is ``tests/deploy/test_history_analyst.py``).

Airflow's authentication is replaced by a fixed user here (``get_user`` overridden): that every route refuses
a request without credentials is checked against the real api-server in ``tests/deploy/test_history_page.py``.
What each view must hold is computed from the seeded plan (``tests.history_seed``), never from the page.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from sync_engine.state import StateStore
from tests.history_seed import PLANTED, SeedRun, plan_history, seed, sf_id
from tests.unit import test_state_store as backends

pg_database, new_pg_url, new_url = backends.pg_database, backends.new_pg_url, backends.new_url

END = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
N = 130
ORG = "https://acme.my.salesforce.com"


@pytest.fixture
def seeded(new_url: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> tuple[list[SeedRun], str]:
    url = new_url()
    runs = plan_history(N, days=30, end=END, prefix="app__")
    with StateStore(url) as store:
        store.migrate()
        seed(store, runs, outcomes_for=[runs[N // 2].run_id, runs[57].run_id])
    monkeypatch.setenv("AIRFLOW_CONN_HM_PAGE_STATE", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
    monkeypatch.setenv("AIRFLOW_CONN_HM_PAGE_SF", json.dumps({"conn_type": "salesforce",
                                                              "extra": {"instance_url": ORG + "/"}}))
    return runs, url


@pytest.fixture
def client(seeded: tuple[list[SeedRun], str]) -> Iterator[object]:
    from airflow.api_fastapi.core_api import security
    from fastapi.testclient import TestClient
    from sync_history.app import create_app
    from sync_history.runs import HistoryReader, PageSettings

    app = create_app(HistoryReader("hm_page_state", PageSettings(salesforce_conn_id="hm_page_sf",
                                                                 salesforce_budget=15_000)))
    app.dependency_overrides[security.get_user] = lambda: object()
    with TestClient(app) as test_client:
        yield test_client


def newest_first(runs: list[SeedRun]) -> list[str]:
    return [r.run_id for r in sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)]


def shown_ids(html: str) -> list[str]:
    return re.findall(r"<tr data-run-id=\"([^\"]+)\"", html)


def test_the_page_pages_through_every_run_newest_first(client, seeded) -> None:  # noqa: ANN001 - fixtures
    runs, _ = seeded
    seen: list[str] = []
    for page in (1, 2, 3):
        resp = client.get(f"/?page={page}")
        assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
        seen += shown_ids(resp.text)
        assert f"page {page} of 3" in resp.text
    assert seen == newest_first(runs)
    assert client.get("/?page=4").text.count("No run matches these filters.") == 1


def test_filters_select_the_runs_and_the_json_api_says_so(client, seeded) -> None:  # noqa: ANN001
    runs, _ = seeded
    url = "/api/runs?from=2026-11-10&to=2026-11-25&status=success&status=partial&trigger=scheduled&object=Lead"
    data = client.get(url).json()
    start, end = dt.datetime(2026, 11, 10, tzinfo=dt.UTC), dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    expected = [r for r in runs if start <= r.started_at < end and r.status in ("success", "partial")
                and r.trigger == "scheduled" and "Lead" in r.objects]
    assert data["total"] == len(expected) and data["pages"] == 1
    assert [r["run_id"] for r in data["runs"]] == newest_first(expected)
    assert data["filters"] == {"from": "2026-11-10", "to": "2026-11-25", "status": ["success", "partial"],
                               "trigger": ["scheduled"], "object": ["Lead"]}
    # the object filter counts that object only
    lead_created = {r.run_id: r.counts["Lead"]["to_salesforce"]["created"] for r in expected}
    assert {r["run_id"]: r["by_direction"]["to_salesforce"]["created"] for r in data["runs"]} == lead_created


def test_csv_export_has_exactly_the_runs_the_filters_select_over_all_pages(client, seeded) -> None:  # noqa: ANN001
    runs, _ = seeded
    resp = client.get("/export.csv?trigger=scheduled&page=2&page_size=10")  # paging is ignored by an export
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    expected = [r for r in runs if r.trigger == "scheduled"]
    assert len(expected) > 100  # more than two pages of the page's default size
    assert [r["run_id"] for r in rows] == newest_first(expected)
    everything = list(csv.DictReader(io.StringIO(client.get("/export.csv").text)))
    assert len(everything) == N
    big = next(r for r in everything if r["run_id"] == runs[N // 2].run_id)  # a manual run
    assert int(big["to_heymarket_created"]) >= 2_655 and big["salesforce_daily_budget"] == "15000"
    failed = next(r for r in rows if r["status"] == "failed" and r["duration_seconds"] == "")
    assert failed["note"].startswith("preflight failed")


def test_json_export_matches_the_api_runs_for_the_same_filter(client, seeded) -> None:  # noqa: ANN001
    exported = json.loads(client.get("/export.json?status=failed&status=cancelled").text)
    page = client.get("/api/runs?status=failed&status=cancelled&page_size=500").json()
    assert exported["count"] == page["total"] == len(exported["runs"]) > 0
    assert exported["runs"] == page["runs"]


def test_a_runs_own_view_lists_its_records_paged_and_filtered_with_links(client, seeded) -> None:  # noqa: ANN001
    runs, _ = seeded
    big = runs[N // 2]
    html = client.get(f"/runs/{big.run_id}").text
    assert f"Run {big.run_id}" in html and "2,655" not in html.split("records-summary")[0][-50:]
    assert re.search(r"id=\"records-summary\">(\d[\d,]*) record\(s\); page 1 of (\d+)", html)
    first = sf_id(int(big.run_id[-4:]), 0)
    assert f"href=\"{ORG}/{first}\"" in html  # the org's URL from the connection, its trailing slash dropped
    data = client.get(f"/api/runs/{big.run_id}?action=created&object=Contact&page=3&page_size=1000").json()
    assert data["records"]["total"] == 2_655 and len(data["records"]["rows"]) == 655
    assert {r["action"] for r in data["records"]["rows"]} == {"created"}
    assert data["counts_by_direction"]["Contact"]["to_heymarket"]["created"] == 2_655
    invalid = client.get(f"/api/runs/{runs[57].run_id}?action=invalid").json()["records"]
    assert invalid["total"] == runs[57].counts["Contact"]["to_heymarket"]["invalid"] > 0
    assert all(r["reason"] == "not_possible" and r["hm_id"] is None for r in invalid["rows"])


def test_record_ids_are_plain_text_when_the_org_url_is_unknown(seeded, monkeypatch) -> None:  # noqa: ANN001
    from airflow.api_fastapi.core_api import security
    from fastapi.testclient import TestClient
    from sync_history.app import create_app
    from sync_history.runs import HistoryReader, PageSettings

    runs, _ = seeded
    monkeypatch.setenv("AIRFLOW_CONN_HM_PAGE_SF_PLAIN", json.dumps({"conn_type": "salesforce",
                                                                    "login": "someone"}))
    app = create_app(HistoryReader("hm_page_state", PageSettings(salesforce_conn_id="hm_page_sf_plain")))
    app.dependency_overrides[security.get_user] = lambda: object()
    html = TestClient(app).get(f"/runs/{runs[N // 2].run_id}").text
    assert "class=\"sf-record\"" not in html and f"<code>{sf_id(int(runs[N // 2].run_id[-4:]), 0)}</code>" in html
    assert "budget unknown" in html


def test_bad_filters_and_unknown_runs_are_refused(client) -> None:  # noqa: ANN001
    assert client.get("/?status=done").status_code == 422
    assert client.get("/api/runs?limit=0").json() == {"detail": "limit must be a whole number, 1 to 500; got '0'"}
    assert client.get("/export.csv?to=yesterday").status_code == 422
    assert client.get("/runs/no-such-run").status_code == 404
    assert client.get("/api/runs/no-such-run").status_code == 404
    assert client.get("/api/runs/x?action=exploded").status_code == 422


def test_no_page_or_export_holds_a_planted_phone_email_or_name(client, seeded) -> None:  # noqa: ANN001
    """The store holds them (run params, a failure message, a record error, the link table): none may show."""
    runs, url = seeded
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:  # they are there to be found
            assert PLANTED["phone"] in str(conn.execute(text("SELECT phone FROM hm_sync_link")).all())
            assert PLANTED["name"] in str(conn.execute(text("SELECT message FROM hm_sync_record_error")).all())
            assert PLANTED["email"] in str(conn.execute(text("SELECT params FROM hm_sync_run")).first())
    finally:
        engine.dispose()
    planted = [PLANTED["phone"], PLANTED["phone"][2:], PLANTED["phone_human"], PLANTED["email"], PLANTED["name"],
               "Zelda", "Quixote"]
    failed = next(r for r in runs if r.status == "failed")
    texts = {path: client.get(path).text for path in (
        "/", "/?status=failed", "/api/runs?page_size=500", "/export.csv", "/export.json",
        f"/runs/{failed.run_id}", f"/api/runs/{failed.run_id}", f"/runs/{runs[57].run_id}",
        f"/api/runs/{runs[57].run_id}?page_size=1000", f"/runs/{runs[N // 2].run_id}")}
    for path, body in texts.items():
        assert not [p for p in planted if p in body], path
    assert "&lt;redacted&gt;" in texts["/?status=failed"]  # the failure message was there, scrubbed


def test_an_empty_store_says_so_and_exports_nothing(new_url, monkeypatch) -> None:  # noqa: ANN001
    from airflow.api_fastapi.core_api import security
    from fastapi.testclient import TestClient
    from sync_history.app import create_app
    from sync_history.runs import HistoryReader, PageSettings

    url = new_url()
    monkeypatch.setenv("AIRFLOW_CONN_HM_PAGE_EMPTY", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
    app = create_app(HistoryReader("hm_page_empty", PageSettings()))
    app.dependency_overrides[security.get_user] = lambda: object()
    client = TestClient(app)
    assert "no history tables" in client.get("/").text
    assert client.get("/export.csv").text.strip().startswith("run_id,") and client.get("/export.csv").text.count("\n") == 1
    assert json.loads(client.get("/export.json").text) == {"filters": {"from": None, "to": None, "status": [],
                                                                       "trigger": [], "object": []},
                                                           "runs": [], "count": 0}


@pytest.mark.postgres
def test_an_unreadable_store_is_said_on_the_page_and_refused_by_the_exports(monkeypatch) -> None:  # noqa: ANN001
    from airflow.api_fastapi.core_api import security
    from fastapi.testclient import TestClient
    from sync_history.app import create_app
    from sync_history.runs import HistoryReader, PageSettings

    missing = backends.PG_ADMIN_URL.set(database=f"hm_no_such_db_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("AIRFLOW_CONN_HM_PAGE_GONE", json.dumps({"conn_type": "generic", "extra": {
        "url": missing.render_as_string(hide_password=False)}}))
    app = create_app(HistoryReader("hm_page_gone", PageSettings()))
    app.dependency_overrides[security.get_user] = lambda: object()
    client = TestClient(app)
    page = client.get("/")
    assert page.status_code == 200 and "The sync state store could not be read (OperationalError)" in page.text
    for path in ("/export.csv", "/export.json", "/runs/any", "/api/runs/any"):
        resp = client.get(path)
        assert resp.status_code == 503 and "could not be read" in resp.json()["detail"], path


def test_a_real_airflow_run_id_links_to_its_own_view(client, seeded) -> None:  # noqa: ANN001
    """Scheduled run ids hold ``:`` and ``+`` (``scheduled__2026-12-01T12:30:00+00:00``): the page's link must
    reach the run's view, not another path or a ``+`` read as a space."""
    _, url = seeded
    run_id = "scheduled__2026-12-01T12:30:00+00:00"
    with StateStore(url) as store:
        store.start_run(run_id, "heymarket_sync", trigger="scheduled", mode="incremental", objects=["Contact"],
                        started_at=END + dt.timedelta(minutes=30))
        store.finish_run(run_id, "success", {"Contact": {"to_heymarket": {"created": 1}}},
                         ended_at=END + dt.timedelta(minutes=31))
    html = client.get("/").text
    link = re.search(rf"<tr data-run-id=\"{re.escape(run_id)}\".*?<a class=\"run-view\" href=\"([^\"]+)\"", html,
                     re.S)
    assert link is not None and "+" not in link.group(1)
    view = client.get(link.group(1).removeprefix("/sync-history"))  # the test client has the app at its root
    assert view.status_code == 200 and f"Run {run_id}" in view.text


def test_the_list_the_exports_and_a_runs_view_show_opt_outs_and_opt_ins_per_direction(client, seeded) -> None:  # noqa: ANN001
    """Issue 15: ``opted_out`` / ``opted_in`` per direction (history counts since migration 0010) on the run
    list, in both exports and on the run's own view; expected figures from the seeded plan, not the page."""
    runs, _ = seeded
    written = [r for r in runs if not r.dry_run and r.counts]
    expected = {r.run_id: {(d, a): r.counts["Contact"].get(d, {}).get(a, 0)
                           for d, a in (("to_heymarket", "opted_out"), ("to_salesforce", "opted_out"),
                                        ("to_salesforce", "opted_in"))} for r in written}
    assert any(n for figures in expected.values() for n in figures.values())

    rows = {r["run_id"]: r for r in csv.DictReader(io.StringIO(client.get("/export.csv").text))}
    exported = json.loads(client.get("/export.json").text)["runs"]
    by_id = {r["run_id"]: r for r in exported}
    for run_id, figures in expected.items():
        for (direction, action), n in figures.items():
            assert int(rows[run_id][f"{direction}_{action}"]) == n
            assert by_id[run_id]["by_direction"][direction][action] == n
    dry = next(r for r in runs if r.dry_run and r.counts["Contact"]["to_salesforce"].get("opted_out"))
    assert rows[dry.run_id]["to_salesforce_opted_out"] == ""
    assert int(rows[dry.run_id]["planned_to_salesforce_opted_out"]) == dry.counts["Contact"]["to_salesforce"]["opted_out"]

    shown = next(r for r in written if expected[r.run_id][("to_salesforce", "opted_in")])
    page = client.get("/?page_size=500").text
    line = re.search(rf"<tr data-run-id=\"{shown.run_id}\".*?</tr>", page, re.S).group(0)  # type: ignore[union-attr]
    assert f"data-count=\"to_salesforce.opted_in\">{expected[shown.run_id][('to_salesforce', 'opted_in')]}<" in line
    view = client.get(f"/runs/{shown.run_id}").text
    for (direction, action), n in expected[shown.run_id].items():
        if n:
            assert re.search(rf"data-direction=\"{direction}\" data-action=\"{action}\">.*?<td class=\"n\">{n}</td>",
                             view), (direction, action)
