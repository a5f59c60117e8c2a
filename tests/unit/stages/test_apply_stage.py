"""The apply stages without Airflow: a plan made by the real plan stage, in-memory writers, a fake store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from sync_engine.config import SyncConfig
from sync_engine.stages.apply_stage import (
    CANCELLED,
    STOP_REQUESTED,
    AppliedResult,
    ApplyRequest,
    RunSoFar,
    WillNotWrite,
    record_cancelled,
    run_heymarket_apply,
    run_salesforce_apply,
)
from sync_engine.stages.plan_stage import run_plan_stage
from sync_engine.stages.results import PlanResult
from sync_engine.state import SYNC_LOCK, LockHeld
from tests.unit.plan.test_plan_world import hm_frame, link_frame, sf_frame
from tests.unit.stages.configs import contacts_only
from tests.unit.stages.test_plan_stage import EXTRACTS, FakeFiles, FakeState, request
from tests.unit.test_apply import FakeHeymarket, FakeSalesforce
from tests.unit.test_apply import FakeState as FakeApplyState
from tests.unit.test_settings import NOW, _queued

ANN = "003000000000001AAA"
STARTED = "2026-12-07T09:00:00+00:00"


class FakeStore:
    """The state store's part the apply stages use: the lock, the links now, the history row."""

    def __init__(self, links: pd.DataFrame | None = None, held_by: str | None = None) -> None:
        self.links = links if links is not None else link_frame()
        self.held_by = held_by
        self.heartbeats = 0
        self.finished: list[dict[str, object]] = []

    def acquire_lock(self, name: str, run_id: str, ttl_seconds: int) -> bool:
        if self.held_by not in (None, run_id):
            raise LockHeld(None, name, run_id)
        self.held_by = run_id
        return True

    def heartbeat(self, name: str, run_id: str, ttl_seconds: int | None = None) -> None:
        assert name == SYNC_LOCK and self.held_by == run_id
        self.heartbeats += 1

    def load_links(self) -> pd.DataFrame:
        return self.links

    def get_run(self, run_id: str) -> dict[str, object] | None:
        return {"run_id": run_id}

    def finish_run(self, run_id: str, status: str, counts: object, api_calls: object = None,
                   error_summary: str | None = None) -> None:
        self.finished.append({"status": status, "counts": counts, "api_calls": api_calls, "error": error_summary})


class Access:
    """The Salesforce budget and the look-up of records an earlier attempt created."""

    def __init__(self, remaining: int = 10_000, created: dict[str, str] | None = None) -> None:
        self.remaining, self.max = remaining, 15_000
        self.created = created or {}
        self.looked_up: list[tuple[str, str, list[str], dt.datetime]] = []

    def ids_created_since(self, sobject: str, field: str, values: list[str], since: dt.datetime) -> dict[str, str]:
        self.looked_up.append((sobject, field, values, since))
        return {v: self.created[v] for v in values if v in self.created}


def load(tmp_path: Path, auto_create: str = "none") -> SyncConfig:
    return contacts_only(tmp_path, auto_create=auto_create)


def planned(tmp_path: Path, config: SyncConfig, salesforce: pd.DataFrame, heymarket: pd.DataFrame
            ) -> tuple[FakeFiles, PlanResult]:
    files = FakeFiles(tmp_path / "run", {"sf_contact.parquet": salesforce, "hm.parquet": heymarket})
    state = FakeState(link_frame(), _queued({"action": "create_heymarket", "sf_id": "-"}).iloc[0:0])
    return files, run_plan_stage(request(), EXTRACTS, config, files, state, now=NOW)


def ann_to_create(tmp_path: Path) -> tuple[SyncConfig, FakeFiles, PlanResult]:
    """Ann is a new Contact: the plan creates her Heymarket contact."""
    config = load(tmp_path)
    files, plan = planned(tmp_path, config, sf_frame({"sf_id": ANN, "phone_raw": "(415) 555-0101", "first": "Ann"}),
                          hm_frame())
    return config, files, plan


