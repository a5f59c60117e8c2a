"""The record_run stage without Airflow: a fake state store, task results as the tasks hand them on."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

import pandas as pd

from sync_engine.outcomes import RecordOutcome
from sync_engine.stages.record_stage import NOT_FOUND, RecordRequest, run_record_stage, unsynced_record_ids
from sync_engine.state import SYNC_LOCK

RUN = "scheduled__2026-01-01T00:00:00+00:00"
INFO = {"dag_id": "heymarket_sync", "run_id": RUN, "objects": ["Contact"], "record_ids": [], "dry_run": False}
EXTRACTS = {
    "extract_salesforce_contact": {"path": "/r/c.parquet", "max_modstamp": "2026-01-01T00:10:00+00:00",
                                   "api_calls": {"query": 2}},
    "extract_salesforce_lead": {"path": "/r/l.parquet", "skipped": True},
    "extract_heymarket": {"path": "/r/h.parquet", "max_updated": "2026-01-01T00:09:00+00:00",
                          "api_calls": {"contacts": 3}},
}
PLAN = {"path": "/nowhere/plan", "counts": {"Contact": {"create_heymarket": 2}}}
STAGES = ("preflight", "extract_salesforce_contact", "extract_salesforce_lead", "extract_heymarket", "plan",
          "validate", "apply_heymarket", "apply_salesforce")


class FakeState:
    def __init__(self, started: bool = True) -> None:
        self.runs: dict[str, dict[str, object]] = {RUN: {"status": "running"}} if started else {}
        self.watermarks: dict[tuple[str, str], dt.datetime] = {}
        self.finished: dict[str, object] = {}
        self.released: list[tuple[str, str]] = []
        self.outcomes = {}
        self.pruned_before = []
        self.failed_since_success = []

    def get_run(self, run_id: str) -> dict[str, object] | None:
        return self.runs.get(run_id)

    def start_run(self, run_id: str, dag_id: str, *, trigger: str, mode: str, objects: Collection[str],
                  dry_run: bool = False) -> None:
        self.runs[run_id] = {"dag_id": dag_id, "trigger": trigger, "mode": mode, "objects": list(objects)}

    def set_watermark(self, system: str, object_name: str, value: dt.datetime, run_id: str | None) -> dt.datetime:
        self.watermarks[(system, object_name)] = value
        return value

    def finish_run(self, run_id: str, status: str, counts: Mapping[str, object],
                   api_calls: Mapping[str, Mapping[str, int]] | None = None, error_summary: str | None = None) -> None:
        self.finished = {"status": status, "counts": counts, "api_calls": api_calls, "error_summary": error_summary}

    def release_lock(self, name: str, run_id: str) -> bool:
        self.released.append((name, run_id))
        return True

    def load_active_pairs(self, objects: Collection[str] | None = None) -> pd.DataFrame:
        raise RuntimeError("no link table in this fake")

    def load_errors(self) -> pd.DataFrame:
        raise RuntimeError("no error table in this fake")

    # record-level outcomes: run id -> rows, as replace_record_outcomes leaves them
    outcomes: dict[str, list[tuple[RecordOutcome, bool]]]
    pruned_before: list[dt.datetime]
    failed_since_success: list[str]

    def replace_record_outcomes(self, run_id: str, outcomes: Iterable[RecordOutcome], *, actions: Collection[str],
                                planned: bool = False) -> int:
        kept = [(o, p) for o, p in self.outcomes.get(run_id, []) if o.action not in actions]
        new = [(o, planned) for o in outcomes]
        self.outcomes[run_id] = kept + new
        return len(new)

    def prune_record_outcomes(self, older_than: dt.datetime) -> int:
        self.pruned_before.append(older_than)
        return 0

    def runs_failed_since_last_success(self) -> list[str]:
        return list(self.failed_since_success)


class Files:
    def __init__(self, texts: Mapping[str, str]) -> None:
        self.texts = dict(texts)

    def path(self, name: str) -> str:
        return f"/r/{name}"

    def read_frame(self, name: str) -> pd.DataFrame:
        raise FileNotFoundError(name)

    def write_frame(self, name: str, frame: pd.DataFrame) -> str:
        return self.path(name)

    def exists(self, name: str) -> bool:
        return name in self.texts

    def read_text(self, name: str) -> str:
        return self.texts[name]


def request(states: Mapping[str, str | None], **changes: object) -> RecordRequest:
    applied = {"counts": {"Contact": {"create_heymarket": {"ok": 2}}}, "failed": 0, "stopped": False,
               "api_calls": {"bulk": 1}}
    base: dict[str, object] = {
        "run_id": RUN, "dag_id": "heymarket_sync", "info": INFO, "states": states, "reasons": {},
        "extracts": EXTRACTS, "plan": PLAN, "applies": {"apply_heymarket": applied, "apply_salesforce": {}},
        "preflight_calls": {"heymarket": {"inboxes": 1}, "salesforce": {"limits": 1}},
    }
    return RecordRequest(**{**base, **changes})  # type: ignore[arg-type]


def test_a_successful_run_is_recorded_its_watermarks_advance_and_the_lock_is_freed() -> None:
    state, warnings, lines = FakeState(), [], []
    result = run_record_stage(request(dict.fromkeys(STAGES, "success")), state, None, progress=lines.append,
                              warn=warnings.append)
    assert result.status == "success" and result.note is None and not result.guard_stopped
    assert state.finished["status"] == "success"
    assert state.finished["api_calls"] == {"salesforce": {"limits": 1, "query": 2},
                                           "heymarket": {"inboxes": 1, "contacts": 3, "bulk": 1}}
    assert result.calls == {"salesforce": 3, "heymarket": 5}
    assert state.watermarks == {("salesforce", "Contact"): dt.datetime(2026, 1, 1, 0, 10, tzinfo=dt.UTC),
                                ("heymarket", "contacts"): dt.datetime(2026, 1, 1, 0, 9, tzinfo=dt.UTC)}
    assert state.released == [(SYNC_LOCK, RUN)]
    assert lines[0].startswith("Run recorded in the sync history.\n") and result.summary in lines[0]
    assert "could not be measured" in warnings[0]  # the fake has no link table: recorded without the drift
    assert json.loads(json.dumps(result.to_xcom()))["status"] == "success"


def test_a_guard_stop_is_recorded_failed_with_the_plan_as_would_be_and_no_watermark_moves() -> None:
    states = {**dict.fromkeys(STAGES, "success"), "validate": "failed", "apply_heymarket": "upstream_failed",
              "apply_salesforce": "upstream_failed"}
    state = FakeState()
    files = Files({"validation.json": json.dumps({"guards": [{"guard": "mass_delete"}]})})
    result = run_record_stage(request(states, reasons={"validate": "The plan was not applied"},
                                      applies={"apply_heymarket": {}, "apply_salesforce": {}}), state, files)
    assert (result.status, result.guard_stopped, result.planned) == ("failed", True, True)
    assert "validate" in str(result.note) and state.watermarks == {}
    assert "would create" in result.summary


def test_a_guard_stop_that_wrote_its_opt_outs_is_a_guard_stop_with_the_opt_outs_counted() -> None:
    """Validate held the plan back but for its opt-outs (``consent_only``): the applies wrote those alone and
    apply_salesforce failed the run. Still a guard stop (its alert), the opt-outs counted, no watermark moves."""
    states = {**dict.fromkeys(STAGES, "success"), "apply_salesforce": "failed"}
    guards = {"guards": [{"guard": "mass_delete"}], "consent_only": {"writes": 2}}
    applies = {"apply_heymarket": {"counts": {"Contact": {"update_heymarket": {"ok": 1},
                                                          "opt_out_heymarket": {"ok": 1}}}},
               "apply_salesforce": {"counts": {"Contact": {"update_salesforce": {"ok": 1},
                                                           "opt_out_salesforce": {"ok": 1}}},
                                    "held_back": ["mass delete"]}}
    state = FakeState()
    result = run_record_stage(request(states, reasons={"apply_salesforce": "The guards held the plan back"},
                                      applies=applies), state, Files({"validation.json": json.dumps(guards)}))
    assert (result.status, result.guard_stopped, result.planned) == ("failed", True, False)
    assert result.counts["Contact"]["to_heymarket"]["opted_out"] == 1
    assert result.counts["Contact"]["to_salesforce"]["opted_out"] == 1
    assert "apply_salesforce" in str(result.note) and state.watermarks == {}
    # the same report without consent_only, after a validate that passed: no guard stop
    plain = Files({"validation.json": json.dumps({"guards": [{"guard": "mass_delete"}]})})
    assert not run_record_stage(request(states, applies=applies), FakeState(), plain).guard_stopped


def test_a_run_whose_preflight_failed_is_opened_then_closed(tmp_path: Path) -> None:
    state = FakeState(started=False)
    states = {"preflight": "failed", **dict.fromkeys(STAGES[1:], "upstream_failed")}
    result = run_record_stage(request(states, info={}, extracts={}, plan={}, applies={}, trigger="scheduled",
                                      mode="incremental", objects=("Contact",)), state, None)
    assert state.runs[RUN]["trigger"] == "scheduled" and state.finished["status"] == "failed"
    assert result.drift == {} and state.watermarks == {}


def test_record_run_names_every_requested_id_that_was_not_synced() -> None:
    good, refused = ["0035g00000AbCdEAAV", "0035g00000XyZaBQAK"], "0035g00000QqQqQAAV"
    info = {"record_ids": [*good, refused, "0035g00000NoNeXAAV"],
            "record_id_problems": {"abc": "'abc' has 3 characters; a record id has 15 or 18, e.g. …"}}
    extracts = {"extract_salesforce_contact": {"found_ids": good, "rejected_ids": {refused: "Salesforce refused"}},
                "extract_salesforce_lead": {"found_ids": []}}
    assert unsynced_record_ids(info, extracts) == {
        "abc": "'abc' has 3 characters; a record id has 15 or 18, e.g. …",
        refused: f"'{refused}': Salesforce refused",
        "0035g00000NoNeXAAV": NOT_FOUND.format(id="0035g00000NoNeXAAV"),
    }
    assert unsynced_record_ids({"record_ids": []}, extracts) == {}


# --- record-level outcomes and retention ---------------------------------------------------------------------

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def planned_world(tmp_path: Path) -> dict[str, object]:
    from tests.unit.test_outcomes import world_plan

    world_plan().to_dir(tmp_path / "plan")
    return {"path": str(tmp_path / "plan"), "counts": {"Contact": {"create_heymarket": 1}}}


def test_the_plans_held_back_records_are_recorded_once_even_when_record_run_is_retried(tmp_path: Path) -> None:
    state = FakeState()
    state.outcomes[RUN] = [(RecordOutcome("Contact", "created", "003000000000000002", 1, "to_heymarket"), False)]
    for _ in range(2):
        run_record_stage(request(dict.fromkeys(STAGES, "success"), plan=planned_world(tmp_path)), state, None,
                         clock=lambda: NOW)
    actions = sorted((o.action, planned) for o, planned in state.outcomes[RUN])
    assert actions == [("conflict", False), ("created", False), ("duplicate", False), ("invalid", False),
                       ("no_phone", False), ("skipped", False)]  # the applier's row stays, held back ones once
    assert state.pruned_before == [NOW - dt.timedelta(days=90)] * 2


def test_a_dry_run_records_its_planned_writes_and_held_back_records_marked_planned(tmp_path: Path) -> None:
    state = FakeState()
    run_record_stage(request(dict.fromkeys(STAGES, "success"), plan=planned_world(tmp_path), dry_run=True,
                             record_outcome_days=30), state, None, clock=lambda: NOW)
    assert {planned for _, planned in state.outcomes[RUN]} == {True}
    assert sorted(o.action for o, _ in state.outcomes[RUN]) == ["conflict", "created", "duplicate", "invalid",
                                                                "no_phone", "skipped", "updated"]
    assert state.pruned_before == [NOW - dt.timedelta(days=30)]


def test_a_run_whose_plan_failed_records_no_outcomes_and_an_unreadable_plan_is_only_a_warning() -> None:
    state, warnings = FakeState(), []
    states = {**dict.fromkeys(STAGES, "success"), "plan": "failed"}
    run_record_stage(request(states), state, None, warn=warnings.append, clock=lambda: NOW)
    assert state.outcomes == {}
    run_record_stage(request(dict.fromkeys(STAGES, "success")), state, None, warn=warnings.append, clock=lambda: NOW)
    assert any("could not record the records held back" in w for w in warnings)
    assert state.finished["status"] == "success" and state.released  # recorded and unlocked all the same


class Folders:
    """Run folders by name with the time each was last written; ``remove`` forgets one."""

    def __init__(self, written: Mapping[str, dt.datetime]) -> None:
        self.folders = dict(written)
        self.removed: list[str] = []

    def name_of(self, run_id: str) -> str:
        return run_id.replace(":", "_").replace("+", "_")

    def written(self) -> Mapping[str, dt.datetime]:
        return dict(self.folders)

    def remove(self, name: str) -> None:
        self.removed.append(name)
        del self.folders[name]


def test_run_folders_older_than_the_retention_go_but_a_failed_runs_stay_until_a_success() -> None:
    days = dt.timedelta(days=1)
    folders = Folders({"old_ok": NOW - 10 * days, "old_failed": NOW - 9 * days, "recent": NOW - 2 * days,
                       "edge": NOW - 7 * days + dt.timedelta(minutes=1), Folders({}).name_of(RUN): NOW - 30 * days})
    state, lines = FakeState(), []
    state.failed_since_success = ["old_failed"]
    run_record_stage(request(dict.fromkeys(STAGES, "success")), state, None, folders=folders, clock=lambda: NOW,
                     progress=lines.append)
    assert folders.removed == ["old_ok"]  # the current run's own folder is never removed, whatever its age
    assert any("1 older than 7 days deleted, 1 of failed runs kept" in line for line in lines)
    state.failed_since_success = []  # a run succeeded since
    run_record_stage(request(dict.fromkeys(STAGES, "success"), run_folder_days=3), state, None, folders=folders,
                     clock=lambda: NOW)
    assert sorted(folders.folders) == sorted(["recent", Folders({}).name_of(RUN)])
