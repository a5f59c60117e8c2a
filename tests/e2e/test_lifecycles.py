"""Record lifecycles every org sees each week, as real ``heymarket_sync`` runs against both emulators.

Each test is one lifecycle event: delete then re-create, a phone swap, a Heymarket phone without a country
code, a rejected auto-create waiting for its retry, merge, undelete and lead conversion. The rule behind
all of them (docs/contracts.md, "Ownership"): the phone decides who owns a Heymarket contact, not a
remembered pair; a live, in-scope record takes over the contact at its number.

Every outcome is read from the emulators' dumps and the state store, never from the plan alone.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_sync_faults import let_retries_fall_due, retry_queue
from tests.e2e.test_sync_scenarios import (
    FIELDS,
    OLD_HM,
    by_last_name,
    contact,
    lead,
    links_by_sf_id,
    plan_counts,
    writes_planned,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def heymarket_fields(sync) -> None:  # noqa: ANN001
    """The shipped config maps two custom fields; preflight refuses to run without them in Heymarket."""
    sync.hm.load({"fields": FIELDS})

def salesforce_writes(sync) -> dict[str, int]:  # noqa: ANN001
    """Write calls the Salesforce emulator received since its stats were last reset (queries and logins aside)."""
    return {k: n for k, n in sync.sf.stats()["by_endpoint"].items()
            if k.split(" ")[0] in {"POST", "PATCH", "PUT", "DELETE"}
            and not any(m in k for m in ("query", "/Soap/", "oauth2"))}


def agreeing_pairs(sync, obj: str = "Contact") -> int:  # noqa: ANN001
    """Heymarket contacts whose number a live Salesforce record has, with the same first and last name and
    e-mail: the pairs in sync, counted from the emulators' dumps alone."""
    def same(value: object) -> object:
        return value or None

    records: dict[str, list[dict]] = {}
    for record in sync.sf_records(obj):
        digits = re.sub(r"\D", "", str(record.get("Phone") or ""))
        records.setdefault(digits if len(digits) != 10 else f"1{digits}", []).append(record)
    return sum(
        any((same(r.get("FirstName")), same(r.get("LastName")), same(r.get("Email")))
            == (same(c.get("first")), same(c.get("last")), same(c.get("email"))) for r in records.get(c["phone"], []))
        for c in sync.hm_contacts())


def test_a_record_created_again_after_a_delete_takes_over_its_heymarket_contact(sync) -> None:  # noqa: ANN001
    """Ada is deleted (delete option off: her contact stays), then created again with the same phone. The new
    record takes over the surviving contact; edits flow both ways again; nothing is reported duplicate."""
    sync.sf.load({"Contact": [contact("Ada", "Okafor", "(415) 555-2671")]})
    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    contact_id = sync.hm_by_phone()["14155552671"]["id"]
    old_ada = sync.sf_records("Contact")[0]

    sf = sync.salesforce_api()
    sf.Contact.delete(old_ada["Id"])
    second = sync.run()
    assert str(second.state) == "success", sync.result(second)
    assert links_by_sf_id(sync)[old_ada["Id"]]["status"] == "sf_deleted"
    assert sync.hm_by_phone()["14155552671"]["id"] == contact_id  # kept: the delete option is off

    new_ada = sf.Contact.create({"FirstName": "Ada", "LastName": "Okafor-Reyes", "Phone": "+1 415 555 2671",
                                 "Email": "ada@okafor.example"})["id"]
    third = sync.run()  # incremental
    assert str(third.state) == "success", sync.result(third)
    counts = plan_counts(sync, third)
    assert "duplicate" not in counts.get("Contact", {}), counts
    links = links_by_sf_id(sync)
    assert links[new_ada]["status"] == "active" and links[new_ada]["hm_id"] == contact_id
    ada_hm = sync.hm_by_phone()["14155552671"]
    assert ada_hm["id"] == contact_id  # the same contact, not a second one
    assert (ada_hm["last"], ada_hm["email"]) == ("Okafor-Reyes", "ada@okafor.example")
    assert len(sync.hm_contacts()) == 1

    # A Heymarket edit reaches the new record; the daily full comparison agrees and reports no duplicate.
    sync.heymarket_api.update(contact_id, first="Adaeze")
    fourth = sync.run(mode="full")
    assert str(fourth.state) == "success", sync.result(fourth)
    assert "duplicate" not in plan_counts(sync, fourth).get("Contact", {})
    assert by_last_name(sync.sf_records("Contact"))["Okafor-Reyes"]["FirstName"] == "Adaeze"
    assert sync.history(fourth)["error_summary"] is None


