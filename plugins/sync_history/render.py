"""The history page as server-rendered HTML with inline SVG charts: no JavaScript, no build step.

Every value is escaped. The filters are a plain GET form, so the view's URL holds them and can be shared; the
pager and the export links carry the same query. Links to the Airflow run open in the top window, because
the page itself is shown inside the Airflow UI in an iframe; links to a run's own view stay in the frame.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from urllib.parse import quote

from sync_engine.state.models import RUN_STATUSES
from sync_engine.vocabulary import OBJECT_NAMES, RUN_TRIGGERS
from sync_history.chart import Series, TimeAxis, time_chart
from sync_history.paths import URL_PREFIX
from sync_history.query import HistoryQuery
from sync_history.runs import (
    CONSENT_ACTIONS,
    DIRECTION_ACTIONS,
    HEYMARKET_RATE_LIMIT,
    QUALITY_KINDS,
    History,
    RunSummary,
)
from sync_history.style import PAGE_STYLE

STATUS_COLOURS = {
    "success": ("#e6f4ea", "#1e6b34"), "dry_run": ("#e8f0fe", "#1a4fa0"), "partial": ("#fff4e0", "#8a5200"),
    "failed": ("#fde8e8", "#a11d1d"), "cancelled": ("#eeeeee", "#444444"), "running": ("#e6f6fb", "#0b6078"),
}
DIRECTION_TITLES = {"to_heymarket": "To Heymarket", "to_salesforce": "To Salesforce"}
QUALITY_TITLES = {"invalid": "Invalid phone", "duplicate": "Duplicate", "no_phone": "No phone"}
#: Characters of a failure reason shown in the table (the rest is in the cell's tooltip).
NOTE_PREVIEW_CHARS = 300


def document(title: str, body: str) -> str:
    """A whole HTML document around ``body``."""
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{PAGE_STYLE}</style></head><body>{body}</body></html>")


def render_page(history: History) -> str:
    """The whole page: filters, exports, charts, the runs table and the pager."""
    q = history.query
    shown = (f"{history.total:,} run(s) match; page {q.page} of {history.pages}, newest first"
             if history.total else "no run matches")
    body = ["<h1>Sync history</h1>",
            f"<p class=\"sub\" id=\"summary\">Runs of the Salesforce &harr; Heymarket sync from the sync state "
            f"store: {shown}. Counts and ids only; open a run for its records.</p>",
            render_filters(q), render_exports(q)]
    if history.message and not history.runs:
        body.append(f"<div class=\"empty\" id=\"empty-state\">{escape(history.message)}</div>")
    else:
        body.append(render_charts(history.runs, q))
        body.append(render_table(history.runs))
        body.append(render_pager(history))
    return document("Sync history", "".join(body))


def render_filters(q: HistoryQuery) -> str:
    """A GET form: submitting it puts the filters in the URL (and starts again at page 1)."""
    def options(name: str, values: tuple[str, ...], chosen: tuple[str, ...]) -> str:
        opts = "".join(f"<option value=\"{v}\"{' selected' if v in chosen else ''}>{v.replace('_', ' ')}</option>"
                       for v in values)
        return (f"<label>{name.capitalize()} <select name=\"{name}\" id=\"filter-{name}\" multiple "
                f"size=\"{min(len(values), 4)}\">{opts}</select></label>")

    statuses = tuple(s for s in RUN_STATUSES)
    page_size = (f"<input type=\"hidden\" name=\"page_size\" value=\"{q.page_size}\">"
                 if q.page_size != HistoryQuery().page_size else "")
    return ("<form class=\"filters\" id=\"filters\" method=\"get\" action=\"" + URL_PREFIX + "/\">"
            f"<label>From <input type=\"date\" name=\"from\" id=\"filter-from\" "
            f"value=\"{q.date_from.isoformat() if q.date_from else ''}\"></label>"
            f"<label>To <input type=\"date\" name=\"to\" id=\"filter-to\" "
            f"value=\"{q.date_to.isoformat() if q.date_to else ''}\"></label>"
            + options("status", statuses, q.statuses) + options("trigger", RUN_TRIGGERS, q.triggers)
            + options("object", OBJECT_NAMES, q.objects) + page_size
            + "<button type=\"submit\">Apply</button>"
            f"<a href=\"{URL_PREFIX}/\" id=\"filter-clear\">Clear</a>"
            "<small>UTC days, both inclusive; several values: Ctrl-click.</small></form>")


def render_exports(q: HistoryQuery) -> str:
    """Exports of every run the filters select (all pages), and the JSON API of this page."""
    csv = q.url(f"{URL_PREFIX}/export.csv", paged=False)
    json = q.url(f"{URL_PREFIX}/export.json", paged=False)
    api = q.url(f"{URL_PREFIX}/api/runs")
    return (f"<p class=\"exports\">Export what the filters select (all pages): "
            f"<a id=\"export-csv\" href=\"{escape(csv)}\" download>CSV</a> · "
            f"<a id=\"export-json\" href=\"{escape(json)}\" download>JSON</a> · "
            f"this page as JSON: <a id=\"api-link\" href=\"{escape(api)}\">{escape(api)}</a></p>")


def _written(direction: str) -> Series:
    colours = {"to_heymarket": "#2b6cb0", "to_salesforce": "#2f855a"}

    def value(run: RunSummary) -> int | None:
        counts = (run.planned_by_direction if run.dry_run else run.by_direction).get(direction, {})
        return (sum(n for action, n in counts.items() if action != "failed" and action not in CONSENT_ACTIONS)
                if counts else None)

    return Series(f"written {DIRECTION_TITLES[direction].lower()}", colours[direction], value)


def _failed_records(run: RunSummary) -> int | None:
    counts = run.planned_by_direction if run.dry_run else run.by_direction
    return sum(by_action.get("failed", 0) for by_action in counts.values()) if counts else None


def _quality(kind: str, colour: str) -> Series:
    def value(run: RunSummary) -> int | None:
        return run.quality.get(kind)

    return Series(QUALITY_TITLES[kind].lower(), colour, value)


def _held_back(run: RunSummary) -> int | None:
    return run.held_back


def render_charts(runs: list[RunSummary], q: HistoryQuery) -> str:
    """Writes per direction, rejected records, and the data-quality trend, on one time axis."""
    start = dt.datetime.combine(q.date_from, dt.time(), dt.UTC) if q.date_from else None
    end = dt.datetime.combine(q.date_to + dt.timedelta(days=1), dt.time(), dt.UTC) if q.date_to else None
    axis = TimeAxis.over(runs, start, end)
    quality = [_quality(k, colour) for k, colour in zip(QUALITY_KINDS, ("#d69e2e", "#805ad5", "#718096"), strict=True)]
    quality.append(Series("held back", "#c05621", _held_back))
    charts = [
        time_chart("chart-written", "Records written per run", runs,
                   [_written("to_heymarket"), _written("to_salesforce")], axis),
        time_chart("chart-failed", "Records rejected per run", runs,
                   [Series("rejected", "#c53030", _failed_records)], axis),
        time_chart("chart-quality", "Data quality per run", runs, quality, axis, lines=True),
    ]
    legend = ("<p class=\"legend\"><span>x: when each run started (UTC); y: records, log scale.</span>"
              "<span><span class=\"mark failed\"></span>failed run</span>"
              "<span><span class=\"mark cancelled\"></span>cancelled run</span>"
              "<span>pale: planned by a dry run, not written</span></p>")
    return f"<div class=\"charts\" id=\"charts\">{''.join(charts)}</div>{legend}"


#: Columns before the per-direction counts: the run, its timing, its drift (In sync, Held back).
FIXED_COLUMNS = 9
QUALITY_COLUMNS = len(QUALITY_KINDS)
API_COLUMNS = 4


#: Header tooltips of the consent columns (their records are among the updates and creates, not added to them).
_ACTION_HINTS = {
    "opted_out": " title=\"Opt-outs written (SMS consent), among the creates and updates\"",
    "opted_in": " title=\"Opt-ins written (the person texted START), among the updates\"",
}


def render_table(runs: list[RunSummary]) -> str:
    head1 = (f"<tr><th colspan=\"{FIXED_COLUMNS}\"></th>"
             + "".join(f"<th class=\"group\" colspan=\"{len(actions)}\">{DIRECTION_TITLES[d]}</th>"
                       for d, actions in DIRECTION_ACTIONS.items())
             + f"<th class=\"group\" colspan=\"{QUALITY_COLUMNS}\">Data quality (found)</th>"
             + "<th class=\"group\" colspan=\"2\">Salesforce API</th>"
             + "<th class=\"group\" colspan=\"2\">Heymarket API</th></tr>")
    head2 = ("<tr><th>Run id</th><th>Status</th><th>Mode</th><th>Trigger</th><th>Started (UTC)</th>"
             "<th>Ended</th><th class=\"n\">Duration</th>"
             "<th class=\"n first\" title=\"Linked pairs whose two sides agree on every mapped value after the run\">"
             "In sync</th><th class=\"n\" title=\"Records the run did not sync: duplicate, invalid or no phone, "
             "waiting for the retry of a rejected write\">Held back</th>"
             + "".join(f"<th class=\"n{' first' if i == 0 else ''}\"{_ACTION_HINTS.get(a, '')}>"
                       f"{a.replace('_', ' ').capitalize()}</th>"
                       for actions in DIRECTION_ACTIONS.values() for i, a in enumerate(actions))
             + "".join(f"<th class=\"n{' first' if i == 0 else ''}\">{QUALITY_TITLES[k]}</th>"
                       for i, k in enumerate(QUALITY_KINDS))
             + "<th class=\"n first\">Calls</th><th class=\"n\" title=\"Share of the org's daily API allocation "
               "(config salesforce.daily_api_budget)\">Of daily budget</th>"
             + f"<th class=\"n first\">Calls</th><th class=\"n\" title=\"Average calls per minute of the run's "
               f"duration; Heymarket allows {HEYMARKET_RATE_LIMIT}/min\">Per minute</th>"
             + "</tr>")
    columns = FIXED_COLUMNS + sum(len(a) for a in DIRECTION_ACTIONS.values()) + QUALITY_COLUMNS + API_COLUMNS
    rows = "".join(_row(run) + _note_row(run, columns) for run in runs)
    return f"<div class=\"table-wrap\"><table id=\"runs\"><thead>{head1}{head2}</thead><tbody>{rows}</tbody></table></div>"


def run_link(run_id: str) -> str:
    return f"{URL_PREFIX}/runs/{quote(run_id, safe='')}"


def airflow_link(run: RunSummary) -> str:
    return f"/dags/{quote(run.dag_id, safe='')}/runs/{quote(run.run_id, safe='')}"


def status_badge(status: str) -> str:
    background, colour = STATUS_COLOURS.get(status, ("#eeeeee", "#333333"))
    return f"<span class=\"badge\" style=\"background:{background};color:{colour}\">{escape(status)}</span>"


def _row(run: RunSummary) -> str:
    cells = [
        f"<td class=\"run-id\"><a class=\"run-view\" href=\"{escape(run_link(run.run_id))}\">{escape(run.run_id)}</a>"
        f" <a class=\"airflow\" href=\"{escape(airflow_link(run))}\" target=\"_top\" title=\"the run in Airflow\">"
        "&#8599;</a></td>",
        f"<td>{status_badge(run.status)}</td>",
        f"<td>{escape(run.mode)}{' (dry)' if run.dry_run else ''}</td>", f"<td>{escape(run.trigger)}</td>",
        f"<td title=\"{escape(run.started_at or '')}\">{escape(short_time(run.started_at))}</td>",
        f"<td title=\"{escape(run.ended_at or '')}\">{escape(_end_time(run))}</td>",
        f"<td class=\"n\" data-duration>{escape(duration(run))}</td>",
        *_drift_cells(run),
        *direction_cells(run),
    ]
    cells += [f"<td class=\"n{' first' if i == 0 else ''}\" data-quality=\"{k}\">{run.quality.get(k, 0)}</td>"
              for i, k in enumerate(QUALITY_KINDS)]
    cells += api_cells(run)
    extra = " class=\"has-note\"" if run.note else ""
    return f"<tr data-run-id=\"{escape(run.run_id)}\" data-status=\"{escape(run.status)}\"{extra}>{''.join(cells)}</tr>"


def direction_cells(run: RunSummary) -> list[str]:
    """Written records per direction and action; a dry run's planned ones in grey italics."""
    cells = []
    source = run.planned_by_direction if run.dry_run else run.by_direction
    for direction, actions in DIRECTION_ACTIONS.items():
        counts = source.get(direction, {})
        for i, action in enumerate(actions):
            first = " first" if i == 0 else ""
            if run.dry_run:
                cells.append(f"<td class=\"n planned{first}\" title=\"planned\" data-count=\"{direction}.{action}\">"
                             f"{counts.get(action, 0)}</td>")
            else:
                cells.append(f"<td class=\"n{first}\" data-count=\"{direction}.{action}\">{counts.get(action, 0)}</td>")
    return cells


