"""CSV and JSON exports of the runs a view's filters select (every page), streamed as they are read.

The CSV has one flat row per run (the columns in :data:`CSV_COLUMNS`, documented in docs/operations.md);
the JSON is the page's JSON API shape for every run at once. Both carry only what the page shows: ids,
statuses, times and counts, and the run's scrubbed ``Why`` note; never run parameters.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from sync_engine.drift import HELD_REASONS
from sync_history.query import HistoryQuery
from sync_history.runs import DIRECTION_ACTIONS, QUALITY_KINDS, RunSummary

_COUNT_COLUMNS = [f"{d}_{a}" for d, actions in DIRECTION_ACTIONS.items() for a in actions]
CSV_COLUMNS: tuple[str, ...] = (
    "run_id", "dag_id", "status", "mode", "trigger", "dry_run", "objects", "started_at", "ended_at",
    "duration_seconds",
    *_COUNT_COLUMNS, *(f"planned_{c}" for c in _COUNT_COLUMNS),
    *QUALITY_KINDS,
    "in_sync", "out_of_sync", "held_back", *(f"held_{r}" for r in HELD_REASONS),
    "salesforce_calls", "salesforce_daily_budget", "salesforce_budget_share", "heymarket_calls",
    "heymarket_calls_per_minute", "note",
)
#: A cell a spreadsheet would read as a formula starts with one of these; such text gets a leading quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_row(run: RunSummary) -> dict[str, object]:
    """The run as one CSV row (``None`` for what is not recorded: an empty cell)."""
    row: dict[str, object] = {
        "run_id": run.run_id, "dag_id": run.dag_id, "status": run.status, "mode": run.mode,
        "trigger": run.trigger, "dry_run": run.dry_run, "objects": " ".join(run.objects),
        "started_at": run.started_at, "ended_at": run.ended_at, "duration_seconds": run.duration_seconds,
        "in_sync": run.in_sync, "out_of_sync": run.out_of_sync, "held_back": run.held_back,
        "salesforce_calls": run.api_calls.get("salesforce"), "salesforce_daily_budget": run.salesforce_daily_budget,
        "salesforce_budget_share": (round(run.salesforce_budget_share, 6)
                                    if run.salesforce_budget_share is not None else None),
        "heymarket_calls": run.api_calls.get("heymarket"),
        "heymarket_calls_per_minute": run.heymarket_calls_per_minute, "note": run.note,
    }
    for prefix, counts in (("", run.by_direction), ("planned_", run.planned_by_direction)):
        for direction, actions in DIRECTION_ACTIONS.items():
            for action in actions:
                row[f"{prefix}{direction}_{action}"] = counts.get(direction, {}).get(action, 0) if counts else None
    row.update({k: run.quality.get(k, 0) for k in QUALITY_KINDS})
    if run.in_sync is not None:
        row.update({f"held_{r}": run.held_back_reasons.get(r, 0) for r in HELD_REASONS})
    return row


def _safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(runs: Iterable[RunSummary], *, every: int = 500) -> Iterator[str]:
    """The CSV text (header first), in pieces of about ``every`` rows."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for i, run in enumerate(runs, 1):
        writer.writerow({k: _safe(v) for k, v in csv_row(run).items()})
        if i % every == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def json_chunks(runs: Iterable[RunSummary], query: HistoryQuery, *, every: int = 500) -> Iterator[str]:
    """``{"filters": {...}, "runs": [...], "count": n}`` in pieces of about ``every`` runs (a streamed piece
    costs a thread hop in the server: one per run made a 1,200-run export take seconds)."""
    filters = {"from": query.date_from.isoformat() if query.date_from else None,
               "to": query.date_to.isoformat() if query.date_to else None, "status": list(query.statuses),
               "trigger": list(query.triggers), "object": list(query.objects)}
    parts = [f"{{\"filters\": {json.dumps(filters)}, \"runs\": ["]
    count = 0
    for run in runs:
        parts.append(("," if count else "") + json.dumps(run.as_dict()))
        count += 1
        if count % every == 0:
            yield "".join(parts)
            parts = []
    parts.append(f"], \"count\": {count}}}")
    yield "".join(parts)