def test_two_contacts_swapping_numbers_are_re_paired_in_one_run(sync) -> None:  # noqa: ANN001
    """Ana and Ben swap phone numbers in Salesforce. After one run each number's Heymarket contact carries
    the name of the person who now has it; no conflict is left behind; the next full run writes nothing."""
    sync.sf.load({"Contact": [contact("Ana", "Lima", "+1 415 231 0101"), contact("Ben", "Okafor", "+1 415 231 0102")]})
    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    records = by_last_name(sync.sf_records("Contact"))
    sf = sync.salesforce_api()
    sf.Contact.update(records["Lima"]["Id"], {"Phone": "+1 415 231 0102"})
    sf.Contact.update(records["Okafor"]["Id"], {"Phone": "+1 415 231 0101"})

    second = sync.run()
    assert str(second.state) == "success", sync.result(second)
    counts = plan_counts(sync, second)
    assert "conflict" not in counts.get("Contact", {}) and "duplicate" not in counts.get("Contact", {}), counts
    hm = sync.hm_by_phone()
    assert (hm["14152310102"]["first"], hm["14152310102"]["last"]) == ("Ana", "Lima")
    assert (hm["14152310101"]["first"], hm["14152310101"]["last"]) == ("Ben", "Okafor")
    assert len(hm) == 2
    links = links_by_sf_id(sync)
    assert links[records["Lima"]["Id"]]["hm_id"] == hm["14152310102"]["id"]
    assert links[records["Okafor"]["Id"]]["hm_id"] == hm["14152310101"]["id"]
    assert sync.history(second)["error_summary"] is None

    sweep = sync.run(mode="full")
    assert str(sweep.state) == "success"
    assert writes_planned(plan_counts(sync, sweep)) == {}


def test_a_heymarket_phone_without_country_code_is_reported_never_auto_created(sync) -> None:  # noqa: ANN001
    """``4155552700`` is ten digits: Heymarket's format check accepts it, ``phonenumbers`` reads ``+4155552700``
    as an invalid number. It is reported ``invalid_phone`` and never becomes a Salesforce record."""
    sync.hm.load({"contacts": [
        {"phone": "4155552700", "first": "Noel", "last": "Park", "updated": OLD_HM, "created": OLD_HM},
        {"phone": "14155552701", "first": "Ola", "last": "Quist", "updated": OLD_HM, "created": OLD_HM},
    ]})
    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    contacts = by_last_name(sync.sf_records("Contact"))
    assert set(contacts) == {"Quist"}  # the valid one is auto-created, the invalid one is not
    assert plan_counts(sync, first)["(heymarket)"]["invalid_phone"] == 1
    row = sync.history(first)
    assert sum(d.get("invalid", 0) for directions in row["counts"].values() for d in directions.values()) >= 1
    second = sync.run(mode="full")
    assert set(by_last_name(sync.sf_records("Contact"))) == {"Quist"}
    assert writes_planned(plan_counts(sync, second)) == {}


