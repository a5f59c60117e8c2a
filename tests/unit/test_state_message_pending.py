"""The message copy's state (``sync_engine.state.pending_messages``) on SQLite and PostgreSQL: waiting
messages by id and date only, the linked records by phone, and when the link table last changed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from sync_engine.state import LinkRow, PendingMessage, StateStore
from tests.unit import test_state_store as backends
from tests.unit.test_state_store import T0

# The backend fixtures (SQLite file, PostgreSQL schema per test) of the store's own tests.
pg_database, new_pg_url, new_url = backends.pg_database, backends.new_pg_url, backends.new_url
clock, store = backends.clock, backends.store


def test_waiting_messages_are_kept_by_id_refreshed_and_dropped(store: StateStore) -> None:
    first = [PendingMessage(1000002, T0 + timedelta(minutes=2), "no_record"),
             PendingMessage(1000001, T0, "failed", "INACTIVE_OWNER_OR_USER"),
             PendingMessage(1000002, T0 + timedelta(minutes=2), "no_record")]
    assert store.keep_pending_messages(first, "run-1") == 2
    assert store.pending_messages() == [PendingMessage(1000001, T0, "failed", "INACTIVE_OWNER_OR_USER"),
                                        PendingMessage(1000002, T0 + timedelta(minutes=2), "no_record")]
    store.keep_pending_messages([PendingMessage(1000001, T0, "no_record")], "run-2")
    assert store.count_pending_messages() == {"no_record": 2}
    assert [p.message_id for p in store.pending_messages(reasons=["failed"])] == []
    assert store.drop_pending_messages([1000001, 999]) == 1
    assert [p.message_id for p in store.pending_messages()] == [1000002]
    with store.transaction() as conn:
        columns = [c for c in conn.execute(text("SELECT * FROM hm_sync_message_pending")).keys()]
    assert columns == ["message_id", "message_at", "reason", "error_code", "first_seen_at", "checked_at", "run_id"]


def test_linked_records_by_phone_and_the_link_tables_last_change(store: StateStore) -> None:
    assert store.linked_records() == {} and store.links_changed_at() is None
    store.apply_link_changes([LinkRow("Contact", "003000000000001AAA", 11, "14155550100"),
                              LinkRow("Lead", "00Q000000000002AAA", 12, "14155550101", status="out_of_scope"),
                              LinkRow("Lead", "00Q000000000003AAA", 13, None)], [], "run-1")
    assert store.linked_records() == {"14155550100": ("Contact", "003000000000001AAA")}
    assert store.links_changed_at() is not None