def api_cells(run: RunSummary) -> list[str]:
    """API calls set against the limits: Salesforce's daily budget, Heymarket's per-minute rate."""
    sf, hm = run.api_calls.get("salesforce"), run.api_calls.get("heymarket")
    if run.salesforce_budget_share is not None:
        share = f"{run.salesforce_budget_share:.2%}"
        share_title = f"{sf} of {run.salesforce_daily_budget:,} calls a day"
    else:
        share, share_title = "budget unknown", "set salesforce.daily_api_budget in the sync config"
    if run.heymarket_calls_per_minute is not None:
        rate = f"{run.heymarket_calls_per_minute:g}/min"
        rate_title = (f"{run.heymarket_calls_per_minute / HEYMARKET_RATE_LIMIT:.1%} of Heymarket's "
                      f"{HEYMARKET_RATE_LIMIT}/min, averaged over the run")
    else:
        rate, rate_title = "–", "duration unknown"
    return [f"<td class=\"n first\" data-api=\"salesforce\">{sf if sf is not None else '–'}</td>",
            f"<td class=\"n\" data-api=\"salesforce-budget\" title=\"{escape(share_title)}\">{share}</td>",
            f"<td class=\"n first\" data-api=\"heymarket\">{hm if hm is not None else '–'}</td>",
            f"<td class=\"n\" data-api=\"heymarket-rate\" title=\"{escape(rate_title)}\">{rate}</td>"]


