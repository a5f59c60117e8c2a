"""Read the run history from the sync state store, reduced to what the page may show: run ids and counts.

The page never writes: it does not migrate the schema (``open_state_store`` would) and reports an empty
history when the tables are not there yet. Error summaries are scrubbed by the store when written; run
parameters stay out of the page (``run_queries`` never reads them), so no personal data can reach it whatever
a run recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, TypedDict

from sync_engine.drift import HELD_REASONS, drift_from_counts
from sync_engine.history import REPORT_NAMES
from sync_history.query import HistoryQuery

if TYPE_CHECKING:
    from sync_engine.state import StateStore
    from sync_engine.state.record_outcomes import OutcomePage

log = logging.getLogger(__name__)

#: Actions the page breaks down per object; the same names as ``hm_sync_run_count.action``.
SHOWN_ACTIONS = ("created", "updated", "deleted", "failed")
#: Writes per direction as the page shows them (the sync never deletes a Salesforce record), then the consent
#: changes among them (``opted_out`` / ``opted_in``, issue 15; the sync never opts anyone in in Heymarket).
DIRECTION_ACTIONS: dict[str, tuple[str, ...]] = {
    "to_heymarket": ("created", "updated", "deleted", "failed", "opted_out"),
    "to_salesforce": ("created", "updated", "failed", "opted_out", "opted_in"),
}
#: Counts of DIRECTION_ACTIONS that are not writes of their own: an opt-out written is also its create or
#: update, so it is shown next to them but never added to the records written.
CONSENT_ACTIONS = ("opted_out", "opted_in")
#: Data-quality findings per run: name -> the plan report kind whose history count it is (``REPORT_NAMES``).
QUALITY_KINDS: dict[str, str] = {"invalid": "invalid_phone", "duplicate": "duplicate", "no_phone": "no_phone"}
#: (direction, action) of the history count -> data-quality name.
_QUALITY_KEYS: dict[tuple[str, str], str] = {REPORT_NAMES[kind]: name for name, kind in QUALITY_KINDS.items()}
#: Heymarket answers 429 above this many requests per minute (one API key).
HEYMARKET_RATE_LIMIT = 500
DEFAULT_STATE_CONN_ID = "heymarket_sync_state"
#: A failed or cancelled run recorded with a shorter duration had its history row opened only when it was
#: recorded (it failed before preflight opened it): its real duration is not known.
UNKNOWN_DURATION_BELOW = 1.0
#: The state store revision that added ``hm_sync_record_outcome``.
OUTCOMES_REVISION = "0007"
#: Seconds the page trusts the schema revision it read (a run's migration may add tables meanwhile).
REVISION_TTL = 30.0


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
    #: direction (``to_heymarket``, ``to_salesforce``) -> action -> records written, summed over the objects
    #: shown; ``planned_by_direction`` the same for what a dry run would have written.
    by_direction: dict[str, dict[str, int]] = field(default_factory=dict)
    planned_by_direction: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Plan findings of the run (dry runs too): ``invalid`` phones, ``duplicate`` phones, ``no_phone``.
    quality: dict[str, int] = field(default_factory=dict)
    #: The org's daily API allocation (config ``salesforce.daily_api_budget``); ``None``: unknown.
    salesforce_daily_budget: int | None = None
    #: Salesforce calls of the run as a share (0..1+) of the daily allocation; ``None`` when it is unknown.
    salesforce_budget_share: float | None = None
    #: Heymarket calls per minute of the run's duration (an average; the hook paces below the limit).
    heymarket_calls_per_minute: float | None = None

    def total(self, action: str, *, planned: bool = False) -> int:
        source = self.planned if planned else self.counts
        return sum(by_action.get(action, 0) for by_action in source.values())

    def as_dict(self) -> dict[str, object]:
        """The fields as they are (plain dicts and lists already): no deep copy, an export makes thousands."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class History:
    """What the page renders: one page of the runs a view selects, or why there are none.

    :param total: runs the view's filters select (all pages).
    """

    runs: list[RunSummary] = field(default_factory=list)
    message: str | None = None
    total: int = 0
    query: HistoryQuery = field(default_factory=HistoryQuery)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.page_size))

    def as_dict(self) -> dict[str, object]:
        q = self.query
        return {"runs": [r.as_dict() for r in self.runs], "count": len(self.runs), "total": self.total,
                "page": q.page, "page_size": q.page_size, "pages": self.pages, "message": self.message,
                "filters": {"from": q.date_from.isoformat() if q.date_from else None,
                            "to": q.date_to.isoformat() if q.date_to else None, "status": list(q.statuses),
                            "trigger": list(q.triggers), "object": list(q.objects)}}


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


