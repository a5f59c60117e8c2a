"""The extract stages without Airflow: in-memory Salesforce and Heymarket readers, a fake state store.

A record-id read that Salesforce refuses over one id costs that id only: the others are read one by one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pandas as pd
import pytest

from salesforce_access import SalesforceRequestError
from salesforce_access.budget import ApiBudget
from sync_engine.config import SyncConfig
from sync_engine.stages.extract_stage import (
    WATERMARK_OVERLAP,
    run_heymarket_extract,
    run_salesforce_extract,
)
from sync_engine.stages.results import RunInfo, Watermarks
from sync_engine.state import OutsideRecord
from sync_operators.adapters import heymarket_missing, salesforce_refused_id
from tests.unit.plan.test_plan_world import link_frame
from tests.unit.stages.configs import contacts_only
from tests.unit.stages.test_plan_stage import FakeFiles
from tests.unit.test_settings import _queued

GOOD = ["0035g00000AbCdEAAV", "0035g00000XyZaBQAK"]
REFUSED = "0035g00000QqQqQAAV"
OLD = "0035g00000OlDdDAAV"
MARK = "2026-12-07T08:30:00+00:00"
STAMP = "2026-12-07T08:40:00.000+0000"


class FakeAccess:
    """Answers queries like Salesforce does: by id (a query naming a refused id fails as a whole), by change
    window, or everything in a scope; a list view holds the ids in ``view``."""

    def __init__(self, records: Sequence[dict[str, object]] = (), view: Iterable[str] = ()) -> None:
        self.records = {str(r["Id"]): r for r in records}
        self.view = set(view)
        self.queries: list[dict[str, object]] = []
        self.api_calls: dict[str, int] = {}
        self.budget: ApiBudget | None = None

    def iter_records(self, sobject: str, fields: Sequence[str], *, scope: str = "all",
                     since: dt.datetime | None = None, record_ids: Sequence[str] | None = None,
                     include_deleted: bool = False, overlap: dt.timedelta | None = None
                     ) -> Iterator[list[dict[str, object]]]:
        self.queries.append({"ids": list(record_ids or []), "since": since, "scope": scope, "overlap": overlap})
        self.api_calls["query"] = self.api_calls.get("query", 0) + 1
        if REFUSED in (record_ids or []):
            raise SalesforceRequestError(
                f"Salesforce rejected the request to query {sobject}: invalid ID field: {REFUSED} "
                "(INVALID_QUERY_FILTER_OPERATOR at row 1, column 80 of: SELECT Id …) (HTTP 400).",
                status=400, error_code="INVALID_QUERY_FILTER_OPERATOR")
        if record_ids is not None:
            yield [self.records.get(i) or {"Id": i, "SystemModstamp": STAMP, "IsDeleted": False} for i in record_ids]
        elif scope == "all":
            yield list(self.records.values())
        else:
            yield [r for i, r in self.records.items() if i in self.view]

    def in_list_view(self, sobject: str, list_view: str, ids: Sequence[str]) -> set[str]:
        return set(ids) & self.view

    def last_seen_budget(self) -> ApiBudget | None:
        return self.budget


class FakeState:
    def __init__(self, queue: pd.DataFrame | None = None, links: pd.DataFrame | None = None,
                 outside: Sequence[OutsideRecord] = ()) -> None:
        self.queue = queue if queue is not None else _queued({"action": "update_heymarket", "sf_id": "-"}).iloc[0:0]
        self.links = links if links is not None else link_frame()
        self.outside = list(outside)
        self.updated: list[tuple[list[str], list[str]]] = []
        self.cached: dict[str, object] = {}

    def due_retries(self, now: dt.datetime | None = None) -> pd.DataFrame:
        queue = self.queue
        return queue[queue["next_attempt_after"] <= pd.Timestamp(now)] if now is not None else queue

    def load_links(self, objects: Iterable[str] | None = None) -> pd.DataFrame:
        return self.links

    def outside_view_scanned(self, object_name: str, list_view: str) -> bool:
        return True

    def replace_outside_view(self, object_name: str, list_view: str, records: Iterable[OutsideRecord],
                             run_id: str | None = None) -> int:
        self.outside = list(records)
        return len(self.outside)

    def update_outside_view(self, object_name: str, list_view: str, outside: Iterable[OutsideRecord],
                            not_outside: Iterable[str]) -> None:
        self.updated.append(([r.sf_id for r in outside], sorted(not_outside)))

    def load_outside_view(self, object_name: str, list_view: str) -> list[OutsideRecord]:
        return self.outside

    def put_cached(self, key: str, value: object) -> None:
        self.cached[key] = value


#: Contacts in a list view.
LIST_VIEW = """\
  Contact:
    scope: list_view
    list_view: 00B000000000001AAA
