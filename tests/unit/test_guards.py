"""Guards: which plans stop before writing, the numbers in the message, and the overrides."""

from __future__ import annotations

import json

import pytest

from sync_engine.config import GuardsConfig
from sync_engine.guards import GuardsTripped, check_guards

DEFAULTS = GuardsConfig()


def run(counts=None, linked=None, in_scope=None, invalid=None, config=DEFAULTS, allow=False):
    return check_guards(counts or {}, linked or {}, in_scope or {}, invalid or {}, config, allow)


def test_quiet_plan_trips_nothing() -> None:
    trips = run(counts={"Contact": {"delete_heymarket": 2, "update_heymarket": 500}},
                linked={"Contact": 1000}, in_scope={"Contact": 1000}, invalid={"Contact": 10})
    assert trips == []


def test_mass_delete_trips_with_numbers_and_override_hint() -> None:
    trips = run(counts={"Contact": {"delete_heymarket": 35}, "Lead": {"delete_heymarket": 1}},
                linked={"Contact": 200, "Lead": 200})
    assert len(trips) == 1
    trip = trips[0]
    assert (trip.guard, trip.object, trip.count, trip.total, trip.share, trip.limit) == (
        "mass_delete", "Contact", 35, 200, 0.175, 0.10)
    assert "would delete 35 of 200 linked Heymarket contacts (17.5%)" in trip.message
    assert "guards.max_delete_share allows (10%)" in trip.message
    assert "trigger the run with allow_mass_delete=true" in trip.message


def test_allow_mass_delete_lifts_only_the_delete_guard() -> None:
    kwargs = {"counts": {"Lead": {"delete_heymarket": 100}}, "linked": {"Lead": 100},
              "in_scope": {"Lead": 100}, "invalid": {"Lead": 90}}
    assert [t.guard for t in run(**kwargs)] == ["mass_delete", "invalid_phone_share"]
    assert [t.guard for t in run(**kwargs, allow=True)] == ["invalid_phone_share"]


def test_share_at_the_limit_does_not_trip() -> None:
    assert run(counts={"Contact": {"delete_heymarket": 20}}, linked={"Contact": 200}) == []
    assert len(run(counts={"Contact": {"delete_heymarket": 21}}, linked={"Contact": 200})) == 1


def test_small_objects_are_exempt_from_share_guards() -> None:
    assert run(counts={"Lead": {"delete_heymarket": 19}}, linked={"Lead": 19}) == []
    assert run(in_scope={"Lead": 19}, invalid={"Lead": 19}) == []
    assert len(run(counts={"Lead": {"delete_heymarket": 20}}, linked={"Lead": 20})) == 1


def test_unlinks_and_updates_are_not_deletes() -> None:
    assert run(counts={"Contact": {"unlink": 150, "update_salesforce": 150}}, linked={"Contact": 200}) == []


def test_invalid_phone_share_names_the_config_key() -> None:
    (trip,) = run(in_scope={"Contact": 40, "Lead": 120}, invalid={"Contact": 2, "Lead": 60})
    assert (trip.guard, trip.object, trip.count, trip.total) == ("invalid_phone_share", "Lead", 60, 120)
    assert "60 of 120 in-scope records (50.0%) have a phone number that can't be used" in trip.message
    assert "objects.Lead.phone_field or default_region" in trip.message
    assert "raise guards.max_invalid_phone_share in the sync config" in trip.message


def test_raised_limit_lets_the_run_go_on() -> None:
    relaxed = GuardsConfig(max_invalid_phone_share=0.6, max_delete_share=0.5)
    assert run(in_scope={"Lead": 120}, invalid={"Lead": 60}, config=relaxed) == []
    assert run(counts={"Lead": {"delete_heymarket": 60}}, linked={"Lead": 120}, config=relaxed) == []


@pytest.mark.parametrize("min_records", [0, 1])
def test_guard_with_no_minimum_and_no_links(min_records: int) -> None:
    config = GuardsConfig(min_records_for_share_guards=min_records)
    assert run(counts={"Contact": {"delete_heymarket": 0}}, linked={"Contact": 0}, config=config) == []
    trips = run(counts={"Contact": {"delete_heymarket": 1}}, linked={"Contact": 1}, config=config)
    assert [t.share for t in trips] == [1.0]


def test_trips_are_ordered_contact_first_and_json_able() -> None:
    trips = run(in_scope={"Lead": 50, "Contact": 50}, invalid={"Lead": 50, "Contact": 50})
    assert [t.object for t in trips] == ["Contact", "Lead"]
    assert json.loads(json.dumps([t.as_dict() for t in trips]))[0]["guard"] == "invalid_phone_share"


def test_guards_tripped_lists_every_message() -> None:
    trips = run(counts={"Contact": {"delete_heymarket": 50}}, linked={"Contact": 50},
                in_scope={"Lead": 50}, invalid={"Lead": 50})
    error = GuardsTripped(trips)
    text = str(error)
    assert text.startswith("The sync stopped before writing anything:")
    assert all(t.message in text for t in trips) and len(error.trips) == 2
