"""Opt-out sync end to end (issue 15): real ``heymarket_sync`` runs against both emulators.

People opt out and back in the way they do: a STOP / START in Heymarket (``POST /v1/contact/set_status``),
a sales rep ticking or un-ticking ``SMS_Opt_Out__c`` in Salesforce. Every outcome is read from the
emulators' dumps (the box on the record, ``is_opted_out`` on the contact) and their call counters, and the
counts from the run's history row; never from the plan or the code under test.
"""

from __future__ import annotations

import pytest

from tests.e2e.test_lifecycles import salesforce_writes
from tests.e2e.test_sync_scenarios import FIELDS, contact, plan_counts, writes_planned

pytestmark = pytest.mark.e2e

ADA_PHONE, BEN_PHONE = "14155552681", "14155552682"


@pytest.fixture(autouse=True)
def synced_pair(sync) -> None:  # noqa: ANN001
    """Ada (a Contact) and her Heymarket contact, linked by a first run; nobody opted out yet."""
    sync.hm.load({"fields": FIELDS})
    sync.sf.load({"Contact": [contact("Ada", "Okafor", "(415) 555-2681")]})
    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    assert box(sync, "Okafor") is False and opted_out_in_heymarket(sync, ADA_PHONE) is False


def set_status(sync, phone: str, status: str) -> None:  # noqa: ANN001
    """The person texts STOP (``unsubscribed``) or START (``subscribed``): Heymarket's own status call."""
    sync.heymarket_api._call("POST", "/v1/contact/set_status", {"phone": phone, "status": status})


def record(sync, last: str) -> dict:  # noqa: ANN001
    return next(r for r in sync.sf_records("Contact") if r["LastName"] == last)


def box(sync, last: str) -> bool:  # noqa: ANN001
    return record(sync, last)["SMS_Opt_Out__c"]


def opted_out_in_heymarket(sync, phone: str) -> bool:  # noqa: ANN001
    return sync.hm_by_phone()[phone]["is_opted_out"]


def heymarket_writes(sync) -> dict[str, int]:  # noqa: ANN001
    """Write calls the Heymarket emulator received since its stats were reset (reads, such as the list
    calls that are POSTs, aside)."""
    return {k: n for k, n in sync.hm.stats()["by_endpoint"].items()
            if k.startswith(("PUT", "DELETE")) or k in {"POST /v2/contacts", "POST /v1/contact", "POST /v2/contact",
                                                       "POST /v1/batch/contacts", "POST /v1/contact/set_status"}}


def consent_counts(sync, dag_run) -> dict[str, dict[str, int]]:  # noqa: ANN001
    """direction -> consent count of Contact in the run's history row (``opted_out`` / ``opted_in``)."""
    counts = sync.history(dag_run)["counts"].get("Contact", {})
    return {direction: {a: n for a, n in actions.items() if a in ("opted_out", "opted_in")}
            for direction, actions in counts.items()
            if any(a in ("opted_out", "opted_in") for a in actions)}


def run_ok(sync, **conf: object):  # noqa: ANN001, ANN201
    dag_run = sync.run(**conf)
    assert str(dag_run.state) == "success", sync.result(dag_run)
    assert sync.history(dag_run)["status"] == "success"
    return dag_run


def assert_writes_nothing(sync, **conf: object) -> None:  # noqa: ANN001
    """A further run sends no write to either system and records no write count."""
    sync.hm.reset_stats()
    sync.sf.reset_stats()
    dag_run = run_ok(sync, **conf)
    assert writes_planned(plan_counts(sync, dag_run)) == {}
    assert heymarket_writes(sync) == {}
    assert salesforce_writes(sync) == {}
    counts = sync.history(dag_run)["counts"]
    written = {(o, d, a) for o, ds in counts.items() for d, acts in ds.items() for a in acts
               if a in ("created", "updated", "deleted", "opted_out", "opted_in")}
    assert written == set()