def _drift_cells(run: RunSummary) -> list[str]:
    """In sync (and how many pairs are not) and held back (and why), after the run; "–" when not recorded."""
    if run.in_sync is None:
        return ["<td class=\"n drift first\" data-drift=\"in-sync\">–</td>",
                "<td class=\"n drift held\" data-drift=\"held-back\">–</td>"]
    off = run.out_of_sync or 0
    in_title = (f"{run.in_sync} linked pair(s) agree on every mapped value after the run; {off} do not "
                "(a write rejected, waiting or not applied)")
    in_sync = f"{run.in_sync}" + (f"<small class=\"off\">{off} out of sync</small>" if off else "")
    reasons = ", ".join(f"{r.replace('_', ' ')} {n}" for r, n in run.held_back_reasons.items())
    held_title = f"{run.held_back} record(s) held back" + (f": {reasons}" if reasons else "")
    unbroken = ", ".join(f"{r.replace('_', ' ')} {n}".replace(" ", "\u00a0") for r, n in run.held_back_reasons.items())
    held = f"{run.held_back or 0}" + (f"<small>{escape(unbroken)}</small>" if reasons else "")
    return [f"<td class=\"n drift first\" data-drift=\"in-sync\" title=\"{escape(in_title)}\">{in_sync}</td>",
            f"<td class=\"n drift held\" data-drift=\"held-back\" title=\"{escape(held_title)}\">{held}</td>"]


