"""Filtered, paged reads of the run history for the Sync history page, its JSON API and its exports.

The page shows one page of runs (``LIMIT``/``OFFSET``, newest first) and its total; an export walks every run
the filter selects in chunks by keyset (``started_at``, ``run_id``), so a 20,000-run export never holds one
huge result set or pays a growing ``OFFSET``. Both order by ``started_at`` and read through the
``hm_sync_run`` started-at index (migration 0008), and never read ``params`` (not shown anywhere).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Select, and_, cast, func, or_, select
from sqlalchemy.types import Text

from sync_engine.state.models import SyncRun, table_of

_runs = table_of(SyncRun)
#: The columns the page reads (``params`` stays out: run parameters are never shown).
SHOWN_COLUMNS = ("run_id", "dag_id", "trigger", "mode", "objects", "dry_run", "started_at", "ended_at", "status",
                 "counts", "api_calls", "error_summary")
#: Rows per round trip of an export.
EXPORT_CHUNK = 1_000


@dataclass(frozen=True)
class RunFilter:
    """Which runs to read; an empty field does not filter.

    :param started_from: runs that started at or after this instant.
    :param started_before: runs that started before this instant (the page turns an inclusive end date into
        the next midnight).
    :param statuses: any of ``RUN_STATUSES``.
    :param triggers: any of ``RUN_TRIGGERS``; a run stored with the enum's repr (``DagRunType.MANUAL``, older
        rows) matches its plain name.
    :param objects: runs whose scope included one of these objects.
    """

    started_from: datetime | None = None
    started_before: datetime | None = None
    statuses: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.started_from is not None:
            found.append(_runs.c.started_at >= self.started_from)
        if self.started_before is not None:
            found.append(_runs.c.started_at < self.started_before)
        if self.statuses:
            found.append(_runs.c.status.in_(self.statuses))
        if self.triggers:
            stored = [t for trigger in self.triggers for t in (trigger, f"DagRunType.{trigger.upper()}")]
            found.append(_runs.c.trigger.in_(stored))
        if self.objects:
            # objects is a JSON list of API names; its text holds each name in double quotes on both backends
            # (SQLite stores the text, PostgreSQL's jsonb::text writes it back the same way).
            text = cast(_runs.c.objects, Text)
            found.append(or_(*(text.like(f'%"{_like_escape(name)}"%', escape="\\") for name in self.objects)))
        return found


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _select(run_filter: RunFilter) -> Select[tuple[object, ...]]:
    stmt = select(*(_runs.c[name] for name in SHOWN_COLUMNS))
    conditions = run_filter.conditions()
    return stmt.where(and_(*conditions)) if conditions else stmt


def _newest_first(stmt: Select[tuple[object, ...]]) -> Select[tuple[object, ...]]:
    return stmt.order_by(_runs.c.started_at.desc(), _runs.c.run_id.desc())


def query_runs(conn: Connection, run_filter: RunFilter, *, limit: int, offset: int = 0) -> list[dict[str, object]]:
    """One page of the runs the filter selects, newest first."""
    stmt = _newest_first(_select(run_filter)).limit(limit).offset(offset)
    return [dict(row) for row in conn.execute(stmt).mappings()]


def count_runs(conn: Connection, run_filter: RunFilter) -> int:
    """How many runs the filter selects (the page's total, for its pager)."""
    stmt = select(func.count()).select_from(_runs)
    conditions = run_filter.conditions()
    if conditions:
        stmt = stmt.where(and_(*conditions))
    return int(conn.execute(stmt).scalar_one())


def iter_runs(conn: Connection, run_filter: RunFilter, *, chunk: int = EXPORT_CHUNK) -> Iterator[dict[str, object]]:
    """Every run the filter selects, newest first, read in chunks by keyset (no ``OFFSET``)."""
    after: tuple[datetime, str] | None = None
    while True:
        stmt = _select(run_filter)
        if after is not None:
            started, run_id = after
            stmt = stmt.where(or_(_runs.c.started_at < started,
                                  and_(_runs.c.started_at == started, _runs.c.run_id < run_id)))
        rows = [dict(row) for row in conn.execute(_newest_first(stmt).limit(chunk)).mappings()]
        yield from rows
        if len(rows) < chunk:
            return
        last_started, last_id = rows[-1]["started_at"], rows[-1]["run_id"]
        if not isinstance(last_started, datetime):  # a NOT NULL UTCDateTime column: never happens
            raise TypeError(f"hm_sync_run.started_at of {last_id!r} is not a datetime")
        after = (last_started, str(last_id))