def test_an_opt_out_in_heymarket_reaches_salesforce_and_an_opt_in_clears_the_box(sync) -> None:  # noqa: ANN001
    set_status(sync, ADA_PHONE, "unsubscribed")
    out = run_ok(sync)
    assert box(sync, "Okafor") is True
    assert opted_out_in_heymarket(sync, ADA_PHONE) is True
    assert consent_counts(sync, out) == {"to_salesforce": {"opted_out": 1}}
    assert_writes_nothing(sync)
    assert_writes_nothing(sync, mode="full")

    set_status(sync, ADA_PHONE, "subscribed")  # the person texted START
    back = run_ok(sync)
    assert box(sync, "Okafor") is False
    assert opted_out_in_heymarket(sync, ADA_PHONE) is False
    assert consent_counts(sync, back) == {"to_salesforce": {"opted_in": 1}}
    assert_writes_nothing(sync)


def test_a_ticked_box_reaches_heymarket_and_un_ticking_never_re_subscribes(sync) -> None:  # noqa: ANN001
    sf = sync.salesforce_api()
    ada = record(sync, "Okafor")["Id"]
    sf.Contact.update(ada, {"SMS_Opt_Out__c": True})
    # A new record ticked from the start is created opted out.
    sf.Contact.create({"FirstName": "Ben", "LastName": "Lima", "Phone": "+1 415 555 2682", "SMS_Opt_Out__c": True})
    ticked = run_ok(sync)
    assert opted_out_in_heymarket(sync, ADA_PHONE) is True
    assert opted_out_in_heymarket(sync, BEN_PHONE) is True
    assert consent_counts(sync, ticked) == {"to_heymarket": {"opted_out": 2}}
    assert_writes_nothing(sync)

    sf.Contact.update(ada, {"SMS_Opt_Out__c": False})  # a rep un-ticks the box
    unticked = run_ok(sync)
    assert opted_out_in_heymarket(sync, ADA_PHONE) is True  # never re-subscribed by Salesforce
    assert box(sync, "Okafor") is True  # Heymarket still says opted out: the box is ticked again
    assert consent_counts(sync, unticked) == {"to_salesforce": {"opted_out": 1}}
    assert_writes_nothing(sync)
    assert_writes_nothing(sync, mode="full")


def test_an_opt_out_is_written_even_when_the_pair_has_a_field_conflict(sync) -> None:  # noqa: ANN001
    """Both sides renamed Ada differently (a conflict, Salesforce wins it) while she texted STOP: the name goes
    to Heymarket and the opt-out to Salesforce in the same run."""
    sf = sync.salesforce_api()
    sf.Contact.update(record(sync, "Okafor")["Id"], {"FirstName": "Adaeze"})
    hm_id = sync.hm_by_phone()[ADA_PHONE]["id"]
    sync.heymarket_api.update(hm_id, first="Adanna")
    set_status(sync, ADA_PHONE, "unsubscribed")

    dag_run = run_ok(sync)
    assert sync.result(dag_run, "plan")["counts"]["Contact"]["conflict"] == 1
    assert box(sync, "Okafor") is True
    assert record(sync, "Okafor")["FirstName"] == "Adaeze"
    contact_now = sync.hm_by_phone()[ADA_PHONE]
    assert (contact_now["first"], contact_now["is_opted_out"]) == ("Adaeze", True)
    assert consent_counts(sync, dag_run) == {"to_salesforce": {"opted_out": 1}}
    assert_writes_nothing(sync)


def test_opt_out_sync_switched_off_leaves_both_sides_alone(sync) -> None:  # noqa: ANN001
    sync.write_config(lambda config: config["objects"]["Contact"].update(opt_out_field=False))
    set_status(sync, ADA_PHONE, "unsubscribed")
    sync.hm.reset_stats()
    sync.sf.reset_stats()
    run_ok(sync)
    assert box(sync, "Okafor") is False
    assert salesforce_writes(sync) == {}


CY_PHONE = "14155552683"