def test_a_rejected_auto_create_waits_for_its_backoff(sync) -> None:  # noqa: ANN001
    """Salesforce refuses an auto-create (a 300-character first name: STRING_TOO_LONG). A full run before the
    retry is due sends nothing for it and says why; once it is due it is sent again."""
    sync.hm.load({"contacts": [
        {"phone": "14155552702", "first": "X" * 300, "last": "Long", "updated": OLD_HM, "created": OLD_HM}]})
    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    assert sync.history(first)["status"] == "partial"
    queued = retry_queue(sync)
    assert [(r["action"], r["attempts"]) for r in queued] == [("create_salesforce", 1)]

    sync.sf.reset_stats()
    second = sync.run(mode="full")  # reads every Heymarket contact, so the plan meets it again
    assert str(second.state) == "success", sync.result(second)
    assert salesforce_writes(sync) == {}, "the auto-create was sent again before its retry was due"
    counts = plan_counts(sync, second)
    assert counts["Contact"]["waiting_retry"] == 1, counts
    assert [(r["action"], r["attempts"]) for r in retry_queue(sync)] == [("create_salesforce", 1)]
    assert sync.sf_records("Contact") == []

    let_retries_fall_due(sync)
    sync.sf.reset_stats()
    third = sync.run(mode="full")
    assert str(third.state) == "success", sync.result(third)
    assert salesforce_writes(sync), "a due retry must be sent"
    assert [(r["action"], r["attempts"]) for r in retry_queue(sync)] == [("create_salesforce", 2)]


def test_merges_keep_or_pass_the_heymarket_contact_and_delete_only_what_nobody_needs(sync) -> None:  # noqa: ANN001
    """Contact deletes are on. Ben is merged into Ana and Ana takes Ben's number: Ben's contact is kept and
    passes to Ana (even with deletes on); Ana's old number is kept as memory and never auto-created back.
    Dan is merged into Cara, who keeps her number: Dan's contact is deleted, as a deleted record's would be."""
    sync.write_config(lambda config: config["objects"]["Contact"].update(delete_in_heymarket=True))
    sync.sf.load({"Contact": [contact("Ana", "Lima", "+1 415 231 0101"), contact("Ben", "Okafor", "+1 415 231 0102"),
                              contact("Cara", "Diaz", "+1 415 231 0103"), contact("Dan", "Fox", "+1 415 231 0104")]})
    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    hm = sync.hm_by_phone()
    records = by_last_name(sync.sf_records("Contact"))
    ana, ben, cara, dan = (records[n]["Id"] for n in ("Lima", "Okafor", "Diaz", "Fox"))
    sync.sf.merge("Contact", ana, [ben], master_values={"Phone": "+1 415 231 0102", "Email": "ana@merged.example"})
    sync.sf.merge("Contact", cara, [dan])

    second = sync.run()
    assert str(second.state) == "success", sync.result(second)
    after = sync.hm_by_phone()
    assert after["14152310102"]["id"] == hm["14152310102"]["id"]  # Ben's contact survives ...
    assert (after["14152310102"]["first"], after["14152310102"]["email"]) == ("Ana", "ana@merged.example")  # as Ana
    assert after["14152310101"]["id"] == hm["14152310101"]["id"]  # Ana's old number: kept, not deleted
    assert "14152310104" not in after  # Dan's: deleted (the merge master kept her own number)
    assert after["14152310103"]["id"] == hm["14152310103"]["id"]
    links = links_by_sf_id(sync)
    assert links[ana]["hm_id"] == hm["14152310102"]["id"] and links[ana]["status"] == "active"
    assert links[cara]["hm_id"] == hm["14152310103"]["id"]
    # nobody is auto-created for Ana's old number (auto_create is Contact in the shipped config)
    assert {r["LastName"] for r in sync.sf_records("Contact")} == {"Lima", "Diaz"}

    sweep = sync.run(mode="full")
    assert str(sweep.state) == "success", sync.result(sweep)
    assert writes_planned(plan_counts(sync, sweep)) == {}
    assert {r["LastName"] for r in sync.sf_records("Contact")} == {"Lima", "Diaz"}