def summarise(row: Mapping[str, object], *, objects: Collection[str] = (),
              salesforce_budget: int | None = None) -> RunSummary:
    """A ``hm_sync_run`` row (``StateStore.query_runs``) reduced to ids, timings and counts.

    A dry run records what it would have done under the same action names; here those go to ``planned``,
    so that nothing a dry run counted is ever shown as written.

    :param objects: count only these objects (the view's object filter); empty: every object, Heymarket-only
        contacts (``(heymarket)``) included.
    :param salesforce_budget: the org's daily API allocation, if the config gives it.
    """
    dry_run = bool(row.get("dry_run"))
    counts: dict[str, dict[str, int]] = {}
    planned: dict[str, dict[str, int]] = {}
    directions: dict[str, dict[str, int]] = {d: dict.fromkeys(a, 0) for d, a in DIRECTION_ACTIONS.items()}
    quality = dict.fromkeys(QUALITY_KINDS, 0)
    for obj, by_direction in _mapping(row.get("counts")).items():
        if objects and obj not in objects:
            continue
        target = (planned if dry_run else counts).setdefault(str(obj), {a: 0 for a in SHOWN_ACTIONS})
        for direction, by_action in _mapping(by_direction).items():
            for action, n in _mapping(by_action).items():
                if action in SHOWN_ACTIONS:
                    target[str(action)] += _as_int(n)
                if action in directions.get(str(direction), {}):
                    directions[str(direction)][str(action)] += _as_int(n)
                if (key := (str(direction), str(action))) in _QUALITY_KEYS:
                    quality[_QUALITY_KEYS[key]] += _as_int(n)
    api_calls: dict[str, int] = {}
    for system, calls in _mapping(row.get("api_calls")).items():
        # system -> endpoint -> n (the store's shape); a plain number per system is accepted too
        api_calls[str(system)] = (sum(_as_int(n) for n in calls.values()) if isinstance(calls, Mapping)
                                  else _as_int(calls))
    drift = _drift(row.get("counts"), objects)
    status = str(row.get("status") or "")
    started, ended = row.get("started_at"), row.get("ended_at")
    duration = _duration(status, started, ended)
    minutes = duration / 60 if duration else None
    heymarket_calls = api_calls.get("heymarket")
    salesforce_calls = api_calls.get("salesforce")
    return RunSummary(
        run_id=str(row["run_id"]), dag_id=str(row.get("dag_id") or ""), status=status,
        mode=str(row.get("mode") or ""), trigger=_trigger(row.get("trigger")), dry_run=dry_run,
        objects=[str(o) for o in scope] if isinstance(scope := row.get("objects"), list | tuple) else [],
        started_at=_iso(started), ended_at=_iso(ended), duration_seconds=duration,
        counts=counts, planned=planned, api_calls=api_calls,
        note=str(row["error_summary"]) if row.get("error_summary") else None,
        by_direction={} if dry_run else directions, planned_by_direction=directions if dry_run else {},
        quality=quality, salesforce_daily_budget=salesforce_budget,
        salesforce_budget_share=(salesforce_calls / salesforce_budget
                                 if salesforce_budget and salesforce_calls is not None else None),
        heymarket_calls_per_minute=(round(heymarket_calls / minutes, 1)
                                    if minutes and heymarket_calls is not None else None),
        **drift,
    )


def _duration(status: str, started: object, ended: object) -> float | None:
    """Seconds from start to end; ``None`` when not known (running, or a failed run whose row was opened only
    when it was recorded: it ended before preflight, at an unknown time after it started)."""
    if not isinstance(started, dt.datetime) or not isinstance(ended, dt.datetime):
        return None
    seconds = (ended - started).total_seconds()
    if status in ("failed", "cancelled") and seconds < UNKNOWN_DURATION_BELOW:
        return None
    return seconds


class _DriftFields(TypedDict, total=False):
    """The :class:`RunSummary` fields :func:`_drift` fills."""

    in_sync: int
    out_of_sync: int
    held_back: int
    held_back_reasons: dict[str, int]
    drift: dict[str, Mapping[str, object]]