def _note_row(run: RunSummary, columns: int) -> str:
    """Why the run failed or wrote less, on a line of its own under the run (cut short; the title has all)."""
    if not run.note:
        return ""
    short = run.note if len(run.note) <= NOTE_PREVIEW_CHARS else run.note[: NOTE_PREVIEW_CHARS - 1] + "…"
    return (f"<tr class=\"note\" data-note-for=\"{escape(run.run_id)}\"><td colspan=\"{columns}\" "
            f"title=\"{escape(run.note)}\">Why: {escape(short)}</td></tr>")


def render_pager(history: History) -> str:
    """First / previous / next / last, each keeping the filters."""
    q, last = history.query, history.pages
    links = []
    for label, page, rel in (("« first", 1, "first"), ("‹ previous", q.page - 1, "prev"),
                             ("next ›", q.page + 1, "next"), ("last »", last, "last")):
        if 1 <= page <= last and page != q.page:
            links.append(f"<a rel=\"{rel}\" id=\"page-{rel}\" href=\"{escape(q.url(URL_PREFIX + '/', page=page))}\">"
                         f"{label}</a>")
        else:
            links.append(f"<span class=\"off\">{label}</span>")
    return f"<nav class=\"pager\" id=\"pager\">{' '.join(links)} <span>page {q.page} of {last}</span></nav>"


def short_time(iso: str | None) -> str:
    """``2026-11-24 19:59`` (the cell's title has the full ISO time)."""
    return iso[:16].replace("T", " ") if iso else "–"


def _end_time(run: RunSummary) -> str:
    """End time; the date only when it differs from the start's."""
    if not run.ended_at:
        return "–"
    same_day = (run.started_at or "")[:10] == run.ended_at[:10]
    return run.ended_at[11:16] if same_day else short_time(run.ended_at)


def duration(run: RunSummary) -> str:
    """``3m 05s``; "unknown" for a run that ended without a known duration, "–" while it runs."""
    if run.duration_seconds is None:
        return "unknown" if run.ended_at else "–"
    minutes, secs = divmod(int(round(run.duration_seconds)), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
