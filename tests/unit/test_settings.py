"""Plan post-processing in ``sync_engine.settings``: writes held back until their retry is due (every
direction), and how that interacts with settling moot retries."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from sync_engine.apply import ApplyResult, PlanApplier, WriteOutcome, fingerprint, fingerprint_keys
from sync_engine.plan import Plan, plan
from sync_engine.settings import hold_waiting_retries, settled_retries
from tests.unit.plan.test_plan_world import KEYS, hm_frame, link_frame, settings, sf_frame

RAW_ANN, RAW_BEN = "(415) 555-0101", "415.555.0102"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
LATER, EARLIER = NOW + dt.timedelta(hours=1), NOW - dt.timedelta(minutes=1)
WRITES = {"Contact": KEYS, "Lead": KEYS}
ANN = {"first": "Ann", "last": "Lee", "email": "ann@x.org"}


def _queued(*entries: dict[str, object]) -> pd.DataFrame:
    """Retry queue rows in the ``StateStore.due_retries`` shape."""
    rows = []
    for entry in entries:
        target = "salesforce" if entry["action"] in ("create_salesforce", "update_salesforce") else "heymarket"
        rows.append({"object": "Contact", "sf_id": None, "hm_id": None, "record_key": "-", "target": target,
                     "attempts": 1, "next_attempt_after": LATER, "last_error_code": "REJECTED",
                     "fingerprint": None, "due_reason": "backoff_elapsed", **entry})
    frame = pd.DataFrame(rows)
    frame["hm_id"] = frame["hm_id"].astype("Int64")
    frame["next_attempt_after"] = pd.to_datetime(frame["next_attempt_after"], utc=True)
    return frame


def _every_write() -> Plan:
    """One row of each write action: 003C created, 003U updated to Heymarket, 003S updated to Salesforce,
    003D's contact deleted, contact 20 auto-created."""
    sf = sf_frame(
        {"sf_id": "003C", "phone_raw": RAW_ANN, **ANN},
        {"sf_id": "003U", "phone_raw": "(415) 555-0103", **ANN, "email": "new@x.org"},
        {"sf_id": "003S", "phone_raw": "(415) 555-0104", **ANN},
        {"sf_id": "003D", "phone_raw": "(415) 555-0105", "is_deleted": True, "in_scope": False},
    )
    hm = hm_frame(
        {"hm_id": 11, "phone": "14155550103", **ANN},
        {"hm_id": 12, "phone": "14155550104", **ANN, "last": "Lee-HM"},
        {"hm_id": 13, "phone": "14155550105", **ANN},
        {"hm_id": 20, "phone": "14155550106", "first": "Zed", "last": "Ray"},
    )
    links = link_frame(
        {"sf_id": "003U", "hm_id": 11, "phone": "14155550103", "synced": ANN},
        {"sf_id": "003S", "hm_id": 12, "phone": "14155550104", "synced": ANN},
        {"sf_id": "003D", "hm_id": 13, "phone": "14155550105", "synced": ANN},
    )
    result = plan(sf, hm, links, settings(auto_create="Contact", contact={"delete_in_heymarket": True}))
    assert {a: len(f) for a, f in result.actions.items() if len(f)} == {
        "create_heymarket": 1, "update_heymarket": 1, "delete_heymarket": 1, "create_salesforce": 1,
        "update_salesforce": 1,
    }
    return result


def _entry(result: Plan, action: str, **override: object) -> dict[str, object]:
    """The queue entry the applier leaves when this plan's ``action`` row is rejected."""
    [row] = result.actions[action].to_dict("records")
    keys = fingerprint_keys(action, str(row["object"]), WRITES, WRITES)
    ids = {"hm_id": int(row["hm_id"])} if action == "create_salesforce" else {"sf_id": row["sf_id"]}
    return {"action": action, "object": row["object"], **ids, "fingerprint": fingerprint(row, keys), **override}


ACTIONS = ("create_heymarket", "update_heymarket", "delete_heymarket", "create_salesforce", "update_salesforce")


@pytest.mark.parametrize("action", ACTIONS)
def test_a_write_waits_for_its_retry_whatever_its_direction(action: str) -> None:
    wanted = _every_write()
    held = hold_waiting_retries(wanted, _queued(_entry(wanted, action)), NOW, WRITES, WRITES)
    assert held.actions[action].empty
    for other in set(ACTIONS) - {action}:
        assert len(held.actions[other]) == 1, f"{other} must not be held by a retry of {action}"
    [report] = held.report[held.report["kind"] == "waiting_retry"].to_dict("records")
    [row] = wanted.actions[action].to_dict("records")
    assert (report["object"], report["sf_id"], report["hm_id"]) == (row["object"], row["sf_id"], row["hm_id"])
    assert report["detail"] == (f"{action} was rejected before; tried again when its retry is due "
                                "(2026-03-01 13:00 UTC), or at once if the record changes (see the error table)")
    for value in ("Ann", "Lee", "ann@x.org", "Zed", "1415555"):
        assert value not in report["detail"]
    assert held.counts()[str(row["object"])]["waiting_retry"] == 1
    # The plan still wants the write: the retry is not moot (judged on the plan before the hold).
    queue = _queued(_entry(wanted, action))
    read_sf, read_hm = ["003C", "003U", "003S", "003D"], [11, 12, 13, 20]
    assert settled_retries(wanted, queue, read_sf, read_hm, ["Contact"], heymarket_full=True).empty


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("why", ["backoff_over", "record_changed"])
def test_a_write_goes_when_its_retry_is_due_or_its_record_changed(action: str, why: str) -> None:
    wanted = _every_write()
    entry = _entry(wanted, action, **({"next_attempt_after": EARLIER} if why == "backoff_over"
                                      else {"fingerprint": "0123456789abcdef"}))
    assert hold_waiting_retries(wanted, _queued(entry), NOW, WRITES, WRITES) is wanted