def test_a_mass_delete_guard_holds_back_everything_but_the_opt_outs(sync) -> None:  # noqa: ANN001
    """Issue 15: opt-out writes are never held back by a guard. Ben's record is deleted (1 of 3 linked pairs,
    above a 10 % mass-delete limit) while Ada texted STOP, Cy's box was ticked and Ada was renamed in
    Salesforce: the run stops (failed, guard alert), yet both opt-outs reach the other side in that very run;
    the deletion, the rename and everything else stay held back until a run allows them."""
    sf = sync.salesforce_api()
    sf.Contact.create({"FirstName": "Ben", "LastName": "Lima", "Phone": "+1 415 555 2682"})
    sf.Contact.create({"FirstName": "Cy", "LastName": "Diaz", "Phone": "+1 415 555 2683"})
    run_ok(sync)
    assert set(sync.hm_by_phone()) == {ADA_PHONE, BEN_PHONE, CY_PHONE}

    def guarded(config: dict) -> None:
        config["objects"]["Contact"]["delete_in_heymarket"] = True
        config["guards"] = {"max_delete_share": 0.1, "min_records_for_share_guards": 1}

    sync.write_config(guarded)
    sf.Contact.delete(record(sync, "Lima")["Id"])
    sf.Contact.update(record(sync, "Okafor")["Id"], {"FirstName": "Adaeze"})
    sf.Contact.update(record(sync, "Diaz")["Id"], {"SMS_Opt_Out__c": True})
    set_status(sync, ADA_PHONE, "unsubscribed")
    sync.hm.reset_stats()

    stopped = sync.run(mode="full")
    assert str(stopped.state) == "failed"
    row = sync.history(stopped)
    assert row["status"] == "failed"
    why = str(row["error_summary"])
    assert why.startswith("apply_salesforce failed: The guards held the plan back: only its opt-out changes were "
                          "written"), why
    assert "this run would delete 1 of 3 linked Heymarket contacts" in why, why
    assert sync.result(stopped, "validate")["consent_only"] == 2
    # The opt-outs went through, both ways ...
    assert box(sync, "Okafor") is True
    assert opted_out_in_heymarket(sync, CY_PHONE) is True
    assert consent_counts(sync, stopped) == {"to_salesforce": {"opted_out": 1}, "to_heymarket": {"opted_out": 1}}
    # ... and nothing else: Ben's contact is still there, Ada's new name did not reach Heymarket.
    contacts = sync.hm_by_phone()
    assert set(contacts) == {ADA_PHONE, BEN_PHONE, CY_PHONE}
    assert contacts[ADA_PHONE]["first"] == "Ada"
    assert not any(k.startswith("DELETE") for k in heymarket_writes(sync))

    allowed = run_ok(sync, mode="full", allow_mass_delete=True)
    assert set(sync.hm_by_phone()) == {ADA_PHONE, CY_PHONE}
    assert sync.hm_by_phone()[ADA_PHONE]["first"] == "Adaeze"
    assert consent_counts(sync, allowed) == {}
    assert_writes_nothing(sync)


def test_a_duplicates_ticked_box_opts_the_person_out_and_every_record_follows_heymarket(sync) -> None:  # noqa: ANN001
    """Issue 15, duplicates: a second Contact with Ada's phone loses the phone to Ada's linked record (a
    duplicate report). A rep ticks the box on that duplicate: Ada is opted out in Heymarket and her own record's
    box is ticked in the same run. When she texts START, the box is cleared on both records."""
    sf = sync.salesforce_api()
    sf.Contact.create({"FirstName": "Ada", "LastName": "Okafor-Dup", "Phone": "(415) 555-2681",
                       "SMS_Opt_Out__c": True})
    ticked = run_ok(sync)
    assert sync.result(ticked, "plan")["counts"]["Contact"]["duplicate"] == 1
    assert opted_out_in_heymarket(sync, ADA_PHONE) is True
    assert (box(sync, "Okafor"), box(sync, "Okafor-Dup")) == (True, True)
    assert consent_counts(sync, ticked) == {"to_heymarket": {"opted_out": 1}, "to_salesforce": {"opted_out": 1}}
    assert [link["sf_id"] for link in sync.store().load_links().to_dict("records")] == [record(sync, "Okafor")["Id"]]
    assert_writes_nothing(sync)

    set_status(sync, ADA_PHONE, "subscribed")  # START
    back = run_ok(sync)
    assert (box(sync, "Okafor"), box(sync, "Okafor-Dup")) == (False, False)
    assert opted_out_in_heymarket(sync, ADA_PHONE) is False
    assert consent_counts(sync, back) == {"to_salesforce": {"opted_in": 2}}
    assert_writes_nothing(sync)


