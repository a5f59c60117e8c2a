"""The preflight stage without Airflow: fake checks, a fake state store, an in-memory run folder."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from sync_engine.api_cache import ApiCache
from sync_engine.config import SyncConfig
from sync_engine.stages.preflight_stage import (
    Findings,
    PreflightFailed,
    PreflightRequest,
    TransientPreflightError,
    decide_modes,
    run_preflight_stage,
)
from sync_engine.stages.results import RunInfo, Watermarks
from tests.unit.stages.configs import contacts_only

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
MARK = dt.datetime(2026, 12, 7, 8, 30, tzinfo=dt.UTC)
GOOD_ID = "003000000000001AAA"


class FakeState:
    def __init__(self, watermarks: Mapping[tuple[str, str], dt.datetime] | None = None,
                 runs: Sequence[dict[str, object]] = ()) -> None:
        self.watermarks = dict(watermarks or {})
        self.runs = list(runs)
        self.started: list[dict[str, object]] = []
        self.locked = False
        self.cache: dict[str, tuple[object, dt.datetime]] = {}

    def get_watermark(self, system: str, object_name: str) -> dt.datetime | None:
        return self.watermarks.get((system, object_name))

    def list_runs(self, limit: int = 50, dag_id: str | None = None) -> list[dict[str, object]]:
        return [r for r in self.runs if dag_id in (None, r.get("dag_id"))][:limit]

    def get_cached(self, key: str) -> tuple[object, dt.datetime] | None:
        return self.cache.get(key)

    def put_cached(self, key: str, value: object) -> None:
        self.cache[key] = (value, NOW)

    def start_run(self, run_id: str, dag_id: str, *, trigger: str, mode: str, objects: Iterable[str],
                  dry_run: bool = False, params: Mapping[str, object] | None = None) -> None:
        assert self.locked, "the history row is opened only once the run holds the lock"
        self.started.append({"run_id": run_id, "dag_id": dag_id, "trigger": trigger, "mode": mode,
                             "objects": list(objects), "dry_run": dry_run, "params": dict(params or {})})


class FakeFolder:
    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.made = False

    def ensure(self) -> None:
        self.made = True

    def write_text(self, name: str, text: str) -> str:
        assert self.made
        self.texts[name] = text
        return f"/runs/{name}"

    def path(self, name: str) -> str:
        return f"/runs/{name}"

    def read_frame(self, name: str) -> object:
        raise AssertionError("preflight reads no frame")

    def write_frame(self, name: str, frame: object) -> str:
        raise AssertionError("preflight writes no frame")

    def exists(self, name: str) -> bool:
        return name in self.texts

    def read_text(self, name: str) -> str:
        return self.texts[name]


@dataclass
class Ids:
    valid: list[str] = field(default_factory=list)
    by_object: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    """One preflight call's fakes and what they saw."""

    state: FakeState = field(default_factory=FakeState)
    folder: FakeFolder = field(default_factory=FakeFolder)
    findings: Findings = field(default_factory=lambda: Findings(describes={"Contact": {"name": "Contact"}},
                                                                api_calls={"salesforce": {"limits": 1}}))
    ids: Ids = field(default_factory=Ids)
    opened: int = 0
    calls: list[Mapping[str, Mapping[str, int]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def check(self, config: SyncConfig, objects: Sequence[str], cache: ApiCache) -> Findings:
        """Reads Heymarket's contact fields through the cache, as the real check does."""
        if self.findings.problems or self.findings.transient:
            return self.findings  # (the real check may have opened the store for its cache by then)
        fields = cache.fetch("heymarket.contact_fields", dt.timedelta(hours=1), lambda: [{"id": 1, "title": "x"}])
        return replace(self.findings, heymarket_fields=fields)

    def __call__(self, request: PreflightRequest, config: SyncConfig) -> RunInfo:
        def open_state() -> FakeState:
            self.opened += 1
            return self.state

        def take_lock(state: FakeState) -> None:
            state.locked = True

        return run_preflight_stage(request, config, open_state, self.folder, check_ids=lambda given, objects: self.ids,
                                   check_connections=self.check, take_lock=take_lock,
                                   api_calls=self.calls.append, now=NOW, progress=self.lines.append,
                                   warn=self.warnings.append)


@pytest.fixture
def config(tmp_path: Path) -> SyncConfig:
    return contacts_only(tmp_path)


def request(**changes: object) -> PreflightRequest:
    base: dict[str, object] = {"dag_id": "heymarket_sync", "run_id": "r1", "runs_root": "/runs",
                               "run_dir": "/runs/heymarket_sync/r1", "config_path": "sync.yaml",
                               "objects": ("Contact", "Lead"), "trigger": "manual"}
    return PreflightRequest(**{**base, **changes})  # type: ignore[arg-type]


def test_a_first_run_reads_both_sides_in_full_and_opens_its_history_row_under_the_lock(config: SyncConfig) -> None:
    run = Run()
    info = run(request(dry_run=True), config)

    assert info == RunInfo(dag_id="heymarket_sync", run_id="r1", runs_root="/runs", run_dir="/runs/heymarket_sync/r1",
                           config_path="sync.yaml", objects=("Contact",), mode="full", sf_mode="full", hm_mode="full",
                           watermarks=Watermarks(salesforce={"Contact": None}, heymarket=None), dry_run=True,
                           trigger="manual", started_at=NOW.isoformat())
    assert run.state.started == [{"run_id": "r1", "dag_id": "heymarket_sync", "trigger": "manual", "mode": "full",
                                  "objects": ["Contact"], "dry_run": True,
                                  "params": {"record_ids": 0, "allow_mass_delete": False}}]
    assert json.loads(run.folder.texts["describe_Contact.json"]) == {"name": "Contact"}
    assert run.calls == [{"salesforce": {"limits": 1}}]
    assert run.lines == ["Run r1: dry run, full mode (Salesforce read full, Heymarket read full) of Contact."]
    assert RunInfo.from_xcom(json.loads(json.dumps(info.to_xcom()))) == info


def test_a_problem_fails_the_run_before_the_state_is_opened_but_its_calls_are_counted(config: SyncConfig) -> None:
    run = Run(findings=Findings(problems=["Heymarket connection: 401"], transient=["Salesforce: 503"],
                                api_calls={"heymarket": {"inboxes": 1}}))
    with pytest.raises(PreflightFailed, match="Preflight failed:\n- Heymarket connection: 401\n- Salesforce: 503"):
        run(request(), config)
    assert run.opened == 0 and not run.state.locked and run.calls == [{"heymarket": {"inboxes": 1}}]


def test_a_connection_briefly_down_is_retried(config: SyncConfig) -> None:
    run = Run(findings=Findings(transient=["Salesforce: 503"]))
    with pytest.raises(TransientPreflightError, match="usually passes"):
        run(request(), config)
    assert run.opened == 0


def test_a_run_of_objects_the_config_disables_is_refused(config: SyncConfig) -> None:
    with pytest.raises(PreflightFailed, match="No object to sync: the run asks for Lead, but the config enables "
                                              "only Contact"):
        Run()(request(objects=("Lead",)), config)


def test_record_ids_none_valid_fails_some_valid_run_with_a_warning_per_problem(config: SyncConfig) -> None:
    bad = Ids(problems={"x": "'x' is not a Salesforce id"})
    with pytest.raises(PreflightFailed, match="None of the record ids can be synced"):
        Run(ids=bad)(request(record_ids=("x",)), config)

    run = Run(ids=Ids(valid=[GOOD_ID], by_object={"Contact": [GOOD_ID]}, problems=bad.problems))
    info = run(request(record_ids=(GOOD_ID, "x")), config)
    assert (info.mode, info.sf_mode, info.hm_mode) == ("record_ids", "incremental", "incremental")
    assert info.ids_of("Contact") == (GOOD_ID,) and info.record_id_problems == bad.problems
    assert run.warnings == ["Record id not synced: 'x' is not a Salesforce id"]
    assert run.lines[-1].endswith("of Contact, 1 record id(s).")


def full_run(started: dt.datetime) -> dict[str, object]:
    return {"dag_id": "heymarket_sync", "mode": "full", "status": "success", "started_at": started}


@pytest.mark.parametrize(("scheduled", "last_full", "expected"), [
    (False, None, "incremental"),  # a manual run does what it asks
    (True, NOW - dt.timedelta(hours=2), "incremental"),
    (True, NOW - dt.timedelta(hours=25), "full"),  # the daily full sweep
    (True, None, "full"),
])
def test_scheduled_runs_sweep_in_full_once_a_day(scheduled: bool, last_full: dt.datetime | None,
                                                 expected: str) -> None:
    state = FakeState(watermarks={("salesforce", "Contact"): MARK, ("heymarket", "contacts"): MARK},
                      runs=[full_run(last_full)] if last_full else [])
    modes = decide_modes(state, ["Contact"], "incremental", [], scheduled=scheduled, now=NOW)
    assert (modes.mode, modes.sf_mode, modes.hm_mode) == (expected, expected, expected)
    assert modes.watermarks == Watermarks(salesforce={"Contact": MARK.isoformat()}, heymarket=MARK.isoformat())


def test_a_side_without_a_watermark_is_read_in_full() -> None:
    state = FakeState(watermarks={("salesforce", "Contact"): MARK})
    modes = decide_modes(state, ["Contact"], "incremental", [], scheduled=False, now=NOW)
    assert (modes.mode, modes.sf_mode, modes.hm_mode) == ("incremental", "incremental", "full")


def test_run_info_refuses_what_is_not_preflights_result() -> None:
    with pytest.raises(ValueError, match="not preflight's result"):
        RunInfo.from_xcom({})
    with pytest.raises(ValueError, match="not an extract mode"):
        RunInfo.from_xcom({"run_id": "r", "runs_root": "/r", "objects": ["Contact"], "sf_mode": "fast"})


def test_the_checks_cache_shares_the_state_store_and_hands_the_contact_fields_to_the_extract(
        config: SyncConfig) -> None:
    run = Run()
    run(request(), config)
    assert run.opened == 1  # opened once for the cache, reused for the run
    assert json.loads(run.folder.texts["heymarket_fields.json"]) == [{"id": 1, "title": "x"}]
    assert run.state.cache["heymarket.contact_fields"] == ([{"id": 1, "title": "x"}], NOW)