def test_an_undeleted_record_is_restored_unless_its_number_was_taken_meanwhile(sync) -> None:  # noqa: ANN001
    """Eve is deleted and undeleted: her pair is restored. Ada is deleted, created again (the new record takes
    her contact), then the old Ada is undeleted: the record holding the contact keeps it, the undeleted one is
    reported duplicate (visible, not silent), and Heymarket keeps one contact."""
    sync.sf.load({"Contact": [contact("Ada", "Okafor", "+1 415 555 2671"), contact("Eve", "Gray", "+1 212 414 0105")]})
    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    hm = sync.hm_by_phone()
    records = by_last_name(sync.sf_records("Contact"))
    old_ada, eve = records["Okafor"]["Id"], records["Gray"]["Id"]

    sf = sync.salesforce_api()
    sf.Contact.delete(old_ada)
    sf.Contact.delete(eve)
    new_ada = sf.Contact.create({"FirstName": "Ada", "LastName": "Okafor-Reyes", "Phone": "+1 415 555 2671"})["id"]
    second = sync.run()
    assert str(second.state) == "success", sync.result(second)
    assert links_by_sf_id(sync)[new_ada]["hm_id"] == hm["14155552671"]["id"]

    sync.sf.undelete([old_ada, eve])
    sf.Contact.update(eve, {"FirstName": "Evelyn"})
    third = sync.run()
    assert str(third.state) == "success", sync.result(third)
    links = links_by_sf_id(sync)
    assert links[eve]["status"] == "active" and links[eve]["hm_id"] == hm["12124140105"]["id"]
    assert sync.hm_by_phone()["12124140105"]["first"] == "Evelyn"
    assert links[new_ada]["hm_id"] == hm["14155552671"]["id"]
    assert old_ada not in links or links[old_ada]["status"] != "active"
    assert plan_counts(sync, third)["Contact"]["duplicate"] == 1
    assert sync.hm_by_phone()["14155552671"]["last"] == "Okafor-Reyes"
    assert len(sync.hm_contacts()) == 2
    # The drift after the run, in the history: the pairs that agree (counted from the dumps, not from the
    # sync's state) are in sync, and the undeleted Ada, who syncs no more, is held back as a duplicate.
    state = sync.history(third)["counts"]["Contact"]["state"]
    assert agreeing_pairs(sync) == 2
    assert (state["in_sync"], state["out_of_sync"], state["held_duplicate"]) == (agreeing_pairs(sync), 0, 1)
    assert sync.result(third)["drift"]["Contact"] == {"in_sync": 2, "out_of_sync": 0, "held_back": 1,
                                                      "held_back_reasons": {"duplicate": 1}}
    assert "Contact: 2 in sync, 0 out of sync, held back 1 (duplicate 1)" in sync.result(third)["summary"]


def test_a_converted_lead_passes_its_contact_to_the_new_contact_and_is_never_written(sync) -> None:  # noqa: ANN001
    """Finn's Lead is converted (Lead deletes on). The Lead leaves scope, the new Contact with his phone takes
    over his Heymarket contact, nothing is deleted and nothing is written to the read-only converted Lead."""
    sync.write_config(lambda config: config["objects"]["Lead"].update(delete_in_heymarket=True))
    sync.sf.load({"Lead": [lead("Finn", "Hale", "+1 617 302 0106")]})
    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    finn_hm = sync.hm_by_phone()["16173020106"]["id"]
    finn_lead = sync.sf_records("Lead")[0]["Id"]

    converted = sync.sf.convert(finn_lead)
    finn_contact = converted["contactId"]
    sf = sync.salesforce_api()
    sf.Contact.update(finn_contact, {"Email": "finn@hale.example"})
    sync.sf.reset_stats()
    second = sync.run()
    assert str(second.state) == "success", sync.result(second)
    assert sync.history(second)["status"] == "success"
    hm = sync.hm_by_phone()
    assert hm["16173020106"]["id"] == finn_hm  # not deleted, not re-created
    assert hm["16173020106"]["email"] == "finn@hale.example"
    links = links_by_sf_id(sync)
    assert links[finn_contact]["hm_id"] == finn_hm and links[finn_contact]["status"] == "active"
    assert finn_lead not in links or links[finn_lead]["status"] != "active"
    assert not [k for k in salesforce_writes(sync) if "Lead" in k]
    assert sync.store().load_errors().empty

    # Heymarket edits now reach the Contact, never the converted Lead.
    sync.heymarket_api.update(finn_hm, first="Finnian")
    third = sync.run()
    assert str(third.state) == "success", sync.result(third)
    assert sf.Contact.get(finn_contact)["FirstName"] == "Finnian"
    assert sf.Lead.get(finn_lead)["FirstName"] == "Finn"
    assert sync.store().load_errors().empty
