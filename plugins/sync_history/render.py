"""The history page as server-rendered HTML with inline SVG charts: no JavaScript, no build step.

Every value is escaped. Links to the Airflow run open in the top window, because the page itself is shown
inside the Airflow UI in an iframe.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from sync_history.runs import SHOWN_ACTIONS, History, RunSummary

OBJECTS = ("Contact", "Lead")
ACTION_COLOURS = {"created": "#2f855a", "updated": "#2b6cb0", "deleted": "#c05621", "failed": "#c53030"}
PLANNED_OPACITY = 0.35
STATUS_COLOURS = {
    "success": ("#e6f4ea", "#1e6b34"), "dry_run": ("#e8f0fe", "#1a4fa0"), "partial": ("#fff4e0", "#8a5200"),
    "failed": ("#fde8e8", "#a11d1d"), "cancelled": ("#eeeeee", "#444444"), "running": ("#e6f6fb", "#0b6078"),
}
CHART_W, CHART_H, CHART_PAD = 290, 110, 22
#: Characters of a failure reason shown in the table (the rest is in the cell's tooltip).
NOTE_PREVIEW_CHARS = 300

_STYLE = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 16px; color: #1a202c; }
h1 { font-size: 20px; margin: 0 0 4px; }
p.sub { color: #4a5568; margin: 0 0 16px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; margin-bottom: 20px; }
.chart { border: 1px solid #e2e8f0; border-radius: 6px; padding: 8px 10px; }
.chart h2 { font-size: 13px; margin: 0 0 4px; font-weight: 600; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { border-bottom: 1px solid #e2e8f0; padding: 4px 4px; text-align: left; white-space: nowrap; }
th { background: #f7fafc; font-weight: 600; position: sticky; top: 0; }
th.group { text-align: center; border-left: 2px solid #cbd5e0; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.first, th.first { border-left: 2px solid #cbd5e0; }
td.planned { color: #718096; font-style: italic; }
td.drift { white-space: normal; min-width: 6em; }
td.drift.held { min-width: 11em; }
td.drift small { display: block; color: #4a5568; font-size: 11px; line-height: 1.25; }
td.drift small.off { color: #a11d1d; }
td.run-id { white-space: normal; word-break: break-all; min-width: 11em; max-width: 13em; }
tr.note td { white-space: normal; color: #4a5568; font-size: 12px; padding: 0 4px 6px 12px; border-bottom: 1px solid #e2e8f0; }
tr.has-note td { border-bottom: none; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.empty { padding: 24px; border: 1px dashed #cbd5e0; border-radius: 6px; color: #4a5568; }
.legend span { margin-right: 12px; font-size: 12px; color: #4a5568; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
a { color: #2b6cb0; text-decoration: none; } a:hover { text-decoration: underline; }
"""


def render_page(history: History, limit: int) -> str:
    """The whole HTML document."""
    body = [f"<h1>Sync history</h1><p class=\"sub\">Newest {len(history.runs)} run(s) of the Salesforce "
            f"&harr; Heymarket sync (at most {limit}), from the sync state store. Counts only: which records "
            "changed is in the task logs, by id.</p>"]
    if history.message and not history.runs:
        body.append(f"<div class=\"empty\" id=\"empty-state\">{escape(history.message)}</div>")
    else:
        body.append(render_charts(history.runs))
        body.append(render_table(history.runs))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sync history</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")


def render_charts(runs: list[RunSummary]) -> str:
    """One small bar chart per action, a bar per run (oldest left); dry runs' planned counts pale."""
    chronological = list(reversed(runs))
    legend = ("<p class=\"legend\"><span>Bars: one per run, oldest left.</span><span><span class=\"swatch\" "
              f"style=\"background:#718096;opacity:{PLANNED_OPACITY}\"></span>planned (dry run)</span></p>")
    charts = "".join(_bar_chart(action, chronological) for action in SHOWN_ACTIONS)
    return f"<div class=\"charts\" id=\"charts\">{charts}</div>{legend}"


def _bar_chart(action: str, runs: list[RunSummary]) -> str:
    values = [(run, run.total(action), run.total(action, planned=True)) for run in runs]
    top = max([max(applied, planned) for _, applied, planned in values] + [1])
    slot = (CHART_W - CHART_PAD) / max(len(values), 1)
    bar_w = max(min(slot * 0.7, 28), 2)
    plot_h = CHART_H - 14
    bars = []
    for i, (run, applied, planned) in enumerate(values):
        n, opacity = (planned, PLANNED_OPACITY) if run.dry_run else (applied, 1.0)
        h = plot_h * n / top
        x = CHART_PAD + i * slot + (slot - bar_w) / 2
        label = f"{run.run_id}: {n} {action}" + (" (planned)" if opacity < 1 else "")
        bars.append(f"<rect x=\"{x:.1f}\" y=\"{plot_h - h:.1f}\" width=\"{bar_w:.1f}\" height=\"{h:.1f}\" "
                    f"fill=\"{ACTION_COLOURS[action]}\" fill-opacity=\"{opacity}\"><title>{escape(label)}</title>"
                    "</rect>")
    axis = (f"<line x1=\"{CHART_PAD}\" y1=\"{plot_h}\" x2=\"{CHART_W}\" y2=\"{plot_h}\" stroke=\"#a0aec0\"/>"
            f"<text x=\"0\" y=\"10\" font-size=\"10\" fill=\"#4a5568\">{top}</text>"
            f"<text x=\"0\" y=\"{plot_h}\" font-size=\"10\" fill=\"#4a5568\">0</text>")
    total = sum(applied for _, applied, _ in values)
    return (f"<div class=\"chart\"><h2>{action.capitalize()} <small>({total} in these runs)</small></h2>"
            f"<svg role=\"img\" aria-label=\"{action} per run\" width=\"{CHART_W}\" height=\"{CHART_H}\" "
            f"viewBox=\"0 0 {CHART_W} {CHART_H}\" data-action=\"{action}\">{axis}{''.join(bars)}</svg></div>")