def _drift(counts: object, objects: Collection[str] = ()) -> _DriftFields:
    """The run's drift figures as :class:`RunSummary` fields (none for a run recorded without them).

    :param objects: sum only these objects' figures; empty: all of them.
    """
    if not isinstance(counts, Mapping):
        return {}
    try:
        by_object = drift_from_counts(counts)
    except (TypeError, ValueError, AttributeError):  # a row written by hand with odd values
        return {}
    if objects:
        by_object = {name: d for name, d in by_object.items() if name in objects}
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


@dataclass(frozen=True)
class RunDetail:
    """A run's own view: its summary and every count it recorded (object -> direction -> action -> n)."""

    summary: RunSummary
    counts: dict[str, dict[str, dict[str, int]]]

    def as_dict(self) -> dict[str, object]:
        return {**self.summary.as_dict(), "counts_by_direction": self.counts}


def _nested_counts(value: object) -> dict[str, dict[str, dict[str, int]]]:
    return {str(obj): {str(d): {str(a): _as_int(n) for a, n in _mapping(by_a).items()}
                       for d, by_a in _mapping(by_d).items()}
            for obj, by_d in _mapping(value).items()}


@dataclass(frozen=True)
class PageSettings:
    """What the page takes from the sync config: where the history is and what to set the runs against.

    :param salesforce_conn_id: the connection whose org the record links point into.
    :param salesforce_budget: the org's daily API allocation (``salesforce.daily_api_budget``), if given.
    """

    state_conn_id: str = DEFAULT_STATE_CONN_ID
    salesforce_conn_id: str = "salesforce_default"
    salesforce_budget: int | None = None


class HistoryReader:
    """Reads the run history for the page; one engine per state store URL, reused across requests.

    :param conn_id: the Airflow connection of the state store; ``None``: the one the sync config names.
    :param settings: the config's settings (tests pass their own); ``None``: read from the sync config once.
    """

    def __init__(self, conn_id: str | None = None, settings: PageSettings | None = None) -> None:
        self._conn_id = conn_id
        self._settings = settings
        self._stores: dict[str, StateStore] = {}
        self._revisions: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @property
    def settings(self) -> PageSettings:
        if self._settings is None:
            self._settings = _configured_settings()
        return self._settings

    def conn_id(self) -> str:
        return self._conn_id or self.settings.state_conn_id

    def _store(self) -> StateStore:
        from sync_engine.state import StateStore
        from sync_operators.runtime import state_url_from_connection

        url = state_url_from_connection(self.conn_id())
        with self._lock:
            if url not in self._stores:
                self._stores[url] = StateStore(url)
            return self._stores[url]

    def _readable_store(self) -> StateStore | None:
        """The store, or ``None`` when it has no history tables yet (nothing is created by looking)."""
        store = self._store()
        return store if self._revision(store) is not None else None

    def _revision(self, store: StateStore) -> str | None:
        """The store's schema revision, asked at most every :data:`REVISION_TTL` seconds once there is one (each
        question opens an Alembic context; a request asks up to three times). No revision yet is asked again on
        every request, so the page shows the history as soon as the first run has created its tables."""
        import time

        key = str(store.engine.url)
        known = self._revisions.get(key)
        if known is not None and time.monotonic() - known[1] < REVISION_TTL:
            return known[0]
        revision = None if _is_missing_sqlite_file(store) else store.current_revision()
        if revision is not None:
            self._revisions[key] = (revision, time.monotonic())
        return revision

    def _summarise(self, row: Mapping[str, object], query: HistoryQuery) -> RunSummary:
        return summarise(row, objects=query.objects, salesforce_budget=self.settings.salesforce_budget)

    def read(self, query: HistoryQuery | None = None) -> History:
        """One page of the runs the view selects (default: the newest 50), newest first; an empty history (with
        the reason) when there is none."""
        from sqlalchemy.exc import SQLAlchemyError

        query = query or HistoryQuery()
        try:
            store = self._readable_store()
            if store is None:
                return History(message=_NO_TABLES, query=query)
            run_filter = query.run_filter()
            total = store.count_runs(run_filter)
            rows = store.query_runs(run_filter, limit=query.page_size, offset=query.offset) if total else []
        except SQLAlchemyError as exc:
            return History(message=unreadable_message(exc), query=query)
        if not rows:
            message = ("No run matches these filters." if query.filtered() or query.page > 1
                       else "No sync run has been recorded yet.")
            return History(message=message, total=total, query=query)
        return History(runs=[self._summarise(row, query) for row in rows], total=total, query=query)

    def export(self, query: HistoryQuery) -> Iterator[RunSummary]:
        """Every run the view's filters select (all pages), newest first; nothing when there is no history.

        The store is opened here, before the first run is asked for, so that an unreadable store is an error
        the app can answer (503) instead of a response cut off while it streams.

        :raises sqlalchemy.exc.SQLAlchemyError: the store could not be read.
        """
        store = self._readable_store()
        if store is None:
            return iter(())
        return (self._summarise(row, query) for row in store.iter_runs(query.run_filter()))

    def records(self, run_id: str, *, object_name: str | None, action: str | None, limit: int,
                offset: int) -> OutcomePage | None:
        """One page of a run's record-level outcomes; ``None`` when the store predates them (before 0007).

        :raises sqlalchemy.exc.SQLAlchemyError: the store could not be read.
        """
        store = self._readable_store()
        if store is None or (self._revision(store) or "") < OUTCOMES_REVISION:
            return None
        return store.record_outcomes(run_id, object=object_name, action=action, limit=limit, offset=offset)

    def run(self, run_id: str) -> RunDetail | None:
        """One run with its counts as stored, ``None`` when the store has no such run (or no history yet).

        :raises sqlalchemy.exc.SQLAlchemyError: the store could not be read.
        """
        store = self._readable_store()
        row = store.get_run(run_id) if store is not None else None
        if row is None:
            return None
        return RunDetail(summary=self._summarise(row, HistoryQuery()), counts=_nested_counts(row.get("counts")))

    def salesforce_url(self) -> str | None:
        """The org's base URL for record links, when the Salesforce connection names it; else ``None``."""
        return salesforce_instance_url(self.settings.salesforce_conn_id)