def grace_to_create(tmp_path: Path) -> tuple[SyncConfig, FakeFiles, PlanResult]:
    """Grace is a Heymarket contact nobody claims: the plan auto-creates her Contact."""
    config = load(tmp_path, auto_create="Contact")
    files, plan = planned(tmp_path, config, sf_frame(),
                          hm_frame({"hm_id": 9, "phone": "14155550109", "first": "Grace", "last": "Hopper"}))
    return config, files, plan


def apply_request(task_id: str = "apply_heymarket", **changes: object) -> ApplyRequest:
    base: dict[str, object] = {"run_id": "r1", "task_id": task_id, "objects": ("Contact",), "started_at": STARTED}
    return ApplyRequest(**{**base, **changes})  # type: ignore[arg-type]


def test_heymarket_apply_takes_the_lock_writes_the_plan_and_returns_its_counts(tmp_path: Path) -> None:
    config, files, plan = ann_to_create(tmp_path)
    store, state, writer, lines = FakeStore(), FakeApplyState(), FakeHeymarket(), []
    result = run_heymarket_apply(apply_request(), plan, config, files, store, state, writer, {}, {},
                                 api_calls=lambda: {"contacts_bulk": writer.calls}, progress=lines.append)

    assert result == AppliedResult(counts={"Contact": {"create_heymarket": {"ok": 1}}},
                                   api_calls={"contacts_bulk": 1})
    assert store.held_by == "r1" and store.heartbeats >= 1
    assert [c.sf_id for c in state.all("upserts")] == [ANN]
    assert lines[-1].startswith("Heymarket apply: ")


def test_a_retried_attempt_skips_the_creates_an_earlier_attempt_recorded(tmp_path: Path) -> None:
    config, files, plan = ann_to_create(tmp_path)
    # the plan was made with no links; Ann's pair is linked now: the killed attempt wrote and recorded her
    store = FakeStore(links=link_frame({"sf_id": ANN, "hm_id": 1, "phone": "14155550101"}))
    writer, lines = FakeHeymarket(), []
    result = run_heymarket_apply(apply_request(attempt=2), plan, config, files, store, FakeApplyState(), writer,
                                 {}, {}, progress=lines.append)

    assert writer.calls == 0 and result.counts == {}
    assert ("Resuming: 1 Heymarket contact create(s) of this plan were written and recorded by an earlier attempt "
            "of this task; they are not sent again") in lines


def test_another_runs_lock_means_nothing_is_written(tmp_path: Path) -> None:
    config, files, plan = ann_to_create(tmp_path)
    writer = FakeHeymarket()
    with pytest.raises(WillNotWrite, match="apply_heymarket will not write"):
        run_heymarket_apply(apply_request(), plan, config, files, FakeStore(held_by="other-run"), FakeApplyState(),
                            writer, {}, {})
    assert writer.calls == 0


def test_a_stop_request_stops_before_the_next_batch(tmp_path: Path) -> None:
    config, files, plan = ann_to_create(tmp_path)
    writer = FakeHeymarket()
    result = run_heymarket_apply(apply_request(), plan, config, files, FakeStore(), FakeApplyState(), writer, {}, {},
                                 stop_requested=lambda: True)
    assert result.stopped and result.stop_reason == STOP_REQUESTED and writer.calls == 0
    assert result.cancelled().stop_reason == CANCELLED


