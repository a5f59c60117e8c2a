"""The preflight stage: everything that can be checked before a record is read, then the run decided and locked.

In order, and nothing is written before the last check passed: the objects the run asks for are enabled, the
record ids (if any) can be synced, both connections answer and the mapping fits the org (a port: the operator
checks through the hooks), then the read mode of each side, the sync lock, the run folder with the objects'
describes, and the run's history row. What a retry cannot fix raises :class:`PreflightFailed` (the task fails at
once with what to do); what usually passes raises :class:`TransientPreflightError` (Airflow retries the task).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from sync_engine.api_cache import ApiCache
from sync_engine.stages.ports import ReportFiles
from sync_engine.stages.results import RunInfo, Watermarks

if TYPE_CHECKING:
    from sync_engine.config import SyncConfig
    from sync_engine.vocabulary import ExtractMode, ObjectName

#: Scheduled runs do a full comparison (which also finds contacts deleted in Heymarket) this often.
FULL_SWEEP_EVERY = dt.timedelta(hours=24)
#: Heymarket's contact fields as preflight had them, in the run folder (the Heymarket extract reads them there).
HEYMARKET_FIELDS_FILE = "heymarket_fields.json"
#: The scheduled DAG, whose full runs the scheduled full sweep counts from.
SCHEDULED_DAG = "heymarket_sync"


class PreflightFailed(Exception):
    """What a retry cannot fix (objects, record ids, credentials, config, mapping, budget): the run fails now."""


class TransientPreflightError(Exception):
    """A connection is briefly unusable (down, 5xx, 429 after the clients' own retries).

    Not a :class:`PreflightFailed`: Airflow retries preflight with the DAG's retries and backoff.
    """


@dataclass
class Findings:
    """What preflight learnt about the connections and the mapping.

    :param problems: admin-readable problems a retry cannot fix (credentials, config, mapping, budget):
        the run fails at once.
    :param transient: problems that usually pass (a connection briefly down, 5xx, 429 after the clients'
        own retries): the task is retried with the DAG's backoff.
    :param describes: describe of every enabled object (the validate step needs them).
    :param api_calls: the calls made, per system and endpoint (the run's history counts every call).
    :param heymarket_fields: Heymarket's contact fields as preflight read them (or took them from the cache):
        written to the run folder, so that the Heymarket extract does not ask for them again.
    """

    problems: list[str] = field(default_factory=list)
    transient: list[str] = field(default_factory=list)
    describes: dict[str, dict[str, object]] = field(default_factory=dict)
    api_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    heymarket_fields: list[dict[str, object]] | None = None


class CheckedIds(Protocol):
    """The run's record ids, checked (``salesforce_access.ids.RecordIds``)."""

    @property
    def valid(self) -> list[str]: ...

    @property
    def by_object(self) -> dict[str, list[str]]: ...

    @property
    def problems(self) -> dict[str, str]: ...


class PreflightState(Protocol):
    """What the preflight stage reads from and writes to the state store."""

    def get_watermark(self, system: str, object_name: str) -> dt.datetime | None: ...

    def list_runs(self, limit: int = 50, dag_id: str | None = None) -> list[dict[str, object]]: ...

    def start_run(self, run_id: str, dag_id: str, *, trigger: str, mode: str, objects: Iterable[str],
                  dry_run: bool = False, params: Mapping[str, object] | None = None) -> None: ...

    def get_cached(self, key: str) -> tuple[object, dt.datetime] | None: ...

    def put_cached(self, key: str, value: object) -> None: ...


class RunFolderFiles(ReportFiles, Protocol):
    """The run folder preflight makes and writes the objects' describes into."""

    def ensure(self) -> None: ...


@dataclass(frozen=True)
class PreflightRequest:
    """The run as Airflow started it, its params already checked (``sync_operators.params.check_conf``).

    :param run_dir: where the run folder is (``files`` writes into it).
    :param scheduled: a scheduled run (it sweeps in full once every :data:`FULL_SWEEP_EVERY`).
    """

    dag_id: str
    run_id: str
    runs_root: str
    run_dir: str
    config_path: str
    objects: tuple[ObjectName, ...]
    mode: str = "incremental"
    record_ids: tuple[object, ...] = ()
    dry_run: bool = False
    allow_mass_delete: bool = False
    trigger: str = "manual"

    @property
    def scheduled(self) -> bool:
        return self.trigger == "scheduled"


State = TypeVar("State", bound=PreflightState)


@dataclass(frozen=True)
class RunModes:
    """The run's mode (``full``, ``incremental`` or ``record_ids``), each side's read mode, the watermarks."""

    mode: str
    sf_mode: ExtractMode
    hm_mode: ExtractMode
    watermarks: Watermarks


def run_preflight_stage(request: PreflightRequest, config: SyncConfig, open_state: Callable[[], State],
                        files: RunFolderFiles, *,
                        check_ids: Callable[[Sequence[object], Sequence[str]], CheckedIds],
                        check_connections: Callable[[SyncConfig, Sequence[str], ApiCache], Findings],
                        take_lock: Callable[[State], None],
                        api_calls: Callable[[Mapping[str, Mapping[str, int]]], None] = lambda _: None,
                        now: dt.datetime | None = None, progress: Callable[[str], None] = lambda _: None,
                        warn: Callable[[str], None] = lambda _: None) -> RunInfo:
    """Check, decide and lock the run; returns what every later stage receives.

    :param open_state: opens the state store (migrating it), once: on first use by the checks' :class:`ApiCache`
        (cached describes, limits, inboxes, contact fields), else once the connections passed.
    :param files: the run folder, made once the run holds the lock.
    :param check_ids: the record ids' check (shape, checksum, object by key prefix).
    :param check_connections: both connections, the default inbox, the budget and the mapping against the org;
        it reads describes, limits, inboxes and contact fields through the :class:`ApiCache` it is given (kept
        in the state store, opened for it on first use).
    :param take_lock: takes the sync lock for this run in the store *open_state* opened (raises when another
        run holds it).
    :param api_calls: called with the checks' API calls before any verdict (``record_run`` counts them).
    :param now: when the run is decided (default: now, UTC).
    :raises PreflightFailed: what a retry cannot fix; :raises TransientPreflightError: what usually passes.
    """
    objects = [name for name in request.objects if config.object_config(name).enabled]
    if not objects:
        raise PreflightFailed(
            f"No object to sync: the run asks for {' and '.join(request.objects)}, but the config enables only "
            f"{' and '.join(config.enabled_objects()) or 'none'} (objects.<name>.enabled in {request.config_path}).")
    ids = check_ids(request.record_ids, objects)
    if request.record_ids and not ids.valid:
        raise PreflightFailed("None of the record ids can be synced, so nothing was read or written: "
                              + "; ".join(ids.problems.values()))
    for reason in ids.problems.values():
        warn(f"Record id not synced: {reason}")

    opened: list[State] = []

    def state_once() -> State:
        if not opened:
            opened.append(open_state())
        return opened[0]

    found = check_connections(config, objects, ApiCache(state_once))
    api_calls(found.api_calls)
    if found.problems:
        raise PreflightFailed("Preflight failed:\n" + "\n".join(f"- {p}" for p in found.problems + found.transient))
    if found.transient:
        raise TransientPreflightError(
            "Preflight could not check a connection; this usually passes, so the task is retried (the DAG's "
            "retries, with backoff):\n" + "\n".join(f"- {p}" for p in found.transient))

    now = now or dt.datetime.now(dt.UTC)
    state = state_once()
    modes = decide_modes(state, objects, request.mode, ids.valid, scheduled=request.scheduled, now=now)
    take_lock(state)  # takes over the lock of a run that has ended
    files.ensure()
    for name, describe in found.describes.items():
        files.write_text(f"describe_{name}.json", json.dumps(describe))
    if found.heymarket_fields is not None:
        files.write_text(HEYMARKET_FIELDS_FILE, json.dumps(found.heymarket_fields))
    info = RunInfo(dag_id=request.dag_id, run_id=request.run_id, runs_root=request.runs_root,
                   run_dir=request.run_dir, config_path=request.config_path, objects=tuple(objects), mode=modes.mode,
                   sf_mode=modes.sf_mode, hm_mode=modes.hm_mode, watermarks=modes.watermarks,
                   record_ids=tuple(ids.valid), record_ids_by_object={k: tuple(v) for k, v in ids.by_object.items()},
                   record_id_problems=dict(ids.problems), dry_run=request.dry_run,
                   allow_mass_delete=request.allow_mass_delete, trigger=request.trigger, started_at=now.isoformat())
    state.start_run(run_id=request.run_id, dag_id=request.dag_id, trigger=request.trigger, mode=modes.mode,
                    objects=objects, dry_run=request.dry_run,
                    params={"record_ids": len(request.record_ids), "allow_mass_delete": request.allow_mass_delete})
    progress(f"Run {request.run_id}: {'dry run, ' if request.dry_run else ''}{modes.mode} mode (Salesforce read "
             f"{modes.sf_mode}, Heymarket read {modes.hm_mode}) of {' and '.join(objects)}"
             + (f", {len(ids.valid)} record id(s)" if request.record_ids else "") + ".")
    return info


def decide_modes(state: PreflightState, objects: Sequence[str], requested: str, record_ids: Sequence[str],
                 scheduled: bool, now: dt.datetime | None = None) -> RunModes:
    """Full or incremental, per side, and the watermarks the extractors start from.

    A side without a watermark (first run) is read in full. Scheduled runs also sweep in full once every
    :data:`FULL_SWEEP_EVERY`, because Heymarket has no deleted-contacts feed and Salesforce purges its
    delete log after 15 days.
    """
    sf_watermarks = {name: _iso(state.get_watermark("salesforce", name)) for name in objects}
    hm_watermark = _iso(state.get_watermark("heymarket", "contacts"))
    sf_mode: ExtractMode
    hm_mode: ExtractMode
    if record_ids:
        mode = "record_ids"
        sf_mode = hm_mode = "incremental"
    else:
        mode = requested
        if scheduled and requested == "incremental":
            last_full = _last_full_sweep(state)
            if last_full is None or (now or dt.datetime.now(dt.UTC)) - last_full > FULL_SWEEP_EVERY:
                mode = "full"
        sf_mode = "full" if mode == "full" or any(v is None for v in sf_watermarks.values()) else "incremental"
        hm_mode = "full" if mode == "full" or hm_watermark is None else "incremental"
        if sf_mode == hm_mode == "full":
            # A first run reads everything: the history must say so (analysts read it, and the
            # scheduled full sweep counts from the last full run).
            mode = "full"
    return RunModes(mode=mode, sf_mode=sf_mode, hm_mode=hm_mode,
                    watermarks=Watermarks(salesforce=sf_watermarks, heymarket=hm_watermark))


def _last_full_sweep(state: PreflightState) -> dt.datetime | None:
    """Start of the newest successful full run (history rows are newest first)."""
    for run in state.list_runs(limit=200, dag_id=SCHEDULED_DAG):
        if run.get("mode") == "full" and run.get("status") in {"success", "partial"}:
            started = run.get("started_at")
            if isinstance(started, dt.datetime):
                return started if started.tzinfo else started.replace(tzinfo=dt.UTC)
    return None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
