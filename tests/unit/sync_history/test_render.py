"""The page's HTML (``sync_history.render``, ``sync_history.chart``): a real time axis, a log scale on which a
2,655-create run and a 3-create run are both readable, failed and cancelled runs marked, per-direction and
data-quality columns, API use against the limits, and a pager and exports that keep the filters."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

from sync_history.chart import HEIGHT, TimeAxis, log_y
from sync_history.query import HistoryQuery
from sync_history.render import render_page
from sync_history.runs import History, summarise

from tests.history_seed import BIG_CREATES, as_row, plan_history

END = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def page_of(n: int = 60, **query: object) -> tuple[str, list]:
    planned = plan_history(n, days=30, end=END, prefix="r__")
    runs = [summarise(as_row(r), salesforce_budget=15_000) for r in reversed(planned)]  # newest first
    q = HistoryQuery(**query)  # type: ignore[arg-type]
    return render_page(History(runs=runs, total=len(runs) * 3, query=q)), runs


def bars(html: str, chart: str) -> dict[str, tuple[float, float, float]]:
    """run id -> (x, y, height) of the chart's bars of the first series."""
    svg = re.search(rf"<svg id=\"{chart}\".*?</svg>", html, re.S)
    assert svg is not None
    found = re.findall(r"<rect x=\"([\d.]+)\" y=\"([\d.]+)\" width=\"[\d.]+\" height=\"([\d.]+)\" [^>]*"
                       r"data-run-id=\"([^\"]+)\" data-series=\"written to heymarket\"", svg.group(0))
    return {run_id: (float(x), float(y), float(h)) for x, y, h, run_id in found}


