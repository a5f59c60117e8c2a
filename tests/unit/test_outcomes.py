"""Record-level outcomes built from a real plan (``sync_engine.outcomes``): the planner's report and actions."""

from __future__ import annotations

import pandas as pd

from sync_engine.outcomes import RecordOutcome, held_back_outcomes, planned_outcomes, written_outcome
from sync_engine.plan import Plan, plan
from tests.unit.plan.test_plan_world import T1, hm_frame, link_frame, settings, sf_frame

C1, C2, C3, C4, C5 = (f"00300000000000000{i}" for i in range(1, 6))


def world_plan() -> Plan:
    """A duplicate (C1 loses the phone to C2), an invalid phone, no phone, a conflict on a linked pair, and a
    Heymarket contact no record has (auto-create off)."""
    sf = sf_frame(
        {"sf_id": C1, "phone_raw": "(415) 555-0101", "first": "Ann"},
        {"sf_id": C2, "phone_raw": "415.555.0101", "first": "Bob", "modstamp": T1},
        {"sf_id": C3, "phone_raw": "12", "first": "Cy"},
        {"sf_id": C4, "phone_raw": None, "first": "Di"},
        {"sf_id": C5, "phone_raw": "+1 415 555 0105", "first": "Eve", "modstamp": T1},
    )
    hm = hm_frame({"hm_id": 7, "phone": "14155550105", "first": "Evelyn", "updated": T1},
                  {"hm_id": 8, "phone": "14155550199", "first": "Zed"})
    links = link_frame({"sf_id": C5, "hm_id": 7, "phone": "14155550105", "synced": {"first": "Eva"}})
    return plan(sf, hm, links, settings())


def test_every_held_back_record_of_the_report_has_one_outcome_with_its_reason_code() -> None:
    outcomes = held_back_outcomes(world_plan().report)
    assert sorted(outcomes, key=lambda o: o.action) == [
        RecordOutcome("Contact", "conflict", C5, 7, None, "salesforce_kept", ("first",)),
        RecordOutcome("Contact", "duplicate", C1, None, None, "phone_taken"),
        RecordOutcome("Contact", "invalid", C3, None, None, "not_possible"),
        RecordOutcome("Contact", "no_phone", C4, None, None, "empty"),
        RecordOutcome("(heymarket)", "skipped", None, 8, None, "no_record"),
    ]


def test_a_conflict_on_several_keys_is_one_outcome_naming_the_keys_and_both_sides() -> None:
    report = pd.DataFrame({
        "kind": ["conflict", "conflict", "waiting_retry", "duplicate"],
        "object": ["Lead", "Lead", "Contact", "Lead"], "sf_id": [C1, C1, C2, C3], "hm_id": [9, 9, 4, None],
        "detail": ["last: changed in both systems; newest_wins -> Heymarket value kept",
                   "email: changed in both systems; newest_wins -> Salesforce value kept",
                   "retry due 2026-01-01T00:30:00+00:00",
                   "phone belongs to Heymarket contact 5, linked to Contact 003X (link active), which is not part of "
                   "this run; nothing is synced for this record until a run syncs Contacts too"],
    })
    assert sorted(held_back_outcomes(report), key=lambda o: o.action) == [
        RecordOutcome("Lead", "conflict", C1, 9, None, "both_kept", ("email", "last")),
        RecordOutcome("Lead", "duplicate", C3, None, None, "owner_outside_run"),
        RecordOutcome("Contact", "waiting_retry", C2, 4, None, "retry_not_due"),
    ]


def test_a_dry_run_plans_one_outcome_per_write_and_leaves_refresh_links_out() -> None:
    result = world_plan()
    assert len(result.actions["link"]) == 1  # the conflict's refresh of the pair's memory
    assert planned_outcomes(result.actions, result.keys) == [
        RecordOutcome("Contact", "created", C2, None, "to_heymarket", "no_match", ("phone", "first")),
        RecordOutcome("Contact", "updated", C5, 7, "to_heymarket", None, ("first",)),
    ]


def test_a_rejected_write_is_failed_with_the_error_code_in_its_direction() -> None:
    assert written_outcome("update_salesforce", "Lead", C1, 3, ok=False, reason="STRING_TOO_LONG",
                           fields=("last",)) == RecordOutcome("Lead", "failed", C1, 3, "to_salesforce",
                                                              "STRING_TOO_LONG", ("last",))
