"""Drift after a run (``sync_engine.drift``): pairs in and out of sync, records held back, per object.

The plans are the real planner's, on small worlds; the link table after the run is the simulator's
(``apply_plan``: every write succeeds), or the table before it for a run that wrote nothing.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sync_engine.drift import (
    DRIFT_ACTIONS,
    NO_OBJECT,
    ObjectDrift,
    drift_from_counts,
    drift_line,
    drift_lines,
    measure_drift,
    unapplied_actions,
    with_drift,
)
from sync_engine.plan import Plan
from sync_engine.plan.model import REPORT_COLUMNS
from sync_engine.state.record_errors import ERROR_FRAME_COLUMNS
from tests.unit.plan.test_plan_world import T0, World, apply_plan, hm_frame, link_frame, settings, sf_frame

OBJECTS = ["Contact", "Lead"]
SAME = {"first": "Ann", "last": "Lee", "email": "ann@x.org"}
EVERYTHING_APPLIED: frozenset[str] = frozenset()


def errors(*rows: dict[str, object]) -> pd.DataFrame:
    """Open record errors as ``StateStore.load_errors()`` gives them (only the id columns matter)."""
    frame = pd.DataFrame([{c: None for c in ERROR_FRAME_COLUMNS} | row for row in rows],
                         columns=list(ERROR_FRAME_COLUMNS))
    frame["hm_id"] = frame["hm_id"].astype("Int64")
    return frame


NO_ERRORS = errors()


def linked_world(n: int = 3, **world: object) -> World:
    """``n`` Contacts 003A.., each linked to contact 1, 2, ... with the same values on both sides."""
    ids = [f"003{chr(65 + i)}" for i in range(n)]
    phones = [f"1415555{100 + i:04d}" for i in range(n)]
    sf = sf_frame(*({"sf_id": s, "phone_raw": f"+{p}", **SAME} for s, p in zip(ids, phones, strict=True)))
    hm = hm_frame(*({"hm_id": i + 1, "phone": p, **SAME} for i, p in enumerate(phones)))
    links = link_frame(*({"sf_id": s, "hm_id": i + 1, "phone": p, "synced": SAME}
                         for i, (s, p) in enumerate(zip(ids, phones, strict=True))))
    return World(sf, hm, links, world.pop("settings", settings()), **world)  # type: ignore[arg-type]


def after_run(world: World, plan: Plan, errs: pd.DataFrame = NO_ERRORS) -> dict[str, ObjectDrift]:
    """Every write applied (the simulator's link table after the run)."""
    return measure_drift(apply_plan(world, plan).links, errs, plan, OBJECTS, EVERYTHING_APPLIED)


def test_every_pair_agrees_after_a_run_that_applied_its_plan() -> None:
    world = linked_world(3)
    world = World(world.sf.assign(first=["Ann", "Anna", "Ann"]), world.hm, world.links, world.settings)
    plan = world.plan_once()
    assert len(plan.actions["update_heymarket"]) == 1
    drift = after_run(world, plan)
    assert drift == {"Contact": ObjectDrift("Contact", in_sync=3), "Lead": ObjectDrift("Lead")}
    # a first sync: three records created and linked, all in sync
    fresh = World(world.sf, hm_frame(), link_frame(), world.settings)
    assert after_run(fresh, fresh.plan_once())["Contact"] == ObjectDrift("Contact", in_sync=3)


def test_a_rejected_write_leaves_its_pair_out_of_sync_and_held_back_waiting_for_its_retry() -> None:
    world = linked_world(3)
    world = World(world.sf.assign(first=["Ann", "Anna", "Ann"]), world.hm, world.links, world.settings)
    plan = world.plan_once()
    rejected = errors({"object": "Contact", "sf_id": "003B", "hm_id": 2, "target": "heymarket",
                       "action": "update_heymarket"})
    # the write failed: the applier stored nothing for the pair, its error is open
    drift = measure_drift(world.links, rejected, plan, OBJECTS, EVERYTHING_APPLIED)
    assert drift["Contact"] == ObjectDrift("Contact", in_sync=2, out_of_sync=1, held_back={"waiting_retry": 1})


def test_an_open_error_of_an_earlier_run_counts_even_when_the_record_was_not_read() -> None:
    world = linked_world(2)
    quiet = Plan(actions={}, report=pd.DataFrame(columns=list(REPORT_COLUMNS)))  # incremental: nothing changed
    rejected = errors({"object": "Contact", "sf_id": "003A", "hm_id": None, "target": "salesforce",
                       "action": "update_salesforce"})
    drift = measure_drift(world.links, rejected, quiet, OBJECTS, EVERYTHING_APPLIED)
    assert drift["Contact"] == ObjectDrift("Contact", in_sync=1, out_of_sync=1, held_back={"waiting_retry": 1})
    # matched by the contact as well: an error that names only the Heymarket id of the pair
    by_contact = errors({"object": "Contact", "sf_id": None, "hm_id": 2, "target": "heymarket",
                         "action": "update_heymarket"})
    drift = measure_drift(world.links, by_contact, quiet, OBJECTS, EVERYTHING_APPLIED)
    assert (drift["Contact"].in_sync, drift["Contact"].out_of_sync) == (1, 1)
    assert drift[NO_OBJECT] == ObjectDrift(NO_OBJECT, held_back={"waiting_retry": 1})


def test_duplicates_and_unusable_phones_are_held_back_each_record_once() -> None:
    world = linked_world(1)
    sf = pd.concat([world.sf, sf_frame(
        {"sf_id": "003X", "phone_raw": "+14155550100", "modstamp": T0 - pd.Timedelta(hours=1), **SAME},  # dup
        {"sf_id": "003Y", "phone_raw": "12", **SAME},  # invalid
        {"sf_id": "003Z", "phone_raw": None, **SAME},  # no phone
        {"object": "Lead", "sf_id": "00QA", "phone_raw": "+1 415 555 0109", **SAME},  # a Lead to create
    )], ignore_index=True)
    hm = pd.concat([world.hm, hm_frame({"hm_id": 9, "phone": "4155552700"})], ignore_index=True)  # invalid
    world = World(sf, hm, world.links, world.settings)
    plan = world.plan_once()
    assert plan.counts()["Contact"]["duplicate"] == 1
    # the duplicate also has an open error from before: it is counted once, as a duplicate
    old_error = errors({"object": "Contact", "sf_id": "003X", "target": "heymarket", "action": "create_heymarket"})
    drift = after_run(world, plan, old_error)
    assert drift["Contact"] == ObjectDrift("Contact", in_sync=1, held_back={
        "duplicate": 1, "invalid_phone": 1, "no_phone": 1})
    assert drift["Lead"] == ObjectDrift("Lead", in_sync=1)
    assert drift[NO_OBJECT] == ObjectDrift(NO_OBJECT, held_back={"invalid_phone": 1})
    assert drift_line(drift["Contact"]) == (
        "Contact: 1 in sync, 0 out of sync, held back 3 (duplicate 1, invalid phone 1, no phone 1)")


def test_a_linked_duplicate_loser_is_out_of_sync() -> None:
    """A record that moves onto the number of another pair loses it (that pair keeps its contact) and keeps its
    own link untouched: that pair is no longer synced."""
    world = linked_world(1)
    sf = pd.concat([world.sf, sf_frame({"object": "Lead", "sf_id": "00QA", "phone_raw": "+1 415 555 0109",
                                        **SAME})], ignore_index=True)
    hm = pd.concat([world.hm, hm_frame({"hm_id": 5, "phone": "14155550109", **SAME})], ignore_index=True)
    links = pd.concat([world.links, link_frame({"object": "Lead", "sf_id": "00QA", "hm_id": 5,
                                                "phone": "14155550109", "synced": SAME})], ignore_index=True)
    world = World(sf, hm, links, world.settings)
    assert after_run(world, world.plan_once()) == {"Contact": ObjectDrift("Contact", in_sync=1),
                                                   "Lead": ObjectDrift("Lead", in_sync=1)}
    sf = world.sf.copy()
    sf.loc[sf["sf_id"] == "003A", ["phone_raw", "modstamp"]] = ["+1 415 555 0109", T0 + pd.Timedelta(hours=3)]
    world = World(sf, world.hm, world.links, world.settings)
    plan = world.plan_once()
    assert plan.counts()["Contact"]["duplicate"] == 1
    drift = after_run(world, plan)
    assert drift["Contact"] == ObjectDrift("Contact", in_sync=0, out_of_sync=1, held_back={"duplicate": 1})
    assert drift["Lead"] == ObjectDrift("Lead", in_sync=1)


def test_writes_held_back_for_their_retry_are_counted_from_the_plan() -> None:
    world = linked_world(2)
    plan = world.plan_once()
    waiting = pd.DataFrame([{"kind": "waiting_retry", "object": "Contact", "sf_id": "003A", "hm_id": 1,
                             "phone": None, "detail": "update_heymarket ...", "winner_sf_id": None},
                            {"kind": "waiting_retry", "object": "Lead", "sf_id": None, "hm_id": 8,
                             "phone": None, "detail": "create_salesforce ...", "winner_sf_id": None}])
    plan = Plan(actions=plan.actions, report=waiting, keys=plan.keys)
    drift = measure_drift(world.links, NO_ERRORS, plan, OBJECTS, EVERYTHING_APPLIED)
    assert drift["Contact"] == ObjectDrift("Contact", in_sync=1, out_of_sync=1, held_back={"waiting_retry": 1})
    assert drift[NO_OBJECT] == ObjectDrift(NO_OBJECT, held_back={"waiting_retry": 1})  # an auto-create waiting


def test_a_dry_run_leaves_the_pairs_it_would_write_out_of_sync() -> None:
    world = linked_world(3)
    hm = world.hm.copy()
    hm.loc[hm["hm_id"] == 3, "first"] = "Annie"  # a Heymarket edit to write to Salesforce
    world = World(world.sf, hm, world.links, world.settings)
    plan = world.plan_once()
    assert len(plan.actions["update_salesforce"]) == 1
    dry = measure_drift(world.links, NO_ERRORS, plan, OBJECTS, unapplied_actions(True, {}))
    assert dry["Contact"] == ObjectDrift("Contact", in_sync=2, out_of_sync=1)
    # the same plan, applied: all three agree
    assert after_run(world, plan)["Contact"] == ObjectDrift("Contact", in_sync=3)


def test_a_memory_refresh_alone_is_not_a_difference() -> None:
    """Both sides changed to the same value: only the link's memory moves, the sides already agree."""
    world = linked_world(1)
    world = World(world.sf.assign(first="Anne"), world.hm.assign(first="Anne"), world.links, world.settings)
    plan = world.plan_once()
    assert list(plan.actions["link"]["reason"]) == ["refresh"] and plan.writes() == 0
    dry = measure_drift(world.links, NO_ERRORS, plan, OBJECTS, unapplied_actions(True, {}))
    assert dry["Contact"] == ObjectDrift("Contact", in_sync=1)


def test_a_run_stopped_before_its_apply_or_without_a_plan() -> None:
    world = linked_world(2)
    sf = world.sf.copy()
    sf.loc[sf["sf_id"] == "003A", "is_deleted"] = True  # the record is deleted: its pair will be unlinked
    world = World(sf, world.hm, world.links, world.settings)
    plan = world.plan_once()
    assert len(plan.actions["unlink"]) == 1
    guard_stopped = unapplied_actions(False, {"apply_heymarket": None, "apply_salesforce": None})
    assert measure_drift(world.links, NO_ERRORS, plan, OBJECTS, guard_stopped)["Contact"] == ObjectDrift(
        "Contact", in_sync=1, out_of_sync=1)
    # a run that failed before planning knows the links and the open errors only
    assert measure_drift(world.links, NO_ERRORS, None, OBJECTS)["Contact"] == ObjectDrift("Contact", in_sync=2)


def test_released_and_unlinked_rows_and_other_objects_are_not_pairs() -> None:
    world = linked_world(2)
    links = pd.concat([world.links, link_frame(
        {"sf_id": None, "hm_id": 11, "phone": "14155550111", "status": "released"},
        {"sf_id": "003M", "hm_id": 12, "phone": "14155550112", "status": "sf_deleted"},
        {"sf_id": "003N", "hm_id": 13, "phone": "14155550113", "status": "out_of_scope"},
        {"object": "Lead", "sf_id": "00QB", "hm_id": 14, "phone": "14155550114"},
    )], ignore_index=True)
    drift = measure_drift(links, NO_ERRORS, None, ["Contact"])
    assert drift == {"Contact": ObjectDrift("Contact", in_sync=2)}  # the Lead's pair is not this run's


@pytest.mark.parametrize(
    ("dry_run", "applies", "expected"),
    [
        (False, {"apply_heymarket": {"failed": 1}, "apply_salesforce": {}}, set()),
        (True, {"apply_heymarket": {"dry_run": True}, "apply_salesforce": {"dry_run": True}},
         {"link", "unlink", "create_heymarket", "update_heymarket", "delete_heymarket", "create_salesforce",
          "update_salesforce"}),
        (False, {"apply_heymarket": {}, "apply_salesforce": None}, {"create_salesforce", "update_salesforce"}),
        (False, {"apply_heymarket": {"stopped": True}, "apply_salesforce": {}},
         {"link", "unlink", "create_heymarket", "update_heymarket", "delete_heymarket"}),
    ],
)
def test_unapplied_actions(dry_run: bool, applies: dict, expected: set[str]) -> None:
    assert unapplied_actions(dry_run, applies) == expected


def test_drift_goes_into_the_history_counts_and_back() -> None:
    from sync_engine.state.runs import flatten_counts

    drift = {"Contact": ObjectDrift("Contact", in_sync=120, out_of_sync=2,
                                    held_back={"duplicate": 2, "invalid_phone": 1}),
             "Lead": ObjectDrift("Lead"),
             NO_OBJECT: ObjectDrift(NO_OBJECT, held_back={"invalid_phone": 4})}
    counts = with_drift({"Contact": {"to_heymarket": {"created": 3}, "state": {"linked": 3}}}, drift)
    assert counts == {
        "Contact": {"to_heymarket": {"created": 3}, "state": {"linked": 3, "in_sync": 120, "out_of_sync": 2,
                                                              "held_duplicate": 2, "held_invalid": 1}},
        "Lead": {"state": {"in_sync": 0, "out_of_sync": 0}},
        NO_OBJECT: {"state": {"held_invalid": 4}},
    }
    assert {r["action"] for r in flatten_counts(counts)} - {"created", "linked"} <= DRIFT_ACTIONS
    assert drift_from_counts(counts) == drift
    assert drift_from_counts({"Contact": {"state": {"linked": 3}}}) == {}  # a run recorded before drift
    assert drift_lines(drift) == [
        "Contact: 120 in sync, 2 out of sync, held back 3 (duplicate 2, invalid phone 1)",
        "Lead: 0 in sync, 0 out of sync, held back 0",
        "(heymarket): held back 4 (invalid phone 4)",
    ]
    assert drift["Contact"].as_dict() == {"in_sync": 120, "out_of_sync": 2, "held_back": 3,
                                          "held_back_reasons": {"duplicate": 2, "invalid_phone": 1}}