def test_runs_are_placed_by_their_start_time() -> None:
    html, runs = page_of()
    placed = bars(html, "chart-written")
    assert len(placed) > 40
    by_time = sorted((dt.datetime.fromisoformat(r.started_at), placed[r.run_id][0]) for r in runs if r.run_id in placed)
    xs = [x for _, x in by_time]
    assert xs == sorted(xs), "later runs must be further right"
    # equal time, equal distance: x is linear in the start time, not one slot per run
    (t0, x0), (t1, x1), (t2, x2) = by_time[0], by_time[len(by_time) // 2], by_time[-1]
    assert abs((x1 - x0) / (x2 - x0) - (t1 - t0) / (t2 - t0)) < 0.02
    ticks = re.findall(r"class=\"x-tick\"[^>]*data-time=\"([^\"]+)\">([^<]+)<", html)
    assert ticks[0][1] == dt.datetime.fromisoformat(runs[-1].started_at).strftime("%Y-%m-%d")


def test_a_huge_run_and_a_small_one_are_both_readable_on_the_labelled_log_scale() -> None:
    html, runs = page_of()
    placed = bars(html, "chart-written")
    big = next(r for r in runs if r.by_direction.get("to_heymarket", {}).get("created", 0) >= BIG_CREATES)
    small = next(r for r in runs if r.run_id in placed and 0 < sum(
        n for a, n in r.by_direction["to_heymarket"].items() if a != "failed") <= 5)
    big_h, small_h = placed[big.run_id][2], placed[small.run_id][2]
    assert small_h > 0.15 * big_h, (small_h, big_h)  # on a linear scale it would be under 0.2 %
    assert "(log scale)" in html and 'data-scale="log"' in html
    assert [t for t in re.findall(r"class=\"y-tick\"[^>]*>([\d,]+)<", html)][:5] == ["0", "10", "100", "1,000",
                                                                                      "10,000"]
    assert log_y(0, 10_000) == HEIGHT - 34 and log_y(10_000, 10_000) < log_y(9, 10_000)


def test_failed_and_cancelled_runs_are_marked_on_every_chart() -> None:
    html, runs = page_of()
    failed = {r.run_id for r in runs if r.status == "failed"}
    cancelled = {r.run_id for r in runs if r.status == "cancelled"}
    assert failed and cancelled
    for chart in ("chart-written", "chart-failed", "chart-quality"):
        svg = re.search(rf"<svg id=\"{chart}\".*?</svg>", html, re.S).group(0)  # type: ignore[union-attr]
        marks = dict((run_id, status) for run_id, status in
                     re.findall(r"class=\"run-mark\"[^>]*data-run-id=\"([^\"]+)\" data-status=\"(\w+)\"", svg))
        assert {k for k, v in marks.items() if v == "failed"} == failed
        assert {k for k, v in marks.items() if v == "cancelled"} == cancelled


def test_the_table_has_per_direction_quality_and_api_columns() -> None:
    html, runs = page_of()
    run = next(r for r in runs if r.status == "success" and r.heymarket_calls_per_minute)
    line = re.search(rf"<tr data-run-id=\"{run.run_id}\".*?</tr>", html, re.S).group(0)  # type: ignore[union-attr]
    cell = dict(re.findall(r"data-count=\"([\w.]+)\">(\d+)<", line))
    assert cell["to_salesforce.created"] == str(run.by_direction["to_salesforce"]["created"])
    assert cell["to_heymarket.created"] == str(run.by_direction["to_heymarket"]["created"])
    for direction, action in (("to_heymarket", "opted_out"), ("to_salesforce", "opted_out"),
                              ("to_salesforce", "opted_in")):
        assert cell[f"{direction}.{action}"] == str(run.by_direction[direction][action])
    quality = dict(re.findall(r"data-quality=\"(\w+)\">(\d+)<", line))
    assert quality == {k: str(v) for k, v in run.quality.items()}
    api = dict(re.findall(r"data-api=\"([\w-]+)\"[^>]*>([^<]+)<", line))
    assert api["salesforce-budget"] == f"{run.salesforce_budget_share:.2%}"
    assert api["heymarket-rate"] == f"{run.heymarket_calls_per_minute:g}/min"
    header = re.search(r"<tr><th>Run id</th>.*?</tr>", html, re.S).group(0)  # type: ignore[union-attr]
    assert header.count(">Opted out</th>") == 2 and header.count(">Opted in</th>") == 1
    for every in re.findall(r"<tr data-run-id=.*?</tr>", html, re.S):
        assert every.count("<td") == header.count("<th")


def test_without_a_budget_the_page_says_budget_unknown() -> None:
    planned = plan_history(3, days=1, end=END)
    html = render_page(History(runs=[summarise(as_row(r)) for r in planned], total=3))
    assert html.count(">budget unknown<") == 3


def test_failed_run_without_a_known_duration_says_unknown_not_zero() -> None:
    html, runs = page_of(n=120)
    unknown = [r for r in runs if r.status == "failed" and r.duration_seconds is None]
    known = [r for r in runs if r.status == "failed" and r.duration_seconds]
    assert unknown and known
    for run, text in ((unknown[0], "unknown"), (known[0], None)):
        line = re.search(rf"<tr data-run-id=\"{run.run_id}\".*?</tr>", html, re.S).group(0)  # type: ignore[union-attr]
        shown = re.search(r"data-duration>([^<]+)<", line).group(1)  # type: ignore[union-attr]
        assert shown == (text or shown) and shown != "0s"


def test_pager_and_exports_keep_the_filters() -> None:
    html, _ = page_of(date_from=dt.date(2026, 11, 5), statuses=("failed", "success"), objects=("Lead",), page=2,
                      page_size=20)
    links = {m[0]: unescape(m[1]) for m in re.findall(r"id=\"(page-\w+|export-\w+|api-link)\" href=\"([^\"]+)\"",
                                                       html)}
    for name in ("page-prev", "page-next", "page-first", "page-last"):
        query = parse_qs(urlsplit(links[name]).query)
        assert query["status"] == ["failed", "success"] and query["object"] == ["Lead"]
        assert query["from"] == ["2026-11-05"] and query["page_size"] == ["20"]
    assert parse_qs(urlsplit(links["page-next"]).query)["page"] == ["3"]
    assert "page" not in parse_qs(urlsplit(links["page-first"]).query)
    for name in ("export-csv", "export-json"):
        query = parse_qs(urlsplit(links[name]).query)
        assert query == {"from": ["2026-11-05"], "status": ["failed", "success"], "object": ["Lead"]}
    # the filter form shows the view it made
    assert re.search(r"name=\"from\" id=\"filter-from\" value=\"2026-11-05\"", html)
    assert "<option value=\"failed\" selected>" in html and "<option value=\"Lead\" selected>" in html


def test_the_time_axis_spans_the_chosen_date_range() -> None:
    axis = TimeAxis.over([], dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert axis.x(dt.datetime(2026, 11, 16, tzinfo=dt.UTC)) == (axis.x(axis.start) + axis.x(axis.end)) / 2


def test_the_trend_line_breaks_where_no_run_started_for_hours() -> None:
    before = plan_history(10, days=1, end=END - dt.timedelta(days=3), prefix="a__")
    after = plan_history(10, days=1, end=END, prefix="b__")
    runs = [summarise(as_row(r)) for r in reversed(before + after)]
    html = render_page(History(runs=runs, total=len(runs)))
    quality = re.search(r"<svg id=\"chart-quality\".*?</svg>", html, re.S).group(0)  # type: ignore[union-attr]
    lines = re.findall(r"<polyline points=\"([^\"]+)\"", quality)
    assert len(lines) == 2 * 4  # two pieces for each of the four series
    # held back is not recorded for the run that failed before preflight (one in each day): 9 points there
    assert sorted(len(line.split()) for line in lines) == [9, 9] + [10] * 6
