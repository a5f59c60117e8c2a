"""Read the run history from the sync state store, reduced to what the page may show: run ids and counts.

The page never writes: it does not migrate the schema (``open_state_store`` would) and reports an empty
history when the tables are not there yet. Error summaries and run parameters stay out of the page, so no
personal data can reach it whatever a run recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from sync_engine.state import StateStore

log = logging.getLogger(__name__)

#: Actions the page breaks down per object; the same names as ``hm_sync_run_count.action``.
SHOWN_ACTIONS = ("created", "updated", "deleted", "failed")
DEFAULT_STATE_CONN_ID = "heymarket_sync_state"
MAX_LIMIT = 500


@dataclass(frozen=True)
class RunSummary:
    """One run as the page shows it.

    :ivar counts: object -> action -> n, summed over directions (what was written).
    :ivar planned: object -> action -> n that a dry run would have written (it wrote nothing).
    :ivar api_calls: system -> calls.
    :ivar in_sync / out_of_sync: active links whose sides agree on every mapped value after the run / do not,
        over all objects; ``None`` for a run recorded without the drift (before it existed, or failed in
        preflight).
    :ivar held_back: records the run held back, all objects and Heymarket-only contacts; ``held_back_reasons``:
        reason (``duplicate``, ``invalid_phone``, ``no_phone``, ``waiting_retry``) -> records.
    :ivar drift: object -> its figures (``in_sync``, ``out_of_sync``, ``held_back``, ``held_back_reasons``).
    """

    run_id: str
    dag_id: str
    status: str
    mode: str
    trigger: str
    dry_run: bool
    objects: list[str]
    started_at: str | None
    ended_at: str | None
    duration_seconds: float | None
    counts: dict[str, dict[str, int]]
    planned: dict[str, dict[str, int]]
    api_calls: dict[str, int]
    #: Why a run failed, was cancelled or stopped early (the history row's ``error_summary``), if it says.
    note: str | None = None
    in_sync: int | None = None
    out_of_sync: int | None = None
    held_back: int | None = None
    held_back_reasons: dict[str, int] = field(default_factory=dict)
    drift: dict[str, Mapping[str, object]] = field(default_factory=dict)

    def total(self, action: str, *, planned: bool = False) -> int:
        source = self.planned if planned else self.counts
        return sum(by_action.get(action, 0) for by_action in source.values())

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class History:
    """What the page renders: the runs, or why there are none."""

    runs: list[RunSummary] = field(default_factory=list)
    message: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"runs": [r.as_dict() for r in self.runs], "count": len(self.runs), "message": self.message}


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None


def _mapping(value: object) -> Mapping[object, object]:
    """A JSON column's object, or an empty one for a missing (``None``) or odd value."""
    return value if isinstance(value, Mapping) else {}


def _as_int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _trigger(value: object) -> str:
    """``scheduled`` / ``manual`` ...; older rows hold the enum's repr (``DagRunType.MANUAL``)."""
    text = str(value or "")
    return text.split(".", 1)[1].lower() if text.startswith("DagRunType.") else text


def summarise(row: Mapping[str, object]) -> RunSummary:
    """A ``hm_sync_run`` row (``StateStore.list_runs``) reduced to ids, timings and counts.

    A dry run records what it would have done under the same action names; here those go to ``planned``,
    so that nothing a dry run counted is ever shown as written.
    """
    dry_run = bool(row.get("dry_run"))
    counts: dict[str, dict[str, int]] = {}
    planned: dict[str, dict[str, int]] = {}
    for obj, by_direction in _mapping(row.get("counts")).items():
        target = (planned if dry_run else counts).setdefault(str(obj), {a: 0 for a in SHOWN_ACTIONS})
        for by_action in _mapping(by_direction).values():
            for action, n in _mapping(by_action).items():
                if action in SHOWN_ACTIONS:
                    target[str(action)] += _as_int(n)
    api_calls: dict[str, int] = {}
    for system, calls in _mapping(row.get("api_calls")).items():
        # system -> endpoint -> n (the store's shape); a plain number per system is accepted too
        api_calls[str(system)] = (sum(_as_int(n) for n in calls.values()) if isinstance(calls, Mapping)
                                  else _as_int(calls))
    drift = _drift(row.get("counts"))
    started, ended = row.get("started_at"), row.get("ended_at")
    duration = ((ended - started).total_seconds()
                if isinstance(started, dt.datetime) and isinstance(ended, dt.datetime) else None)
    return RunSummary(
        run_id=str(row["run_id"]), dag_id=str(row.get("dag_id") or ""), status=str(row.get("status") or ""),
        mode=str(row.get("mode") or ""), trigger=_trigger(row.get("trigger")), dry_run=dry_run,
        objects=[str(o) for o in objects] if isinstance(objects := row.get("objects"), list | tuple) else [],
        started_at=_iso(started), ended_at=_iso(ended), duration_seconds=duration,
        counts=counts, planned=planned, api_calls=api_calls,
        note=str(row["error_summary"]) if row.get("error_summary") else None,
        **drift,
    )


