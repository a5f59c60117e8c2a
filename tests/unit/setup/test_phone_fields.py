"""Step 4, phone fields: counting values and valid numbers, and judging the default phone field."""

from __future__ import annotations

from sync_engine.config import (
    validate_against_describe,
)
from sync_engine.setup.config_file import split_problems
from sync_engine.setup.phone_fields import (
    PhoneFieldCounter,
    PhoneFieldStats,
    check_phone_fields,
    phone_field_labels,
    phone_fields_step,
)
from tests.unit.setup.data import DESCRIBES, config


def test_phone_counter_counts_values_and_valid_numbers_across_pages_and_fields() -> None:
    counter = PhoneFieldCounter("Contact", {"Phone": "Business Phone", "MobilePhone": "Mobile"}, "US")
    counter.add(
        [
            {"Id": "1", "Phone": "(415) 555-2671", "MobilePhone": None},
            {"Id": "2", "Phone": "+44 20 7946 0958", "MobilePhone": "415.555.2671"},
            {"Id": "3", "Phone": "12345", "MobilePhone": ""},
        ]
    )
    counter.add([{"Id": "4", "Phone": "not a phone", "MobilePhone": "  "}, {"Id": "5", "Phone": None}])
    assert counter.stats() == [
        PhoneFieldStats(
            "Contact",
            "Phone",
            "Business Phone",
            records=5,
            filled=4,
            valid=2,
            unusable=(("not_possible", 1), ("unparseable", 1)),
        ),
        PhoneFieldStats("Contact", "MobilePhone", "Mobile", records=5, filled=1, valid=1),
    ]


def test_phone_counter_parses_each_distinct_value_once() -> None:
    counter = PhoneFieldCounter("Lead", {"Phone": "Phone", "MobilePhone": "Mobile"}, "US")
    counter.add([{"Phone": "(415) 555-2671", "MobilePhone": "(415) 555-2671"}] * 3)
    counter.add([{"Phone": "(415) 555-2671", "MobilePhone": "12345"}])
    assert set(counter._cache) == {"(415) 555-2671", "12345"}
    assert [(s.filled, s.valid) for s in counter.stats()] == [(4, 4), (4, 3)]


def test_phone_counter_uses_the_default_region_for_national_numbers() -> None:
    gb = PhoneFieldCounter("Lead", {"Phone": "Phone"}, "GB")
    gb.add([{"Phone": "020 7946 0958"}, {"Phone": "(415) 555-2671"}])
    assert gb.stats()[0].valid == 1


def test_phone_field_labels_come_from_describe() -> None:
    assert phone_field_labels(DESCRIBES["Lead"]) == {
        "Phone": "Phone",
        "MobilePhone": "Mobile Phone",
        "Fax": "Fax",
    }


def stats(obj: str, records: int, **fields: tuple[int, int]) -> list[PhoneFieldStats]:
    """Stats whose unusable values are all ``invalid``."""
    return [
        PhoneFieldStats(
            obj, name, name, records, filled, valid, (("invalid", filled - valid),) if filled > valid else ()
        )
        for name, (filled, valid) in fields.items()
    ]


def test_phone_step_lists_every_field_and_approves_a_good_default() -> None:
    cfg = config(objects={"Lead": {"enabled": False}})
    result = phone_fields_step(
        cfg, {"Contact": stats("Contact", 100, Phone=(90, 85), MobilePhone=(20, 20))}, []
    )
    assert result.ok
    lines = [f.message for f in result.findings]
    assert (
        lines[0]
        == "Contact.Phone (Phone): 90 of 100 records have a value, 85 valid E.164 (94%); 5 not usable (invalid 5)"
        " ← default phone field"
    )
    assert lines[-1] == "Contact default phone field Phone: 85 valid numbers"
    assert result.facts["Contact"]["fields"]["Phone"] == {
        "label": "Phone",
        "filled": 90,
        "valid": 85,
        "unusable": {"invalid": 5},
    }


def test_phone_step_warns_about_an_empty_or_weaker_default_field_and_the_guard() -> None:
    cfg = config(objects={"Lead": {"enabled": False}})
    empty = phone_fields_step(cfg, {"Contact": stats("Contact", 50, Phone=(0, 0), MobilePhone=(40, 40))}, [])
    assert [f.severity for f in empty.findings][-1] == "warning"
    assert "phone_field: MobilePhone" in empty.findings[-1].fix
    weaker = phone_fields_step(
        cfg, {"Contact": stats("Contact", 100, Phone=(30, 30), MobilePhone=(80, 70))}, []
    )
    assert "MobilePhone holds 70 valid numbers, Phone only 30" in weaker.findings[-1].message
    messy = phone_fields_step(cfg, {"Contact": stats("Contact", 100, Phone=(90, 50))}, [])
    assert "above guards.max_invalid_phone_share (25%)" in messy.findings[-1].message
    assert messy.ok  # warnings do not fail the step


def test_phone_step_fails_when_the_default_field_is_not_a_phone_field() -> None:
    cfg = config(objects={"Contact": {"phone_field": "Email"}, "Lead": {"enabled": False}})
    problems, _ = split_problems(validate_against_describe(cfg, DESCRIBES, []))
    result = phone_fields_step(cfg, {"Contact": stats("Contact", 10, Phone=(5, 5))}, problems)
    assert result.status == "failed"
    assert result.findings[0].message == "Contact.Email is of type email, not a phone field"
    assert result.findings[0].fix.startswith("choose one of the phone fields: ")


def test_the_step_reads_each_enabled_object_once_with_every_phone_field() -> None:
    reads: list[tuple[str, list[str]]] = []
    pages = [[{"Phone": "+1 415 555 0100", "MobilePhone": None, "Fax": "not a number"}],
             [{"Phone": "(415) 555-0101", "MobilePhone": "+14155550102", "Fax": None}]]

    def read(obj: str, fields: list[str]) -> list[list[dict[str, object]]]:
        reads.append((obj, fields))
        return pages

    cfg = config(objects={"Contact": {"enabled": False}}, auto_create="none")
    result = check_phone_fields(cfg, {"Lead": DESCRIBES["Lead"]}, read)
    assert reads == [("Lead", ["Phone", "MobilePhone", "Fax"])]
    assert result.ok
    assert result.facts["Lead"]["fields"]["Phone"] == {"label": "Phone", "filled": 2, "valid": 2, "unusable": {}}
    assert result.facts["Lead"]["fields"]["Fax"]["valid"] == 0