"""


def load(tmp_path: Path, objects: str = "", auto_create: str = "none") -> SyncConfig:
    return contacts_only(tmp_path, auto_create=auto_create, extra=objects)


def info(**changes: object) -> RunInfo:
    base: dict[str, object] = {"dag_id": "d", "run_id": "r1", "runs_root": "/runs", "run_dir": "/runs/d/r1",
                               "config_path": "sync.yaml", "objects": ("Contact",), "mode": "incremental",
                               "sf_mode": "incremental", "hm_mode": "incremental",
                               "watermarks": Watermarks(salesforce={"Contact": MARK}, heymarket=MARK)}
    return RunInfo(**{**base, **changes})  # type: ignore[arg-type]


def contact(sf_id: str, phone: str = "(415) 555-0101", **more: object) -> dict[str, object]:
    return {"Id": sf_id, "SystemModstamp": STAMP, "IsDeleted": False, "Phone": phone, "FirstName": "Ann", **more}


def test_one_refused_id_does_not_cost_the_others(tmp_path: Path) -> None:
    access, files, lines = FakeAccess(), FakeFiles(tmp_path, {}), []
    run = info(mode="record_ids", record_ids=(GOOD[0], REFUSED, GOOD[1]),
               record_ids_by_object={"Contact": (GOOD[0], REFUSED, GOOD[1])})
    result = run_salesforce_extract("Contact", run, load(tmp_path), files, access, FakeState,
                                    refused_id=salesforce_refused_id, warn=lines.append)
    assert result.found_ids == tuple(sorted(GOOD)) and result.rows == 2
    assert result.rejected_ids == {REFUSED: "Salesforce refused the id (INVALID_QUERY_FILTER_OPERATOR)"}
    assert [q["ids"] for q in access.queries] == [[GOOD[0], REFUSED, GOOD[1]], [GOOD[0]], [REFUSED], [GOOD[1]]]
    assert lines == ["Contact: Salesforce refused 1 of 3 record ids; the others were read"]


def test_other_query_failures_are_not_taken_for_a_bad_id(tmp_path: Path) -> None:
    class Broken(FakeAccess):
        def iter_records(self, *args: object, **kwargs: object) -> Iterator[list[dict[str, object]]]:
            raise SalesforceRequestError("Salesforce rejected the request to query Contact: No such column 'X' "
                                         "(INVALID_FIELD) (HTTP 400).", status=400, error_code="INVALID_FIELD")
            yield []

    run = info(mode="record_ids", record_ids=tuple(GOOD), record_ids_by_object={"Contact": tuple(GOOD)})
    with pytest.raises(SalesforceRequestError, match="No such column"):
        run_salesforce_extract("Contact", run, load(tmp_path), FakeFiles(tmp_path, {}), Broken(), FakeState,
                               refused_id=salesforce_refused_id)


def test_an_object_outside_the_run_gets_an_empty_frame_and_nothing_is_read(tmp_path: Path) -> None:
    access, files = FakeAccess(), FakeFiles(tmp_path, {})
    result = run_salesforce_extract("Lead", info(), load(tmp_path), files, access, lambda: pytest.fail("no store"))
    assert result.skipped and result.file == "salesforce_Lead.parquet" and access.queries == []
    assert files.frames["salesforce_Lead.parquet"].empty


def test_an_incremental_read_adds_the_records_whose_retry_is_due(tmp_path: Path) -> None:
    queue = _queued({"action": "update_heymarket", "sf_id": OLD, "hm_id": 4,
                     "next_attempt_after": "2026-01-01T00:00:00+00:00"})
    access = FakeAccess([contact(GOOD[0])])
    files = FakeFiles(tmp_path, {})
    result = run_salesforce_extract("Contact", info(), load(tmp_path), files, access, lambda: FakeState(queue))

    assert access.queries[0]["since"] == dt.datetime.fromisoformat(MARK)
    assert access.queries[0]["overlap"] == WATERMARK_OVERLAP
    assert access.queries[1]["ids"] == [OLD]  # re-read by id: the watermark went past it
    assert (result.rows, result.retried, result.in_scope, result.held) == (2, 1, 2, 0)
    assert result.max_modstamp == "2026-12-07T08:40:00+00:00" and result.api_calls == {"query": 2}
    assert sorted(files.frames["salesforce_Contact.parquet"]["sf_id"]) == sorted([GOOD[0], OLD])


def test_a_full_read_of_a_list_view_reads_the_linked_records_it_no_longer_returns(tmp_path: Path) -> None:
    config = load(tmp_path, LIST_VIEW)
    access = FakeAccess([contact(GOOD[0]), contact(GOOD[1], "(415) 555-0102")], view=[GOOD[0]])
    links = link_frame({"sf_id": GOOD[1], "hm_id": 7, "phone": "14155550102"})
    result = run_salesforce_extract("Contact", info(sf_mode="full"), config, FakeFiles(tmp_path, {}), access,
                                    lambda: FakeState(links=links))
    assert (result.rows, result.in_scope, result.out_of_scope) == (2, 1, 1)  # GOOD[1] left the view
    assert access.queries[1]["ids"] == [GOOD[1]]


def test_an_incremental_list_view_read_hands_on_the_stored_phones_outside_the_view(tmp_path: Path) -> None:
    config = load(tmp_path, LIST_VIEW, auto_create="Contact")
    access = FakeAccess([contact(GOOD[0]), contact(GOOD[1], "(415) 555-0102")], view=[GOOD[0]])
    state = FakeState(outside=[OutsideRecord(OLD, "(415) 555-0199")])
    files, lines = FakeFiles(tmp_path, {}), []
    result = run_salesforce_extract("Contact", info(), config, files, access, lambda: state, progress=lines.append)

    assert state.updated == [([GOOD[1]], [GOOD[0]])]  # GOOD[1] left the view, GOOD[0] is in it
    frame = files.frames["salesforce_Contact.parquet"].set_index("sf_id")
    assert frame.loc[OLD, "in_scope"] == False and frame.loc[GOOD[0], "in_scope"] == True  # noqa: E712
    assert result.out_of_scope == 2 and lines[-1].startswith("Salesforce Contact: read 3 records (1 in scope")


class FakeHeymarket:
    def __init__(self, contacts: Sequence[dict[str, object]], gone: Iterable[int] = ()) -> None:
        self.contacts = list(contacts)
        self.gone = set(gone)
        self.since: list[dt.datetime | None] = []
        self.fetched: list[int] = []
        self.api_calls = {"contacts": 1}

    def list_contact_fields(self) -> list[dict[str, object]]:
        return [{"id": 12, "title": "Customer Tier"}]

    def iter_all_contacts(self) -> Iterator[list[dict[str, object]]]:
        yield self.contacts

    def iter_contacts(self, since: dt.datetime | None = None) -> Iterator[list[dict[str, object]]]:
        self.since.append(since)
        yield self.contacts

    def get_contact(self, contact_id: int) -> dict[str, object]:
        from heymarket_hook.errors import HeymarketNotFound

        self.fetched.append(contact_id)
        if contact_id in self.gone:
            raise HeymarketNotFound(404, None, None, "not found.", "GET /v1/contact/{id}")
        return hm_contact(contact_id, f"1415555{contact_id:04d}")


def hm_contact(hm_id: int, phone: str) -> dict[str, object]:
    return {"id": hm_id, "uuid": f"u{hm_id}", "phone": phone, "first": "Ann", "last": "", "email": "",
            "updated": "2026-12-07T08:45:00Z", "custom": {}}


def test_heymarket_incremental_read_adds_due_retries_and_skips_deleted_contacts(tmp_path: Path) -> None:
    queue = _queued(*({"action": "update_heymarket", "sf_id": "-", "hm_id": h,
                       "next_attempt_after": "2026-01-01T00:00:00+00:00"} for h in (5, 6)))
    hook, files = FakeHeymarket([hm_contact(1, "14155550001")], gone=[6]), FakeFiles(tmp_path, {})
    result = run_heymarket_extract(info(), load(tmp_path), files, hook, lambda: FakeState(queue),
                                   missing=heymarket_missing)

    assert hook.since == [dt.datetime.fromisoformat(MARK) - WATERMARK_OVERLAP] and hook.fetched == [5, 6]
    assert (result.rows, result.retried, result.field_ids) == (2, 2, {"Customer Tier": "12"})
    assert sorted(files.frames["heymarket.parquet"]["hm_id"]) == [1, 5]


def test_a_stop_request_ends_the_heymarket_read_before_anything_is_written(tmp_path: Path) -> None:
    files = FakeFiles(tmp_path, {})
    with pytest.raises(RuntimeError, match="stopped on request"):
        run_heymarket_extract(info(hm_mode="full"), load(tmp_path), files, FakeHeymarket([]), FakeState,
                              stop_requested=lambda: True)
    assert files.frames == {}


def test_the_extract_keeps_the_budget_its_last_response_carried(tmp_path: Path) -> None:
    """The next preflight and the change watcher read the budget from the state store, not from /limits."""
    access = FakeAccess([contact(GOOD[0])])
    access.budget = ApiBudget(used=120, max=15_000, source="header")
    state = FakeState()
    run_salesforce_extract("Contact", info(), load(tmp_path), FakeFiles(tmp_path, {}), access, lambda: state)
    assert state.cached == {"salesforce.limits": {"used": 120, "max": 15_000}}

    access.budget, state.cached = None, {}  # no response carried the header: nothing is kept
    run_salesforce_extract("Contact", info(), load(tmp_path), FakeFiles(tmp_path, {}), access, lambda: state)
    assert state.cached == {}