# Found by the lifecycle model's consent oracle (2026-12-07, explore seed 1003), reproduced here, then fixed.

CAT_PHONE = "14155552683"


def test_a_contact_created_opted_out_ticks_every_box_at_its_phone_in_the_same_run(sync) -> None:  # noqa: ANN001
    """Consent rules 4 and 5 for a person new to Heymarket: a duplicate's ticked box creates the contact opted out,
    and the winner's clear box is ticked by that same run (not one run later); a second run writes nothing."""
    sync.sf.load({"Contact": [contact("Cat", "Ames", "(415) 555-2683"),
                              contact("Cat", "Amesdup", "(415) 555-2683", SMS_Opt_Out__c=True)]})

    first = run_ok(sync, mode="full")

    assert opted_out_in_heymarket(sync, CAT_PHONE) is True
    assert (box(sync, "Ames"), box(sync, "Amesdup")) == (True, True)
    assert consent_counts(sync, first)["to_salesforce"] == {"opted_out": 1}
    assert_writes_nothing(sync)


def test_a_contact_recreated_by_hand_at_an_opted_out_phone_is_opted_out_by_the_next_run(sync) -> None:  # noqa: ANN001
    """Consent rule 5 on Heymarket's side: Ada's contact is deleted and re-created by hand at her phone. The next
    incremental run does not see the delete (only the daily full sweep does), yet it opts the new contact out; the
    full sweep then links it, and nothing more is written."""
    sync.salesforce_api().Contact.update(record(sync, "Okafor")["Id"], {"SMS_Opt_Out__c": True})
    run_ok(sync)
    assert opted_out_in_heymarket(sync, ADA_PHONE) is True
    sync.heymarket_api.delete(sync.hm_by_phone()[ADA_PHONE]["id"])
    sync.heymarket_api.create(phone=ADA_PHONE, first="Ada", last="Okafor")

    recreated = run_ok(sync)  # incremental: Heymarket's delete is seen by the daily full sweep only

    assert opted_out_in_heymarket(sync, ADA_PHONE) is True
    assert consent_counts(sync, recreated) == {"to_heymarket": {"opted_out": 1}}
    run_ok(sync, mode="full")
    assert opted_out_in_heymarket(sync, ADA_PHONE) is True and box(sync, "Okafor") is True
    assert_writes_nothing(sync)


def test_a_stop_texted_to_a_contact_recreated_by_hand_ticks_the_box_by_the_next_run(sync) -> None:  # noqa: ANN001
    """Consent rule 4 on Heymarket's side: Ada's contact is deleted and re-created by hand, and she texts STOP to
    the new one. The next incremental run (which does not see the delete) ticks her box; its opt-out write to the
    deleted contact is rejected and the run ends partial, honestly. The full sweep links the new contact, already
    opted out, settles the rejected write (its contact is gone) and writes the e-mail the new contact lacks; then
    nothing more is written."""
    run_ok(sync)  # its full read of Heymarket sets the watermark: from here on Heymarket is read incrementally
    old = sync.hm_by_phone()[ADA_PHONE]["id"]
    sync.heymarket_api.delete(old)
    sync.heymarket_api.create(phone=ADA_PHONE, first="Ada", last="Okafor")
    set_status(sync, ADA_PHONE, "unsubscribed")

    stopped = sync.run()

    assert box(sync, "Okafor") is True
    assert sync.history(stopped)["status"] == "partial"
    errors = sync.store().load_errors(run_id=stopped.run_id)
    assert errors[["action", "hm_id"]].values.tolist() == [["update_heymarket", old]]
    swept = run_ok(sync, mode="full")
    assert box(sync, "Okafor") is True and opted_out_in_heymarket(sync, ADA_PHONE) is True
    assert consent_counts(sync, swept) == {}
    assert sync.store().load_errors().empty
    assert plan_counts(sync, swept)["Contact"].get("waiting_retry") is None
    assert sync.hm_by_phone()[ADA_PHONE]["email"] == "ada.okafor@example.com"
    assert_writes_nothing(sync)