def test_a_dry_run_touches_nothing(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_heymarket_apply(apply_request(dry_run=True), None, None, None, None, None, None, {}, {},  # type: ignore[arg-type]
                                 progress=lines.append)
    assert result == AppliedResult(dry_run=True)
    assert lines == ["Dry run: nothing is written to Heymarket (the plan's counts are what would be written)"]


def test_salesforce_apply_auto_creates_and_stops_at_the_budget_reserve(tmp_path: Path) -> None:
    config, files, plan = grace_to_create(tmp_path)
    writer = FakeSalesforce()
    ok = run_salesforce_apply(apply_request("apply_salesforce"), plan, config, files, FakeStore(), FakeApplyState(),
                              writer, {9: "u9"}, budget=Access, created=Access())
    assert ok.counts == {"Contact": {"create_salesforce": {"ok": 1}}} and len(writer.created) == 1

    reserve = config.salesforce.min_daily_api_remaining
    stopped = run_salesforce_apply(apply_request("apply_salesforce"), plan, config, files, FakeStore(),
                                   FakeApplyState(), FakeSalesforce(), {9: "u9"},
                                   budget=lambda: Access(remaining=reserve), created=Access())
    assert stopped.stopped and "Salesforce daily API budget reserve reached" in str(stopped.stop_reason)


def test_a_retried_salesforce_attempt_links_the_record_it_created_before_instead_of_creating_it_again(
        tmp_path: Path) -> None:
    config, files, plan = grace_to_create(tmp_path)
    access, writer, lines = Access(created={"+14155550109": "003000000000009AAA"}), FakeSalesforce(), []
    result = run_salesforce_apply(apply_request("apply_salesforce", attempt=2), plan, config, files, FakeStore(),
                                  state := FakeApplyState(), writer, {9: "u9"}, budget=Access, created=access,
                                  progress=lines.append)

    assert writer.created == [] and result.counts == {"Contact": {"create_salesforce": {"ok": 1}}}
    assert [c.sf_id for c in state.all("upserts")] == ["003000000000009AAA"]
    [(sobject, _field, phones, since)] = access.looked_up
    assert sobject == "Contact" and phones == ["+14155550109"]
    assert since == dt.datetime.fromisoformat(STARTED) - dt.timedelta(minutes=10)
    assert lines[0].startswith("Attempt 2 of this task: Salesforce creates first look")


def test_a_cancelled_run_is_recorded_with_what_every_task_handed_on() -> None:
    store = FakeStore()
    stopped = AppliedResult(counts={"Contact": {"update_salesforce": {"ok": 2}}}, stopped=True,
                            stop_reason=STOP_REQUESTED, api_calls={"composite": 1}).cancelled()
    so_far = RunSoFar(plan={"counts": {"Contact": {"create_heymarket": 1, "update_salesforce": 3}}},
                      extracts={"extract_salesforce_contact": {"api_calls": {"query": 2}},
                                "extract_heymarket": {"api_calls": {"contacts": 4}}},
                      applies={"apply_heymarket": AppliedResult(counts={"Contact": {"create_heymarket": {"ok": 1}}},
                                                                api_calls={"contacts_bulk": 1}).to_xcom()},
                      preflight_calls={"salesforce": {"limits": 1}, "heymarket": {"inboxes": 1}})
    assert record_cancelled(store, apply_request("apply_salesforce"), stopped, so_far)

    [row] = store.finished
    assert row["status"] == "cancelled" and row["error"] == "cancelled during apply_salesforce"
    assert row["api_calls"] == {"salesforce": {"limits": 1, "query": 2, "composite": 1},
                                "heymarket": {"inboxes": 1, "contacts": 4, "contacts_bulk": 1}}
    assert row["counts"]["Contact"]["to_heymarket"]["created"] == 1  # type: ignore[index]
    assert row["counts"]["Contact"]["to_salesforce"]["updated"] == 2  # type: ignore[index]


def test_the_applied_result_travels_as_plain_json_and_back() -> None:
    result = AppliedResult(counts={"Lead": {"update_heymarket": {"ok": 3, "failed": 1}}}, failed=1, stopped=True,
                           stop_reason="budget", api_calls={"contacts_bulk": 2})
    sent = json.loads(json.dumps(result.to_xcom()))
    assert sent == {"counts": {"Lead": {"update_heymarket": {"ok": 3, "failed": 1}}}, "failed": 1, "stopped": True,
                    "stop_reason": "budget", "api_calls": {"contacts_bulk": 2}, "dry_run": False}
    assert AppliedResult.from_xcom(sent) == result
    assert AppliedResult.from_xcom({}) == AppliedResult.from_xcom(None) == AppliedResult()