def _objects(runs: list[RunSummary]) -> list[str]:
    seen = {obj for run in runs for obj in (*run.counts, *run.planned, *run.objects)}
    return [o for o in OBJECTS if o in seen] + sorted(seen - set(OBJECTS))


def _systems(runs: list[RunSummary]) -> list[str]:
    return sorted({system for run in runs for system in run.api_calls}) or ["salesforce", "heymarket"]


#: Columns before the per-object counts: the run, then its drift (In sync, Held back).
FIXED_COLUMNS = 9


def render_table(runs: list[RunSummary]) -> str:
    objects, systems = _objects(runs), _systems(runs)
    head1 = (f"<tr><th colspan=\"{FIXED_COLUMNS}\"></th>"
             + "".join(f"<th class=\"group\" colspan=\"{len(SHOWN_ACTIONS)}\">{escape(o)}</th>" for o in objects)
             + f"<th class=\"group\" colspan=\"{len(systems)}\">API calls</th></tr>")
    head2 = ("<tr><th>Run id</th><th>Status</th><th>Mode</th><th>Trigger</th><th>Started (UTC)</th>"
             "<th>Ended</th><th class=\"n\">Duration</th>"
             "<th class=\"n first\" title=\"Linked pairs whose two sides agree on every mapped value after the run\">"
             "In sync</th><th class=\"n\" title=\"Records the run did not sync: duplicate, invalid or no phone, "
             "waiting for the retry of a rejected write\">Held back</th>"
             + "".join(f"<th class=\"n{' first' if i == 0 else ''}\">{a.capitalize()}</th>"
                       for _ in objects for i, a in enumerate(SHOWN_ACTIONS))
             + "".join(f"<th class=\"n{' first' if i == 0 else ''}\">{escape(s.capitalize())}</th>"
                       for i, s in enumerate(systems))
             + "</tr>")
    columns = FIXED_COLUMNS + len(objects) * len(SHOWN_ACTIONS) + len(systems)
    rows = "".join(_row(run, objects, systems) + _note_row(run, columns) for run in runs)
    return f"<div class=\"table-wrap\"><table id=\"runs\"><thead>{head1}{head2}</thead><tbody>{rows}</tbody></table></div>"


def _row(run: RunSummary, objects: list[str], systems: list[str]) -> str:
    background, colour = STATUS_COLOURS.get(run.status, ("#eeeeee", "#333333"))
    link = f"/dags/{quote(run.dag_id, safe='')}/runs/{quote(run.run_id, safe='')}"
    cells = [
        f"<td class=\"run-id\"><a href=\"{escape(link)}\" target=\"_top\">{escape(run.run_id)}</a></td>",
        f"<td><span class=\"badge\" style=\"background:{background};color:{colour}\">{escape(run.status)}</span></td>",
        f"<td>{escape(run.mode)}{' (dry)' if run.dry_run else ''}</td>", f"<td>{escape(run.trigger)}</td>",
        f"<td title=\"{escape(run.started_at or '')}\">{escape(_short_time(run.started_at))}</td>",
        f"<td title=\"{escape(run.ended_at or '')}\">{escape(_end_time(run))}</td>",
        f"<td class=\"n\">{escape(_duration(run.duration_seconds))}</td>",
        *_drift_cells(run),
    ]
    for obj in objects:
        applied = run.counts.get(obj, {})
        planned = run.planned.get(obj, {})
        for i, action in enumerate(SHOWN_ACTIONS):
            first = " first" if i == 0 else ""
            if run.dry_run and planned:
                cells.append(f"<td class=\"n planned{first}\" title=\"planned\">{planned.get(action, 0)}</td>")
            else:
                cells.append(f"<td class=\"n{first}\">{applied.get(action, 0) if applied else '–'}</td>")
    for i, system in enumerate(systems):
        calls = run.api_calls.get(system)
        cells.append(f"<td class=\"n{' first' if i == 0 else ''}\">{calls if calls is not None else '–'}</td>")
    extra = " class=\"has-note\"" if run.note else ""
    return f"<tr data-run-id=\"{escape(run.run_id)}\"{extra}>{''.join(cells)}</tr>"


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


def _short_time(iso: str | None) -> str:
    """``2026-11-24 19:59`` (the cell's title has the full ISO time)."""
    return iso[:16].replace("T", " ") if iso else "–"


def _end_time(run: RunSummary) -> str:
    """End time; the date only when it differs from the start's."""
    if not run.ended_at:
        return "–"
    same_day = (run.started_at or "")[:10] == run.ended_at[:10]
    return run.ended_at[11:16] if same_day else _short_time(run.ended_at)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
