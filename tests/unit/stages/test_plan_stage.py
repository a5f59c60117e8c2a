"""The plan stage without Airflow: fake run files and a fake state store, the real planner."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from sync_engine.config import SyncConfig
from sync_engine.plan import Plan
from sync_engine.stages.plan_stage import PlanInputs, PlanRequest, run_plan_stage
from sync_engine.stages.results import HeymarketExtractResult, PlanResult, SalesforceExtractResult
from sync_engine.state import RecordRef
from tests.unit.plan.test_plan_world import hm_frame, link_frame, sf_frame
from tests.unit.stages.configs import contacts_only
from tests.unit.test_settings import NOW, _queued

BEN = {"first": "Ben", "last": "Ode", "email": "ben@x.org"}


class FakeFiles:
    """A run folder: frames and texts in memory, the plan written under a real temporary folder."""

    def __init__(self, root: Path, frames: Mapping[str, pd.DataFrame]) -> None:
        self.root = root
        self.frames = dict(frames)
        self.texts: dict[str, str] = {}

    def path(self, name: str) -> str:
        return str(self.root / name)

    def read_frame(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    def write_frame(self, name: str, frame: pd.DataFrame) -> str:
        self.frames[name] = frame
        return self.path(name)

    def exists(self, name: str) -> bool:
        return name in self.frames or name in self.texts

    def read_text(self, name: str) -> str:
        return self.texts[name]


class FakeState:
    """The state store's part the plan stage uses; remembers what was written and in which transaction."""

    def __init__(self, links: pd.DataFrame, queue: pd.DataFrame) -> None:
        self.links, self.queue = links, queue
        self.cache: dict[str, tuple[str | None, str | None]] = {}
        self.resolved: list[RecordRef] = []
        self.cleared: list[RecordRef] = []
        self.transactions = 0

    def load_links(self) -> pd.DataFrame:
        return self.links

    def get_phone_cache(self, raws: Iterable[str], region: str) -> dict[str, tuple[str | None, str | None]]:
        return {raw: self.cache[raw] for raw in raws if raw in self.cache}

    def put_phone_cache(self, mapping: Mapping[str, tuple[str | None, str | None]], region: str) -> int:
        self.cache.update(mapping)
        return len(mapping)

    def due_retries(self, now: object = None) -> pd.DataFrame:
        return self.queue

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.transactions += 1
        yield None

    def resolve_errors(self, keys: Iterable[RecordRef], run_id: str, conn: object = None) -> int:
        assert conn is None and self.transactions  # inside the stage's transaction (the fake's conn is None)
        self.resolved.extend(keys)
        return 0

    def clear_retries(self, keys: Iterable[RecordRef], conn: object = None) -> int:
        self.cleared.extend(keys)
        return 0


@pytest.fixture
def config(tmp_path: Path) -> SyncConfig:
    return contacts_only(tmp_path)


def world(tmp_path: Path) -> tuple[FakeFiles, FakeState]:
    """003C is new (a Heymarket create whose rejected attempt is not due yet); 003B is linked and agrees
    with its contact, so its queued update is moot."""
    salesforce = sf_frame({"sf_id": "003C", "phone_raw": "(415) 555-0101", "first": "Ann"},
                          {"sf_id": "003B", "phone_raw": "(415) 555-0102", **BEN})
    heymarket = hm_frame({"hm_id": 9, "phone": "14155550102", **BEN})
    links = link_frame({"sf_id": "003B", "hm_id": 9, "phone": "14155550102", "synced": BEN})
    queue = _queued({"action": "create_heymarket", "sf_id": "003C"},
                    {"action": "update_heymarket", "sf_id": "003B", "hm_id": 9})
    files = FakeFiles(tmp_path / "run", {"sf_contact.parquet": salesforce, "hm.parquet": heymarket})
    return files, FakeState(links, queue)


#: The extracts' results name the files the plan reads.
EXTRACTS = PlanInputs(
    salesforce=(SalesforceExtractResult(object_name="Contact", path="/run/sf_contact.parquet", file="sf_contact.parquet"),
                SalesforceExtractResult(object_name="Lead", path="/run/sf_lead.parquet", file="sf_lead.parquet",
                                        skipped=True)),
    heymarket=HeymarketExtractResult(path="/run/hm.parquet", file="hm.parquet"))


def request(**changes: object) -> PlanRequest:
    base: dict[str, object] = {"run_id": "r1", "objects": ("Contact",), "sf_mode": "full", "hm_mode": "full"}
    return PlanRequest(**{**base, **changes})  # type: ignore[arg-type]


def test_plan_holds_writes_not_due_settles_moot_retries_and_caches_phones(tmp_path: Path,
                                                                            config: SyncConfig) -> None:
    files, state = world(tmp_path)
    lines: list[str] = []
    result = run_plan_stage(request(), EXTRACTS, config, files, state, now=NOW, progress=lines.append)

    assert result == PlanResult(path=files.path("plan"), counts=result.counts, phones_parsed=2, retries_settled=1)
    plan = Plan.from_dir(result.path)
    assert plan.actions["create_heymarket"].empty  # its retry is not due before NOW + slack
    assert plan.report[plan.report["kind"] == "waiting_retry"]["sf_id"].tolist() == ["003C"]
    assert [(r.action, r.sf_id, r.hm_id) for r in state.resolved] == [("update_heymarket", "003B", 9)]
    assert state.cleared == state.resolved and state.transactions == 1
    assert files.frames["links.parquet"] is state.links  # validate and apply read the links planned against
    assert set(state.cache) == {"(415) 555-0101", "(415) 555-0102"}
    assert lines[0].startswith("Plan for run r1:\n")
    assert "1 queued retries are no longer needed" in lines[1]


