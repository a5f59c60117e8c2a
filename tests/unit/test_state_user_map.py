"""The user mapping table through the StateStore (SQLite file): replaced whole, ids only, one transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from sync_engine.state import StateStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALEX = {
    "sf_user_id": "005000000000001AAA", "sf_username": "alex@org.example.com", "sf_email": "alex@team.example.com",
    "hm_user_id": 501, "hm_email": "alex@team.example.com", "source": "email",
    "permission_set": "Heymarket_User", "assignment_id": "0Pa000000000001AAA",
}
PRIYA = {**ALEX, "sf_user_id": "005000000000002AAA", "hm_user_id": 502, "source": "override", "assignment_id": None}


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}", clock=lambda: NOW)
    store.migrate()
    return store


def test_the_mapping_is_stored_with_ids_only(store: StateStore) -> None:
    assert store.replace_user_map([PRIYA, ALEX], "setup_1") == 2
    rows = store.load_user_map()
    assert [row["sf_user_id"] for row in rows] == ["005000000000001AAA", "005000000000002AAA"]
    assert rows[0] == {
        "sf_user_id": "005000000000001AAA", "hm_user_id": 501, "source": "email",
        "permission_set": "Heymarket_User", "assignment_id": "0Pa000000000001AAA",
        "updated_at": NOW, "run_id": "setup_1",
    }
    assert not any("email" in key or "username" in key for key in rows[0])


def test_a_new_mapping_replaces_the_old_one_and_an_empty_one_clears_it(store: StateStore) -> None:
    store.replace_user_map([PRIYA, ALEX], "setup_1")
    assert store.replace_user_map([PRIYA], "setup_2") == 1
    assert [(row["sf_user_id"], row["run_id"]) for row in store.load_user_map()] == [
        ("005000000000002AAA", "setup_2")]
    assert store.replace_user_map([], "setup_3") == 0
    assert store.load_user_map() == []


def test_a_failing_write_keeps_the_old_mapping(store: StateStore) -> None:
    store.replace_user_map([ALEX], "setup_1")
    with pytest.raises(IntegrityError):
        store.replace_user_map([PRIYA, {**ALEX, "source": "guess"}], "setup_2")
    assert [row["run_id"] for row in store.load_user_map()] == ["setup_1"]
