"""Run history: one ``hm_sync_run`` row per run, its counts also as ``hm_sync_run_count`` rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from numbers import Integral

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from sync_engine.state.exceptions import UnknownRun
from sync_engine.state.models import RUN_STATUSES, SyncRun, SyncRunCount, table_of
from sync_engine.state.redaction import redact_params, scrub_message
from sync_engine.state.sqlhelpers import dialect_insert
from sync_engine.vocabulary import COUNT_ACTIONS, COUNT_DIRECTIONS, Counts

#: API usage: system -> endpoint -> calls.
ApiCalls = Mapping[str, Mapping[str, int]]

#: Longest error summary kept (it is a summary; details are in the task log).
ERROR_SUMMARY_LENGTH = 4_000

_runs = table_of(SyncRun)
_counts = table_of(SyncRunCount)


def start_run(
    conn: Connection,
    *,
    run_id: str,
    dag_id: str,
    trigger: str,
    mode: str,
    objects: Iterable[str],
    dry_run: bool,
    params: Mapping[str, object],
    started_at: datetime,
) -> None:
    """Record that a run started. Calling it again (a retried task) resets the row to ``running``."""
    values = {
        "run_id": run_id,
        "dag_id": dag_id,
        "trigger": trigger,
        "mode": mode,
        "objects": list(objects),
        "dry_run": bool(dry_run),
        "started_at": started_at,
        "ended_at": None,
        "status": "running",
        "counts": {},
        "api_calls": {},
        "error_summary": None,
        "params": redact_params(params),
    }
    stmt = dialect_insert(conn, _runs).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_runs.c.run_id],
        set_={k: stmt.excluded[k] for k in values if k not in ("run_id", "started_at")},
    )
    conn.execute(stmt)


def flatten_counts(counts: Counts) -> list[dict[str, object]]:
    """``hm_sync_run_count`` rows from nested counts, checking directions, actions and numbers."""
    rows: list[dict[str, object]] = []
    for object_name, by_direction in counts.items():
        for direction, by_action in by_direction.items():
            if direction not in COUNT_DIRECTIONS:
                raise ValueError(f"count direction must be one of {COUNT_DIRECTIONS}, got {direction!r}")
            for action, n in by_action.items():
                if action not in COUNT_ACTIONS:
                    raise ValueError(f"count action must be one of {COUNT_ACTIONS}, got {action!r}")
                if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
                    raise ValueError(f"count {object_name}/{direction}/{action} must be a whole number >= 0")
                rows.append({"object": object_name, "direction": direction, "action": action, "n": int(n)})
    return rows


def finish_run(
    conn: Connection,
    *,
    run_id: str,
    status: str,
    counts: Counts,
    api_calls: ApiCalls,
    error_summary: str | None,
    ended_at: datetime,
) -> None:
    """Close the run row and (re)write its count rows; finishing twice keeps the last call's numbers."""
    if status not in RUN_STATUSES or status == "running":
        raise ValueError(f"a finished run's status must be one of {RUN_STATUSES[1:]}, got {status!r}")
    count_rows = flatten_counts(counts)
    plain_counts = {o: {d: {a: int(n) for a, n in by_a.items()} for d, by_a in by_d.items()}
                    for o, by_d in counts.items()}
    result = conn.execute(
        update(_runs)
        .where(_runs.c.run_id == run_id)
        .values(
            status=status,
            ended_at=ended_at,
            counts=plain_counts,
            api_calls={s: {e: int(n) for e, n in by_e.items()} for s, by_e in api_calls.items()},
            error_summary=scrub_message(error_summary, ERROR_SUMMARY_LENGTH),
        )
    )
    if result.rowcount == 0:
        raise UnknownRun(f"run {run_id!r} was never started; call start_run() for it first (preflight does)")
    conn.execute(delete(_counts).where(_counts.c.run_id == run_id))
    if count_rows:
        conn.execute(insert(_counts), [{"run_id": run_id, **row} for row in count_rows])


def get_run(conn: Connection, run_id: str) -> dict[str, object] | None:
    """The run row as a dict (``counts`` nested as stored), or ``None`` if unknown."""
    row = conn.execute(select(_runs).where(_runs.c.run_id == run_id)).mappings().first()
    return dict(row) if row is not None else None


def list_runs(conn: Connection, limit: int = 50, dag_id: str | None = None) -> list[dict[str, object]]:
    """Newest runs first, as dicts, for the UI page and the CLI summary."""
    stmt = select(_runs).order_by(_runs.c.started_at.desc(), _runs.c.run_id.desc()).limit(limit)
    if dag_id is not None:
        stmt = stmt.where(_runs.c.dag_id == dag_id)
    return [dict(row) for row in conn.execute(stmt).mappings()]


#: Statuses of runs that did not end well: their run folders are kept until a run succeeds.
UNSETTLED_STATUSES = ("running", "partial", "failed", "cancelled")


def runs_failed_since_last_success(conn: Connection) -> list[str]:
    """Run ids of runs (any DAG of the sync) that ended failed, partial or cancelled, or never ended, after the
    last successful run started (all of them when no run ever succeeded): the runs whose files explain why."""
    last_success = select(func.max(_runs.c.started_at)).where(_runs.c.status == "success").scalar_subquery()
    stmt = select(_runs.c.run_id).where(_runs.c.status.in_(UNSETTLED_STATUSES),
                                        or_(last_success.is_(None), _runs.c.started_at > last_success))
    return [str(run_id) for run_id in conn.execute(stmt).scalars()]