def unreadable_message(exc: Exception) -> str:
    """What the page says when the store cannot be read (logged by exception type only: the message names the
    table or column, never a row, and never the URL's password)."""
    log.warning("sync history: the state store could not be read: %s", type(exc).__name__)
    return (f"The sync state store could not be read ({type(exc).__name__}); see the api-server log. Is the "
            "heymarket_sync_state connection right?")


def salesforce_instance_url(conn_id: str) -> str | None:
    """``https://<org>.my.salesforce.com`` from the Salesforce connection's extra (``instance_url``, or the
    ``instance`` host), without credentials or path; ``None`` when it names none (a username/password login
    learns its org URL only by logging in, which the page never does).
    """
    from urllib.parse import urlsplit

    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        extra = BaseHook.get_connection(conn_id).extra_dejson
    except AirflowNotFoundException:
        return None
    raw = next((str(extra[k]) for k in ("instance_url", "extra__salesforce__instance_url") if extra.get(k)), None)
    if raw is None:
        host = next((str(extra[k]) for k in ("instance", "extra__salesforce__instance") if extra.get(k)), None)
        raw = f"https://{host}" if host else None
    if raw is None:
        return None
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


_NO_TABLES = ("No sync history yet: the state store has no history tables. They are created by the first "
              "run of the heymarket_sync DAG.")


def _is_missing_sqlite_file(store: StateStore) -> bool:
    """Reading a SQLite URL would create the file; a missing file simply means no history yet."""
    from pathlib import Path

    url = store.engine.url
    return url.get_backend_name() == "sqlite" and bool(url.database) and not Path(str(url.database)).exists()


def _configured_settings() -> PageSettings:
    """The connections and the API budget the sync config names (the config may rename the connections)."""
    from sync_operators.runtime import DEFAULT_CONFIG_PATH, load_sync_config

    try:
        config = load_sync_config(DEFAULT_CONFIG_PATH)
    except Exception as exc:  # noqa: BLE001 - any config problem: the page still works with the defaults
        log.warning("sync history: the sync config could not be read (%s); using connection %r",
                    type(exc).__name__, DEFAULT_STATE_CONN_ID)
        return PageSettings()
    return PageSettings(state_conn_id=config.state.conn_id, salesforce_conn_id=config.salesforce.conn_id,
                        salesforce_budget=config.salesforce.daily_api_budget)
