"""Record-level outcomes in the state store (``sync_engine.state.record_outcomes``), on SQLite and PostgreSQL.

The backends and the migrated store come from ``test_state_store`` (same fixtures: a SQLite file and a
PostgreSQL schema per test).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from sync_engine.state import RecordOutcome, StateStore
from sync_engine.state.models import SyncRecordOutcome, table_of
from sync_engine.state.record_outcomes import UNREADABLE_CODE
from tests.unit import test_state_store as backends
from tests.unit.test_state_store import T0, FakeClock

# The backend fixtures (SQLite file, PostgreSQL schema per test) of the store's own tests.
pg_database, new_pg_url, new_url = backends.pg_database, backends.new_pg_url, backends.new_url
clock, store = backends.clock, backends.store

SF1, SF2, SF3 = "003000000000001AAA", "003000000000002AAA", "00Q000000000003AAA"


def outcomes_of_one_run() -> list[RecordOutcome]:
    return [
        RecordOutcome("Contact", "created", SF1, 101, "to_heymarket", "no_match", ("first", "last", "phone")),
        RecordOutcome("Contact", "failed", SF2, None, "to_heymarket", "INVALID_EMAIL_ADDRESS", ("email",)),
        RecordOutcome("Lead", "duplicate", SF3, None, None, "phone_taken"),
        RecordOutcome("(heymarket)", "invalid", None, 202, None, "not_possible"),
        RecordOutcome("Contact", "linked", "003000000000004AAA", 104, "state", "phone_match"),
    ]


def test_written_rows_read_back_as_frozen_outcomes_with_total(store: StateStore) -> None:
    assert store.write_record_outcomes("run-1", outcomes_of_one_run()) == 5
    page = store.record_outcomes("run-1")
    assert page.total == 5
    by_action = {row.action: row for row in page.rows}
    created = by_action["created"]
    assert (created.run_id, created.object, created.sf_id, created.hm_id, created.direction, created.reason,
            created.fields, created.planned, created.recorded_at) == (
        "run-1", "Contact", SF1, 101, "to_heymarket", "no_match", ("first", "last", "phone"), False, T0)
    assert by_action["invalid"].object == "(heymarket)" and by_action["invalid"].sf_id is None
    assert by_action["duplicate"].direction is None and by_action["duplicate"].fields == ()
    with pytest.raises(AttributeError):
        created.action = "updated"  # type: ignore[misc]


def test_run_outcomes_filter_by_object_and_action_and_page(store: StateStore) -> None:
    store.write_record_outcomes("run-1", outcomes_of_one_run())
    store.write_record_outcomes("run-2", [RecordOutcome("Contact", "updated", SF1, 101, "to_heymarket", None, ("email",))])
    contacts = store.record_outcomes("run-1", object="Contact")
    assert contacts.total == 3 and {r.action for r in contacts.rows} == {"created", "failed", "linked"}
    failed = store.record_outcomes("run-1", object="Contact", action="failed")
    assert failed.total == 1 and failed.rows[0].sf_id == SF2 and failed.rows[0].reason == "INVALID_EMAIL_ADDRESS"
    pages = [store.record_outcomes("run-1", limit=2, offset=o) for o in (0, 2, 4)]
    assert [len(p.rows) for p in pages] == [2, 2, 1] and {p.total for p in pages} == {5}
    assert len({r.id for p in pages for r in p.rows}) == 5  # a stable order: no row twice, none lost
    assert store.record_outcomes("run-unknown").total == 0
    with pytest.raises(ValueError, match="limit"):
        store.record_outcomes("run-1", limit=0)


def test_record_history_by_either_id_newest_first(store: StateStore, clock: FakeClock) -> None:
    store.write_record_outcomes("run-1", [RecordOutcome("Contact", "created", SF1, 101, "to_heymarket", "no_match")])
    clock.advance(minutes=30)
    store.write_record_outcomes("run-2", [RecordOutcome("Contact", "updated", SF1, 101, "to_heymarket", None, ("email",))])
    clock.advance(minutes=30)
    store.write_record_outcomes("run-3", [RecordOutcome("Contact", "duplicate", SF1, None, None, "phone_taken"),
                                          RecordOutcome("Contact", "updated", SF2, 999, "to_heymarket")])
    by_sf = store.record_history(sf_id=SF1)
    assert [(r.run_id, r.action) for r in by_sf] == [("run-3", "duplicate"), ("run-2", "updated"), ("run-1", "created")]
    assert [r.run_id for r in store.record_history(hm_id=101)] == ["run-2", "run-1"]
    assert [r.run_id for r in store.record_history(sf_id=SF1, limit=1)] == ["run-3"]
    assert {r.run_id for r in store.record_history(sf_id=SF1, hm_id=999)} == {"run-1", "run-2", "run-3"}
    with pytest.raises(ValueError, match="sf_id, hm_id"):
        store.record_history()


def test_prune_drops_only_rows_older_than_the_cutoff(store: StateStore, clock: FakeClock) -> None:
    store.write_record_outcomes("old", [RecordOutcome("Contact", "created", SF1, 1, "to_heymarket")])
    clock.advance(days=91)
    store.write_record_outcomes("new", [RecordOutcome("Contact", "updated", SF1, 1, "to_heymarket")])
    assert store.prune_record_outcomes(clock.now - timedelta(days=90)) == 1
    assert [r.run_id for r in store.record_history(sf_id=SF1)] == ["new"]


def test_dry_run_rows_are_marked_planned(store: StateStore) -> None:
    store.write_record_outcomes("dry", [RecordOutcome("Lead", "created", SF3, None, "to_heymarket", "no_match")],
                                planned=True)
    assert store.record_outcomes("dry").rows[0].planned is True


@pytest.mark.parametrize(("outcome", "message"), [
    (RecordOutcome("Account", "created", SF1), "object"),
    (RecordOutcome("Contact", "unchanged", SF1), "action"),
    (RecordOutcome("Contact", "created", SF1, direction="sideways"), "direction"),
    (RecordOutcome("Contact", "updated", SF1, fields=("+1 415 555 0134",)), "field names"),
    (RecordOutcome("Contact", "created", "jane.doe@example.com"), "sf_id"),
    (RecordOutcome("Contact", "updated", SF1, fields=("email", "jane.doe@example.com")), "field names"),
])
def test_values_outside_the_vocabulary_or_shape_are_refused_and_nothing_is_written(
    store: StateStore, outcome: RecordOutcome, message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        store.write_record_outcomes("run-1", [RecordOutcome("Contact", "created", SF2), outcome])
    assert store.record_outcomes("run-1").total == 0


def test_a_reason_that_is_not_a_code_is_not_stored(store: StateStore) -> None:
    store.write_record_outcomes("run-1", [RecordOutcome("Contact", "failed", SF1, None, "to_salesforce",
                                                        "value +1 415 555 0134 too long")])
    assert store.record_outcomes("run-1").rows[0].reason == UNREADABLE_CODE


def test_thousands_of_rows_go_in_as_a_bulk_insert(store: StateStore) -> None:
    many = [RecordOutcome("Contact", "updated", f"003{i:015d}", i, "to_heymarket", None, ("first",))
            for i in range(5_000)]
    assert store.write_record_outcomes("big", many) == 5_000
    assert store.record_outcomes("big", action="updated", limit=1).total == 5_000
    with store.engine.connect() as conn:
        ids = conn.execute(select(table_of(SyncRecordOutcome).c.hm_id)).scalars().all()
    assert sorted(ids) == list(range(5_000))


def test_the_database_refuses_an_action_outside_the_closed_set(store: StateStore) -> None:
    with pytest.raises(Exception, match="(?i)check|constraint"), store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO hm_sync_record_outcome (run_id, recorded_at, object, action, planned) "
            "VALUES ('r', '2026-01-01 00:00:00', 'Contact', 'unchanged', false)"
        ))


def test_replace_rewrites_only_the_given_actions_of_the_run(store: StateStore) -> None:
    store.write_record_outcomes("run-1", outcomes_of_one_run())
    held = ("duplicate", "invalid", "no_phone", "conflict", "waiting_retry", "skipped")
    again = [RecordOutcome("Lead", "duplicate", SF3, None, None, "phone_taken")]
    for _ in range(2):  # a retried record_run
        assert store.replace_record_outcomes("run-1", again, actions=held) == 1
    assert sorted(r.action for r in store.record_outcomes("run-1").rows) == ["created", "duplicate", "failed",
                                                                             "linked"]
    with pytest.raises(ValueError, match="replaces only"):
        store.replace_record_outcomes("run-1", [RecordOutcome("Contact", "created", SF1)], actions=held)


def test_runs_failed_since_the_last_success_are_the_ones_whose_files_are_kept(store: StateStore,
                                                                               clock: FakeClock) -> None:
    def run(run_id: str, status: str | None) -> None:
        clock.advance(minutes=30)
        store.start_run(run_id, "heymarket_sync", trigger="scheduled", mode="incremental", objects=["Contact"])
        if status is not None:
            store.finish_run(run_id, status, {})

    run("r1", "failed")
    assert store.runs_failed_since_last_success() == ["r1"]  # no success yet: every failed run
    run("r2", "success")
    assert store.runs_failed_since_last_success() == []
    run("r3", "failed")
    run("r4", "partial")
    run("r5", "dry_run")
    run("r6", None)  # killed: still running
    assert sorted(store.runs_failed_since_last_success()) == ["r3", "r4", "r6"]
    run("r7", "success")
    assert store.runs_failed_since_last_success() == []