class _DriftFields(TypedDict, total=False):
    """The :class:`RunSummary` fields :func:`_drift` fills."""

    in_sync: int
    out_of_sync: int
    held_back: int
    held_back_reasons: dict[str, int]
    drift: dict[str, Mapping[str, object]]


def _drift(counts: object) -> _DriftFields:
    """The run's drift figures as :class:`RunSummary` fields (none for a run recorded without them)."""
    from sync_engine.drift import HELD_REASONS, drift_from_counts

    if not isinstance(counts, Mapping):
        return {}
    try:
        by_object = drift_from_counts(counts)
    except (TypeError, ValueError, AttributeError):  # a row written by hand with odd values
        return {}
    if not by_object:
        return {}
    reasons = {r: sum(d.held_back.get(r, 0) for d in by_object.values()) for r in HELD_REASONS}
    return {
        "in_sync": sum(d.in_sync for d in by_object.values()),
        "out_of_sync": sum(d.out_of_sync for d in by_object.values()),
        "held_back": sum(d.held_total for d in by_object.values()),
        "held_back_reasons": {r: n for r, n in reasons.items() if n},
        "drift": {name: d.as_dict() for name, d in by_object.items()},
    }


class HistoryReader:
    """Reads the newest runs; one engine per state store URL, reused across requests.

    :param conn_id: the Airflow connection of the state store; ``None``: the one the sync config names.
    """

    def __init__(self, conn_id: str | None = None) -> None:
        self._conn_id = conn_id
        self._stores: dict[str, StateStore] = {}
        self._lock = threading.Lock()

    def conn_id(self) -> str:
        if self._conn_id is None:
            self._conn_id = _configured_conn_id()
        return self._conn_id

    def _store(self) -> StateStore:
        from sync_engine.state import StateStore
        from sync_operators.runtime import state_url_from_connection

        url = state_url_from_connection(self.conn_id())
        with self._lock:
            if url not in self._stores:
                self._stores[url] = StateStore(url)
            return self._stores[url]

    def read(self, limit: int = 50) -> History:
        """The newest ``limit`` runs, newest first; an empty history (with the reason) when there is none."""
        from sqlalchemy.exc import SQLAlchemyError

        limit = max(1, min(int(limit), MAX_LIMIT))
        try:
            store = self._store()
            if _is_missing_sqlite_file(store):
                return History(message=_NO_TABLES)
            if store.current_revision() is None:
                return History(message=_NO_TABLES)
            rows = store.list_runs(limit=limit)
        except SQLAlchemyError as exc:
            # The message names the table or column, never a row; the URL's password is not in it.
            log.warning("sync history: the state store could not be read: %s", type(exc).__name__)
            return History(message=f"The sync state store could not be read ({type(exc).__name__}); see the "
                           "api-server log. Is the heymarket_sync_state connection right?")
        return History(runs=[summarise(row) for row in rows],
                       message=None if rows else "No sync run has been recorded yet.")


_NO_TABLES = ("No sync history yet: the state store has no history tables. They are created by the first "
              "run of the heymarket_sync DAG.")


def _is_missing_sqlite_file(store: StateStore) -> bool:
    """Reading a SQLite URL would create the file; a missing file simply means no history yet."""
    from pathlib import Path

    url = store.engine.url
    return url.get_backend_name() == "sqlite" and bool(url.database) and not Path(str(url.database)).exists()


def _configured_conn_id() -> str:
    """The state store connection the sync config names (the config may rename it)."""
    from sync_operators.runtime import DEFAULT_CONFIG_PATH, load_sync_config

    try:
        return load_sync_config(DEFAULT_CONFIG_PATH).state.conn_id
    except Exception as exc:  # noqa: BLE001 - any config problem: the page still works with the default
        log.warning("sync history: the sync config could not be read (%s); using connection %r",
                    type(exc).__name__, DEFAULT_STATE_CONN_ID)
        return DEFAULT_STATE_CONN_ID
