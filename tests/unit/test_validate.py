"""The Great Expectations plan suite: a good plan passes, each expectation fails on a crafted frame.

GX costs seconds to import and about 0.1 s per frame, so the suite runs three times per module
(good plan, bad plan, empty plan) and the tests read those outcomes.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sync_engine.validate import ValidationOutcome, validate_plan

COLUMNS = ["action", "object", "sf_id", "hm_id", "phone", "reason"]
REQUIRED = {"Lead": ["phone", "last", "custom.Company"]}


def sf(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}AAA"


def frame(action: str, rows: list[dict], **extra_columns: list) -> pd.DataFrame:
    data = pd.DataFrame([{"action": action, "reason": "test", **row} for row in rows])
    for column, values in extra_columns.items():
        data[column] = values
    return data


GOOD_PLAN = {
    "create_heymarket": frame("create_heymarket", [
        {"object": "Contact", "sf_id": sf("003", 1), "hm_id": None, "phone": "14155550101"},
        {"object": "Lead", "sf_id": sf("00Q", 1), "hm_id": None, "phone": "447700900101"},
    ], first=["Ann", None]),
    "update_heymarket": frame("update_heymarket", [
        {"object": "Contact", "sf_id": sf("003", 2), "hm_id": 10, "phone": "14155550102"}]),
    "delete_heymarket": frame("delete_heymarket", [
        {"object": "Contact", "sf_id": sf("003", 3), "hm_id": 11, "phone": None}]),
    "create_salesforce": frame("create_salesforce", [
        {"object": "Lead", "sf_id": None, "hm_id": 20, "phone": "4915112345678"},
        {"object": "Lead", "sf_id": None, "hm_id": 21, "phone": "61412345678"},
    ], last=["Smith", "Jones"], **{"custom.Company": ["Acme", "Initech"]}),
    "update_salesforce": frame("update_salesforce", [
        {"object": "Contact", "sf_id": sf("003", 2), "hm_id": 10, "phone": "14155550102"}]),
    "link": frame("link", [{"object": "Contact", "sf_id": sf("003", 2), "hm_id": 10, "phone": "14155550102"}]),
    "unlink": pd.DataFrame(columns=COLUMNS),
    "report": pd.DataFrame({"kind": ["invalid_phone"], "detail": ["not a number"]}),
}

BAD_PLAN = {
    "create_heymarket": frame("create_heymarket", [
        {"object": "Contact", "sf_id": sf("003", 1), "hm_id": None, "phone": "14155550101"},
        {"object": "Contact", "sf_id": sf("003", 2), "hm_id": None, "phone": "14155550102", "action": "link"},
        {"object": "Account", "sf_id": sf("001", 3), "hm_id": None, "phone": "14155550103"},
        {"object": "Contact", "sf_id": sf("003", 4), "hm_id": None, "phone": "+14155550104"},
        {"object": "Contact", "sf_id": sf("003", 5), "hm_id": None, "phone": "0415555010"},
        {"object": "Contact", "sf_id": sf("003", 6), "hm_id": None, "phone": "14155550101"},
        {"object": "Contact", "sf_id": "not-an-id", "hm_id": None, "phone": "14155550107"},
        {"object": "Contact", "sf_id": sf("003", 8), "hm_id": None, "phone": None},
    ]),
    "update_heymarket": frame("update_heymarket", [
        {"object": "Contact", "sf_id": sf("003", 1), "hm_id": 10, "phone": "14155550101"},
        {"object": "Contact", "sf_id": sf("003", 9), "hm_id": None, "phone": "14155550109"},
        {"object": "Contact", "sf_id": sf("003", 10), "hm_id": 11, "phone": "14155550110"},
    ]),
    "delete_heymarket": frame("delete_heymarket", [
        {"object": "Contact", "sf_id": sf("003", 11), "hm_id": 11, "phone": None}]),
    "create_salesforce": frame("create_salesforce", [
        {"object": "Lead", "sf_id": None, "hm_id": 20, "phone": "447700900001"},
        {"object": "Lead", "sf_id": None, "hm_id": 21, "phone": "447700900002"},
        {"object": "Contact", "sf_id": None, "hm_id": 22, "phone": "447700900003"},
    ], last=["Smith", None, None]),
    "update_salesforce": frame("update_salesforce", [
        {"object": "Lead", "sf_id": sf("00Q", 1), "hm_id": 20, "phone": None},
        {"object": "Lead", "sf_id": None, "hm_id": 23, "phone": None},
    ]),
    "link": frame("link", [
        {"object": "Contact", "sf_id": sf("003", 12), "hm_id": 30, "phone": "14155550112"},
        {"object": "Contact", "sf_id": sf("003", 12), "hm_id": 30, "phone": "14155550112"},
    ]),
    "unlink": frame("unlink", [{"object": "Contact", "sf_id": sf("003", 13), "phone": None}]),
    "bogus": pd.DataFrame({"a": [1]}),
}


@pytest.fixture(scope="module")
def good() -> ValidationOutcome:
    return validate_plan(GOOD_PLAN, required_create_columns=REQUIRED)


@pytest.fixture(scope="module")
def bad() -> ValidationOutcome:
    return validate_plan(BAD_PLAN, required_create_columns=REQUIRED)


def failed_checks(outcome: ValidationOutcome) -> dict[tuple[str, str], int]:
    out = {}
    for name, result in outcome.results["frames"].items():
        for expectation in result["expectations"]:
            if not expectation["success"]:
                key = (name, expectation["check"] + (f":{expectation['column']}" if expectation["check"].startswith(
                    ("required", "column")) else ""))
                out[key] = expectation["unexpected_count"]
    return out


def test_good_plan_passes(good: ValidationOutcome) -> None:
    assert good.success, good.failures
    assert good.failures == []
    stats = good.results["statistics"]
    assert stats["evaluated_expectations"] > 30
    assert stats["unsuccessful_expectations"] == 0
    assert good.results["frames"]["create_heymarket"]["rows"] == 2
    assert good.results["frames"]["unlink"] == {"rows": 0, "success": True, "expectations": []}
    assert "report" not in good.results["frames"]


EXPECTED_FAILURES = [
    # (frame, check, unexpected rows, words of the admin message)
    ("create_heymarket", "action_value", 1,
     "create_heymarket: 1 of 8 rows carry another action than 'create_heymarket': Contact 003000000000002AAA"),
    ("create_heymarket", "object_value", 1,
     "create_heymarket: 1 of 8 rows name an object this run doesn't sync (not Contact, Lead): Account 001000000000003AAA"),
    ("create_heymarket", "phone_e164", 2,
     "create_heymarket: 2 of 8 rows have a phone that is not E.164 digits (8 to 15 digits, no '+', no leading 0):"
     " Contact 003000000000004AAA, Contact 003000000000005AAA"),
    ("create_heymarket", "phone_present", 1, "create_heymarket: 1 of 8 rows have no phone: Contact 003000000000008AAA"),
    ("create_heymarket", "phone_unique", 2,
     "create_heymarket: 2 of 8 rows would create records with the same phone as another row:"
     " Contact 003000000000001AAA, Contact 003000000000006AAA"),
    ("create_heymarket", "sf_id_format", 1,
     "create_heymarket: 1 of 8 rows have a Salesforce id that is not 15 or 18 letters and digits: Contact not-an-id"),
    ("update_heymarket", "hm_id_present", 1,
     "update_heymarket: 1 of 3 rows have no Heymarket id: Contact 003000000000009AAA"),
    ("heymarket writes", "one_action_per_salesforce_record", 2,
     "heymarket writes: 2 of 12 rows act on a Salesforce record another row acts on too (at most one action per"
     " record and target): Contact 003000000000001AAA"),
    ("heymarket writes", "one_action_per_heymarket_contact", 2,
     "heymarket writes: 2 of 12 rows act on a Heymarket contact another row acts on too (at most one action per"
     " contact and target): Contact 003000000000010AAA, Contact 003000000000011AAA"),
    ("create_salesforce", "required_value:last", 1,
     "create_salesforce: 1 of 2 Lead rows have no value for 'last', required to create a Lead (map it, or add a"
     " default in objects.Lead.required_defaults): Heymarket contact 21"),
    ("create_salesforce", "required_column_present:custom.Company", 0,
     "create_salesforce: the plan frame has no 'custom.Company' column, required to create a Lead"),
    ("update_salesforce", "sf_id_present", 1, "update_salesforce: 1 of 2 rows have no Salesforce id: Heymarket contact 23"),
    ("salesforce writes", "one_action_per_heymarket_contact", 2,
     "salesforce writes: 2 of 5 rows act on a Heymarket contact another row acts on too"),
    ("link", "one_action_per_salesforce_record", 2,
     "link: 2 of 2 rows act on a Salesforce record another row acts on too"),
    ("link", "one_action_per_heymarket_contact", 2, "link: 2 of 2 rows act on a Heymarket contact another row"),
    ("unlink", "column_present:hm_id", 0, "unlink: the plan frame has no 'hm_id' column"),
]


@pytest.mark.parametrize(("frame_name", "check", "count", "message"), EXPECTED_FAILURES,
                         ids=[f"{f}-{c}" for f, c, _, _ in EXPECTED_FAILURES])
def test_each_expectation_fails_with_a_readable_message(bad: ValidationOutcome, frame_name: str, check: str,
                                                        count: int, message: str) -> None:
    assert failed_checks(bad).get((frame_name, check)) == count
    assert any(f.startswith(message) for f in bad.failures), "\n".join(bad.failures)


def test_bad_plan_fails_exactly_those_expectations(bad: ValidationOutcome) -> None:
    assert not bad.success
    assert set(failed_checks(bad)) == {(f, c) for f, c, _, _ in EXPECTED_FAILURES}
    assert bad.failures[0].startswith("bogus: not a plan action")
    assert len(bad.failures) == len(EXPECTED_FAILURES) + 1
    assert bad.results["statistics"]["unsuccessful_expectations"] == len(EXPECTED_FAILURES)


def test_contact_rows_are_not_held_to_lead_requirements(bad: ValidationOutcome) -> None:
    """The Contact row of create_salesforce has no last name either, but only Lead columns were required."""
    required = [e for e in bad.results["frames"]["create_salesforce"]["expectations"]
                if e["check"] == "required_value" and e["column"] == "last"]
    assert [(e["element_count"], e["unexpected_count"], e["records"]) for e in required] == [
        (2, 1, [{"object": "Lead", "hm_id": 21}])]


def test_results_are_json_and_carry_ids_but_no_phones(bad: ValidationOutcome) -> None:
    document = json.dumps(bad.as_dict())
    assert json.loads(document)["success"] is False
    for phone in ("14155550101", "+14155550104", "447700900002"):
        assert phone not in document
        assert all(phone not in f for f in bad.failures)
    assert "003000000000004AAA" in document


def test_only_the_memory_of_a_released_contact_may_be_unlinked_without_a_record() -> None:
    unlinks = frame("unlink", [
        {"object": "Contact", "sf_id": sf("003", 1), "hm_id": 7, "phone": "14155550101", "reason": "released"},
        {"object": "Contact", "sf_id": None, "hm_id": 8, "phone": "14155550102", "reason": "heymarket_deleted"},
        {"object": "Lead", "sf_id": None, "hm_id": 9, "phone": "14155550103", "reason": "out_of_scope"},
    ])
    links = frame("link", [
        {"object": "Contact", "sf_id": sf("003", 1), "hm_id": 10, "phone": "14155550104", "reason": "takeover"}])
    outcome = validate_plan({"unlink": unlinks, "link": links})
    assert failed_checks(outcome) == {("unlink", "sf_id_present"): 1}
    assert outcome.failures == ["unlink: 1 of 2 rows have no Salesforce id (only a released contact's memory may "
                                "have none): Heymarket contact 9"]


def test_a_duplicates_opt_out_may_name_the_contact_of_the_pair_it_follows() -> None:
    """Issue 15: a duplicate record's opt-out row (reason ``duplicate``) names the winner's contact without acting
    on it; two rows of pairs acting on one contact still fail, and so does a record written twice."""
    def update(n: int, reason: str = "") -> dict:
        return {"object": "Contact", "sf_id": sf("003", n), "hm_id": 7, "phone": "14155550101", "reason": reason}

    assert validate_plan({"update_salesforce": frame("update_salesforce", [
        update(1), update(2, "duplicate"), update(3, "duplicate")])}).success
    twice = validate_plan({"update_salesforce": frame("update_salesforce", [update(1), update(2)])})
    assert failed_checks(twice) == {("salesforce writes", "one_action_per_heymarket_contact"): 2}
    same_record = validate_plan({"update_salesforce": frame("update_salesforce", [update(1), update(1, "duplicate")])})
    assert failed_checks(same_record) == {("salesforce writes", "one_action_per_salesforce_record"): 2}


def test_a_contact_at_an_opted_out_pairs_phone_may_name_the_pairs_record() -> None:
    """Issue 15: the row opting out a contact no link holds at a pair's phone (``update_heymarket``, reason
    ``duplicate``) names the pair's record, which the pair's own row writes too; one contact written twice fails."""
    def update(hm_id: int, reason: str = "") -> dict:
        return {"object": "Contact", "sf_id": sf("003", 1), "hm_id": hm_id, "phone": "14155550101", "reason": reason}

    assert validate_plan({"update_heymarket": frame("update_heymarket", [update(7), update(8, "duplicate")])}).success
    twice = validate_plan({"update_heymarket": frame("update_heymarket", [update(7), update(7, "duplicate")])})
    assert failed_checks(twice) == {("heymarket writes", "one_action_per_heymarket_contact"): 2}


def test_only_a_box_that_follows_a_contact_created_opted_out_may_name_no_contact() -> None:
    rows = [{"object": "Contact", "sf_id": sf("003", 1), "hm_id": None, "phone": "14155550101",
             "reason": "created_opted_out"},
            {"object": "Contact", "sf_id": sf("003", 2), "hm_id": None, "phone": "14155550101", "reason": "duplicate"}]
    outcome = validate_plan({"update_salesforce": frame("update_salesforce", rows)})
    assert failed_checks(outcome) == {("update_salesforce", "hm_id_present"): 1}
    assert outcome.failures == ["update_salesforce: 1 of 1 rows have no Heymarket id (only a box that follows a "
                                "contact created opted out may have none): Contact 003000000000002AAA"]


def test_empty_plan_passes_without_running_gx() -> None:
    empty = {name: pd.DataFrame(columns=COLUMNS) for name in GOOD_PLAN if name != "report"}
    empty["update_heymarket"] = pd.DataFrame()
    for plan in (empty, {}):
        outcome = validate_plan(plan, required_create_columns=REQUIRED)
        assert outcome.success and outcome.failures == []
        assert outcome.results["statistics"]["evaluated_expectations"] == 0


def test_a_check_that_raised_is_reported_with_its_reason() -> None:
    """GX reports exceptions flat or keyed by metric; both shapes reach the admin message."""
    from sync_engine.validate import _exception_message

    flat = {"raised_exception": True, "exception_message": "boom", "exception_traceback": "..."}
    keyed = {"MetricConfigurationID(column_values.nonnull)": {"raised_exception": True,
                                                                "exception_message": "no column"}}
    assert _exception_message(flat) == "boom"
    assert _exception_message(keyed) == "no column"
    assert _exception_message({"raised_exception": False, "exception_message": None}) is None
