"""A run's own view (``/sync-history/runs/<run_id>``): what it recorded, and which records it wrote or held back.

The counts table has every object, direction and action the run recorded (writes, plan findings, the drift
after it). Salesforce record ids link to the record in the org when its URL is known (the Salesforce
connection's ``instance_url``); otherwise they are plain text.
"""

from __future__ import annotations

from html import escape

from sync_history.paths import URL_PREFIX
from sync_history.render import (
    airflow_link,
    api_cells,
    document,
    duration,
    short_time,
    status_badge,
)
from sync_history.runs import RunDetail

DIRECTION_ORDER = ("to_heymarket", "to_salesforce", "state")


def render_run(detail: RunDetail, records_html: str) -> str:
    """The whole document of a run's view; ``records_html`` is its record list (:mod:`sync_history.records`)."""
    run = detail.summary
    facts = [("Status", status_badge(run.status)), ("DAG", escape(run.dag_id)),
             ("Mode", escape(run.mode) + (" (dry run: nothing written)" if run.dry_run else "")),
             ("Trigger", escape(run.trigger)), ("Objects", escape(", ".join(run.objects) or "–")),
             ("Started (UTC)", escape(short_time(run.started_at))), ("Ended", escape(short_time(run.ended_at))),
             ("Duration", escape(duration(run)))]
    if run.note:
        facts.append(("Why", escape(run.note)))
    fact_list = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    api = ("<table id=\"api\"><thead><tr><th class=\"n\">Salesforce calls</th><th class=\"n\">Of daily budget</th>"
           "<th class=\"n\">Heymarket calls</th><th class=\"n\">Per minute</th></tr></thead>"
           f"<tbody><tr>{''.join(api_cells(run))}</tr></tbody></table>")
    body = (f"<p class=\"sub\"><a href=\"{URL_PREFIX}/\" id=\"back\">&larr; Sync history</a> · "
            f"<a href=\"{escape(airflow_link(run))}\" target=\"_top\">the run in Airflow</a></p>"
            f"<h1 id=\"run-title\">Run {escape(run.run_id)}</h1><dl class=\"facts\">{fact_list}</dl>"
            f"<h2 class=\"section\">Counts</h2>{render_counts(detail)}"
            f"<h2 class=\"section\">API calls</h2>{api}"
            f"<h2 class=\"section\">Records</h2>{records_html}")
    return document(f"Sync run {run.run_id}", body)


def render_counts(detail: RunDetail) -> str:
    """Object x direction x action -> records, as the run recorded them (a dry run's writes are planned)."""
    rows = []
    for obj in sorted(detail.counts):
        by_direction = detail.counts[obj]
        for direction in sorted(by_direction, key=lambda d: (DIRECTION_ORDER + (d,)).index(d)):
            for action, n in sorted(by_direction[direction].items()):
                planned = detail.summary.dry_run and direction != "state"
                rows.append(f"<tr data-object=\"{escape(obj)}\" data-direction=\"{escape(direction)}\" "
                            f"data-action=\"{escape(action)}\"><td>{escape(obj)}</td><td>{escape(direction)}</td>"
                            f"<td>{escape(action)}{' (planned)' if planned else ''}</td><td class=\"n\">{n}</td></tr>")
    if not rows:
        return "<p class=\"empty\" id=\"no-counts\">The run recorded no counts (it stopped before its plan).</p>"
    return ("<table id=\"counts\"><thead><tr><th>Object</th><th>Direction</th><th>Action</th>"
            f"<th class=\"n\">Records</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