def test_a_retry_of_a_write_to_a_deleted_contact_does_not_hold_the_write_to_the_new_one(tmp_path: Path,
                                                                                         config: SyncConfig) -> None:
    """003B's update of contact 8 was rejected (an agent deleted it; its backoff is not over) and a contact 9 was
    made at 003B's phone. The full sweep links 003B to contact 9 and writes its e-mail there at once: the retry of
    the write to the deleted contact is settled, and holds nothing back."""
    heymarket = hm_frame({"hm_id": 9, "phone": "14155550102", "first": BEN["first"], "last": BEN["last"]})
    salesforce = sf_frame({"sf_id": "003B", "phone_raw": "(415) 555-0102", **BEN})
    files = FakeFiles(tmp_path / "run", {"sf_contact.parquet": salesforce, "hm.parquet": heymarket})
    links = link_frame({"sf_id": "003B", "hm_id": 8, "phone": "14155550102", "synced": BEN})
    state = FakeState(links, _queued({"action": "update_heymarket", "sf_id": "003B", "hm_id": 8}))

    result = run_plan_stage(request(), EXTRACTS, config, files, state, now=NOW)

    plan = Plan.from_dir(result.path)
    assert plan.actions["update_heymarket"][["sf_id", "hm_id"]].values.tolist() == [["003B", 9]]
    assert plan.report[plan.report["kind"] == "waiting_retry"].empty
    assert [(r.action, r.sf_id, r.hm_id) for r in state.resolved] == [("update_heymarket", "003B", 8)]


def test_a_due_retry_is_planned_again(tmp_path: Path, config: SyncConfig) -> None:
    files, state = world(tmp_path)
    result = run_plan_stage(request(), EXTRACTS, config, files, state, now=NOW + pd.Timedelta(hours=2))
    assert Plan.from_dir(result.path).actions["create_heymarket"]["sf_id"].tolist() == ["003C"]


@pytest.mark.parametrize("changes", [{"dry_run": True}, {"record_ids": ("003C",), "sf_mode": "incremental",
                                                         "hm_mode": "incremental"}])
def test_dry_runs_and_record_id_runs_only_look(tmp_path: Path, config: SyncConfig,
                                               changes: dict[str, object]) -> None:
    files, state = world(tmp_path)
    result = run_plan_stage(request(**changes), EXTRACTS, config, files, state, now=NOW)
    assert result.retries_settled == 0 and not state.resolved and not state.cleared
    creates = Plan.from_dir(result.path).actions["create_heymarket"]["sf_id"].tolist()
    assert creates == ([] if changes.get("dry_run") else ["003C"])  # a record-id run holds nothing back


def test_the_result_travels_as_plain_json_and_back() -> None:
    result = PlanResult(path="/runs/d/r/plan", counts={"Contact": {"create_heymarket": 2}}, phones_parsed=3,
                        retries_settled=1)
    assert result.to_xcom() == {"path": "/runs/d/r/plan", "counts": {"Contact": {"create_heymarket": 2}},
                                "phones_parsed": 3, "retries_settled": 1}
    assert PlanResult.from_xcom(result.to_xcom()) == result
    with pytest.raises(ValueError, match="not a plan task's result"):
        PlanResult.from_xcom({})


def test_a_plan_wired_without_an_objects_extract_says_so(tmp_path: Path, config: SyncConfig) -> None:
    files, state = world(tmp_path)
    only_leads = PlanInputs(salesforce=EXTRACTS.salesforce[1:], heymarket=EXTRACTS.heymarket)
    with pytest.raises(ValueError, match="no Salesforce extract of Contact"):
        run_plan_stage(request(), only_leads, config, files, state, now=NOW)


@pytest.mark.parametrize("result", [
    SalesforceExtractResult(object_name="Contact", path="/r/salesforce_Contact.parquet", file="salesforce_Contact.parquet",
                            rows=3, found_ids=("003A",), rejected_ids={"003B": "refused"}, in_scope=2,
                            max_modstamp="2026-01-01T00:00:00+00:00", api_calls={"query": 2}),
    HeymarketExtractResult(path="/r/heymarket.parquet", file="heymarket.parquet", rows=4, field_ids={"Tier": "7"},
                           retried=1, api_calls={"contacts": 3}),
])
def test_extract_results_travel_as_plain_json_and_back(result: SalesforceExtractResult | HeymarketExtractResult
                                                       ) -> None:
    import json

    sent = json.loads(json.dumps(result.to_xcom()))  # what XCom stores
    assert type(result).from_xcom(sent) == result
    with pytest.raises(ValueError, match="result"):
        type(result).from_xcom({"rows": 1})