def test_an_entry_without_a_fingerprint_waits_for_its_backoff_and_other_actions_are_not_held() -> None:
    wanted = _every_write()
    unknown = _entry(wanted, "update_heymarket", fingerprint=None)
    other_action = {**_entry(wanted, "update_heymarket"), "action": "create_heymarket"}  # 003U's create
    held = hold_waiting_retries(wanted, _queued(unknown, other_action), NOW, WRITES, WRITES)
    assert held.actions["update_heymarket"].empty and len(held.actions["create_heymarket"]) == 1


def test_the_applier_stores_the_fingerprint_the_hold_compares() -> None:
    """A rejected write, queued as the applier queues it, is held on the next plan of the same record; a new
    phone (or value) makes it due at once."""

    class Refusing:
        def upsert(self, contacts):  # noqa: ANN001, ANN202
            return [WriteOutcome(ok=False, error_code="REJECTED", message="no") for _ in contacts]

        def delete(self, contacts):  # noqa: ANN001, ANN202
            return [WriteOutcome(ok=False, error_code="REJECTED", message="no") for _ in contacts]

    class State:
        def __init__(self) -> None:
            self.failures: list = []

        def commit_batch(self, run_id, upserts, deletes, failures, succeeded, releases=(), outcomes=()):  # noqa: ANN001, ANN202
            self.failures.extend(failures)

    wanted = _every_write()
    state = State()
    PlanApplier(state, "run-1", WRITES, WRITES, progress=lambda _: None).apply_heymarket(
        wanted.actions, Refusing(), {}, {11: "u11", 13: "u13"}, {"Contact"}, ApplyResult())
    queue = _queued(*({"action": f.action, "object": f.object, "sf_id": f.sf_id, "hm_id": f.hm_id,
                       "fingerprint": f.fingerprint} for f in state.failures))
    assert sorted(queue["action"]) == ["create_heymarket", "delete_heymarket", "update_heymarket"]
    held = hold_waiting_retries(wanted, queue, NOW, WRITES, WRITES)
    assert [len(held.actions[a]) for a in ("create_heymarket", "update_heymarket", "delete_heymarket")] == [0, 0, 0]
    moved = wanted.actions["create_heymarket"].assign(phone="14155550199")
    changed = Plan(actions={**wanted.actions, "create_heymarket": moved}, report=wanted.report, keys=wanted.keys)
    assert len(hold_waiting_retries(changed, queue, NOW, WRITES, WRITES).actions["create_heymarket"]) == 1


def test_held_record_is_still_linked_by_phone_and_its_retry_settled() -> None:
    sf = sf_frame({"sf_id": "003B", "phone_raw": RAW_BEN, "first": "Ben"})
    hm = hm_frame({"hm_id": 9, "phone": "14155550102", "first": "Ben"})  # an agent added Ben by hand
    wanted = plan(sf, hm, link_frame(), settings())
    queue = _queued({"action": "create_heymarket", "sf_id": "003B"})
    held = hold_waiting_retries(wanted, queue, NOW, WRITES, WRITES)
    assert held.actions["link"]["sf_id"].tolist() == ["003B"]
    assert held.actions["create_heymarket"].empty and held.actions["create_salesforce"].empty
    assert held.report[held.report["kind"] == "waiting_retry"].empty
    assert len(settled_retries(wanted, queue, sf["sf_id"], [9], ["Contact"], heymarket_full=False)) == 1


def test_a_retry_of_a_write_to_a_contact_a_full_sweep_found_deleted_is_moot_even_when_the_record_is_written() -> None:
    """003U's update of contact 9 was rejected (an agent deleted it) and waits for its retry. A full sweep does not
    read contact 9: the retry is moot, though the plan writes 003U to its contact now. An incremental read, which
    does not see deletes, leaves the retry queued."""
    wanted = _every_write()
    entry = {**_entry(wanted, "update_heymarket"), "hm_id": 9}
    read_sf, read_hm = ["003C", "003U", "003S", "003D"], [11, 12, 13, 20]
    settled = settled_retries(wanted, _queued(entry), read_sf, read_hm, ["Contact"], heymarket_full=True)
    assert settled[["action", "sf_id", "hm_id"]].values.tolist() == [["update_heymarket", "003U", 9]]
    assert settled_retries(wanted, _queued(entry), read_sf, read_hm, ["Contact"], heymarket_full=False).empty


def test_nothing_queued_returns_the_plan_unchanged() -> None:
    wanted = plan(sf_frame({"sf_id": "003A", "phone_raw": RAW_ANN}), hm_frame(), link_frame(), settings())
    empty = _queued({"action": "create_heymarket", "sf_id": "003Z"}).iloc[0:0]
    assert hold_waiting_retries(wanted, empty, NOW, WRITES, WRITES) is wanted
    assert hold_waiting_retries(wanted, _queued({"action": "create_heymarket", "sf_id": "003Z"}), NOW, WRITES,
                                WRITES) is wanted
