"""The conf check preflight runs first, record ids checked one by one, and the words runs are reported in."""

from __future__ import annotations

import re

import pytest

from salesforce_access.errors import cause_first
from salesforce_access.ids import (
    EXAMPLE_ID,
    RecordIdError,
    check_record_ids,
    checksum,
    normalise_record_id,
)
from sync_engine.history import describe_applied, readable_reason, run_note, run_status, summary_table
from sync_operators.params import PARAM_NAMES, ConfError, RunConf, check_conf, suggestion

# ------------------------------------------------------------------------------------------- conf


@pytest.mark.parametrize(("typed", "meant"), [
    ("dryrun", "dry_run"), ("dry-run", "dry_run"), ("DryRun", "dry_run"), ("dry_rn", "dry_run"),
    ("recordids", "record_ids"), ("record_id", "record_ids"), ("object", "objects"), ("allow_mass_deletes",
                                                                                       "allow_mass_delete"),
    ("modes", "mode"), ("colour", None),
])
def test_suggestion(typed: str, meant: str | None) -> None:
    assert suggestion(typed) == meant


def test_unknown_key_is_refused_with_the_hint_and_the_list_of_params() -> None:
    with pytest.raises(ConfError) as err:
        check_conf({"dryrun": True})
    text = str(err.value)
    assert text.startswith("unknown param 'dryrun'; did you mean 'dry_run'?")
    assert ", ".join(PARAM_NAMES) in text


@pytest.mark.parametrize(("conf", "words"), [
    ({"dry_run": "yes"}, "dry_run is 'yes'; use true or false"),
    ({"allow_mass_delete": 1}, "allow_mass_delete is 1; use true or false"),
    ({"mode": "sometimes"}, "mode is 'sometimes'; use \"incremental\" or \"full\""),
    ({"objects": ["Account"]}, "objects is ['Account']; use a list of Contact and/or Lead"),
    ({"objects": "Contact"}, "objects is 'Contact'"),
    ({"record_ids": "003000000000001"}, "record_ids must be a list of ids as text"),
])
def test_wrong_values_are_explained(conf: dict, words: str) -> None:
    with pytest.raises(ConfError, match=words.replace("(", r"\(").replace("[", r"\[")):
        check_conf(conf)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfError) as err:
        check_conf({"dryrun": True, "mode": "x", "dry_run": "no"})
    assert len(err.value.problems) == 4  # unknown key, the list of params, mode, dry_run


def test_empty_fields_mean_the_defaults() -> None:
    assert check_conf(None) == RunConf()
    assert check_conf({name: None for name in PARAM_NAMES}) == RunConf()
    assert check_conf({"objects": []}).objects == ["Contact", "Lead"]
    full = check_conf({"mode": "full", "objects": ["Lead", "Lead"], "record_ids": ["x"], "dry_run": True,
                       "allow_mass_delete": True})
    assert full == RunConf("full", ["Lead"], ["x"], True, True)


# ------------------------------------------------------------------------------------------- record ids


def test_checksum_and_normalisation() -> None:
    assert checksum("0035g00000AbCdE") == "AAV"
    assert normalise_record_id(EXAMPLE_ID) == EXAMPLE_ID
    assert normalise_record_id("0035g00000AbCdE") == EXAMPLE_ID
    # an id that went through a case-insensitive tool gets its case back from the suffix
    assert normalise_record_id(EXAMPLE_ID.lower()) == EXAMPLE_ID
    assert normalise_record_id(EXAMPLE_ID.upper()) == EXAMPLE_ID
    assert normalise_record_id(f"  {EXAMPLE_ID} ") == EXAMPLE_ID


@pytest.mark.parametrize(("value", "words"), [
    ("0035g00000AbCdEAA9", "its last 3 characters can only be letters or the digits 0-5"),
    ("0035g00000AbCdEAAB", "its last 3 characters (AAB) do not match the first 15 (expected AAV)"),
    ("0035g00000AbCdEA", "has 16 characters; a record id has 15 or 18"),
    ("0035g00000AbCd!", "holds characters other than letters and digits"),
    ("", "an empty record id"),
    (35, "is not text"),
])
def test_bad_ids_are_explained_with_an_example(value: object, words: str) -> None:
    with pytest.raises(RecordIdError) as err:
        normalise_record_id(value)
    assert words in str(err.value) and EXAMPLE_ID in str(err.value)


def test_ids_are_checked_one_by_one_and_routed_to_their_object() -> None:
    ids = check_record_ids([f"{EXAMPLE_ID} 00Q5g00000AbCdE,0015g00000AbCdE", "0035g00000AbCdEAAB",
                            EXAMPLE_ID.lower()], ["Contact", "Lead"])
    assert ids.by_object == {"Contact": [EXAMPLE_ID], "Lead": ["00Q5g00000AbCdEEAV"]}  # Q is upper case: E
    assert ids.valid == sorted([EXAMPLE_ID, "00Q5g00000AbCdEEAV"])
    assert set(ids.problems) == {"0015g00000AbCdE", "0035g00000AbCdEAAB"}
    assert "not a Contact or Lead id" in ids.problems["0015g00000AbCdE"]
    contacts_only = check_record_ids(["00Q5g00000AbCdE"], ["Contact"])
    assert contacts_only.valid == [] and "this run syncs only Contact (add Lead to objects)" in \
        contacts_only.problems["00Q5g00000AbCdE"]


# ------------------------------------------------------------------------------------------- wording


def test_a_query_error_leads_with_its_cause() -> None:
    query = "SELECT Id, FirstName, LastName, Email, Phone, SystemModstamp FROM Contact WHERE Id IN ('x', 'y')"
    message = f"\n{query}\n{' ' * 90}^\nERROR at Row:1:Column:91\ninvalid ID field: 0035g00000AbCdEAA9"
    text = cause_first(message, "INVALID_QUERY_FILTER_OPERATOR")
    assert text.startswith("invalid ID field: 0035g00000AbCdEAA9 (INVALID_QUERY_FILTER_OPERATOR at row 1, "
                           "column 91 of: SELECT Id, FirstName")
    assert text.endswith(" …)") and len(text) < 200
    assert cause_first("No such column", "INVALID_FIELD") == "INVALID_FIELD: No such column"


def test_the_why_line_cuts_quoted_queries_and_keeps_the_cause_in_view() -> None:
    long_query = "SELECT " + ", ".join(f"Field{i}__c" for i in range(60)) + " FROM Contact"
    reason = readable_reason(f"query failed:\n{long_query}\n     ^\nERROR at Row:1:Column:5\nbad field")
    assert reason.endswith("ERROR at Row:1:Column:5 bad field") and len(reason) < 150
    assert run_note({"extract_salesforce_contact": "failed"}, {"extract_salesforce_contact": long_query}, {}) \
        .startswith("extract_salesforce_contact failed: SELECT Field0__c")


def test_apply_results_are_a_sentence() -> None:
    text = describe_applied({"Lead": {"link": {"ok": 2}}, "Contact": {"update_heymarket": {"ok": 3},
                                                                       "create_heymarket": {"ok": 19, "failed": 1}}})
    assert text == ("Contact: created 19, updated 3 (1 rejected: see hm_sync_record_error; retried on later "
                    "runs); Lead: linked 2")
    assert describe_applied({}) == "nothing to write"


def test_planned_counts_read_would() -> None:
    counts = {"Contact": {"to_heymarket": {"deleted": 40, "invalid": 2}}}
    stopped = summary_table("r", "failed", counts, {"heymarket": 3}, "validate failed: guard", planned=True)
    assert re.search(r"^Contact +to_heymarket +would delete +40$", stopped, re.M), stopped
    assert "Nothing was written" in stopped and " deleted " not in stopped
    assert re.search(r"^Contact +to_heymarket +invalid +2$", stopped, re.M)
    done = summary_table("r", "success", counts, {"heymarket": 3})
    assert re.search(r"^Contact +to_heymarket +deleted +40$", done, re.M) and "would" not in done


def test_unsynced_record_ids_make_a_partial_run_and_say_why() -> None:
    ok = {"preflight": "success", "plan": "success"}
    assert run_status(ok, [{}, {}], dry_run=False, unsynced_records=1) == "partial"
    assert run_status(ok, [{}, {}], dry_run=True, unsynced_records=1) == "dry_run"
    note = run_note(ok, {}, {}, {"x": "'x' has 1 characters; a record id has 15 or 18, e.g. ..."})
    assert note == ("1 of the requested record ids not synced (the others were): 'x' has 1 characters; a record "
                    "id has 15 or 18, e.g. ...")
