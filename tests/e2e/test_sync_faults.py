"""``heymarket_sync`` under failure: transient API faults are retried without duplicates; records the APIs
reject end the run ``partial``, land in the error table and the retry queue, and are fixed by later runs.

Real DAG runs (``dag.test()``) against both emulators with their fault injection switched on.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import text

from emulators.demo_data import generate
from tests.oracle_phones import e164_digits

pytestmark = pytest.mark.e2e

OLD = "2026-01-05T10:00:00.000+0000"
OLD_HM = "2026-01-05T10:00:00Z"
FIELDS = [{"id": 1, "title": "Customer Tier"}, {"id": 2, "title": "Preferred Language"}]
LANGUAGE = "2"
LONG_LANGUAGE = "Portuguese (Brazil)"  # 19 characters


def test_transient_faults_are_retried_and_every_record_is_written_once(sync) -> None:  # noqa: ANN001
    demo = generate(size=40, seed=11)
    sync.sf.load(demo.salesforce)
    sync.hm.load(demo.heymarket)
    sf_before = Counter(e164_digits(r.get("Phone")) for r in sync.sf_records("Contact"))
    hm_before = {c["phone"] for c in sync.hm_contacts()}
    # Heymarket: the first bulk writes are refused (429 with Retry-After, then 503, then 500) and about one
    # call in eight of the reads and writes fails at random (seeded); Salesforce: the first query fails twice.
    sync.hm.faults(fail_next=[429, 503, 500], error_rates={429: 0.06, 500: 0.06}, seed=3,
                   path_prefixes=["/v2/contacts", "/v1/contacts", "/v1/contact-fields"])
    sync.sf.faults(fail_next=[503, 429], path_prefixes=["/services/data/v59.0/query"])

    first = sync.run(mode="full")

    assert str(first.state) == "success", sync.result(first)
    hm_stats, sf_stats = sync.hm.stats(), sync.sf.stats()
    assert sum(hm_stats["injected_failures"].values()) >= 3 and hm_stats["injected_failures"].get("429")
    assert sf_stats["injected_failures"] == {"429": 1, "503": 1}
    counts = sync.result(first, "plan")["counts"]
    created_in_hm = sum(kinds.get("create_heymarket", 0) for kinds in counts.values())
    created_in_sf = sum(kinds.get("create_salesforce", 0) for kinds in counts.values())
    assert created_in_hm > 10 and created_in_sf > 0

    # Every record written exactly once: no phone twice in Heymarket, each planned create made once.
    hm_phones = [c["phone"] for c in sync.hm_contacts()]
    assert len(hm_phones) == len(set(hm_phones))
    assert len(set(hm_phones) - hm_before) == created_in_hm
    sf_phones = Counter(e164_digits(r.get("Phone")) for r in [*sync.sf_records("Contact"), *sync.sf_records("Lead")])
    assert all(sf_phones[p] >= 1 for p in set(hm_phones) - hm_before)  # each new contact has its record
    new_contacts = Counter(e164_digits(r.get("Phone")) for r in sync.sf_records("Contact")) - sf_before
    assert sum(new_contacts.values()) == created_in_sf  # auto-created Contacts: once each ...
    assert set(new_contacts) <= hm_before and max(new_contacts.values()) == 1  # ... from Heymarket contacts
    links = sync.store().load_links()
    assert links["hm_id"].is_unique and not links.duplicated(["object", "sf_id"]).any()
    assert len(links) == created_in_hm + created_in_sf + sum(k.get("link", 0) for k in counts.values())

    row = sync.history(first)
    assert row["status"] == "success"
    assert sync.store().load_errors().empty
    # the retries are part of the run's API usage
    assert sum(row["api_calls"]["heymarket"].values()) == hm_stats["total"]

    # A clean run afterwards finds nothing left to do: no half-applied batch, no echo.
    sync.hm.faults(fail_next=[], error_rates={}, path_prefixes=[])
    sync.sf.faults(fail_next=[], error_rates={}, path_prefixes=[])
    second = sync.run()
    assert str(second.state) == "success"
    planned = {a: n for kinds in sync.result(second, "plan")["counts"].values() for a, n in kinds.items()
               if a in {"create_heymarket", "update_heymarket", "create_salesforce", "update_salesforce",
                        "delete_heymarket", "link", "unlink"} and n}
    assert planned == {}
    assert sorted(c["phone"] for c in sync.hm_contacts()) == sorted(hm_phones)


# ----------------------------------------------------------------------------- rejected records
def language_field(length: int) -> dict:
    return {"FieldDefinition": [{"sobject": "Contact", "name": "Preferred_Language__c", "type": "string",
                                 "label": "Preferred Language", "length": length}]}


def stamped(record: dict) -> dict:
    return {"CreatedDate": OLD, "LastModifiedDate": OLD, "SystemModstamp": OLD, **record}


REJECTING_SALESFORCE = {
    **language_field(10),
    "Contact": [
        stamped({"FirstName": "Ana", "LastName": "Lima", "Phone": "+1 415 231 0101"}),
        stamped({"FirstName": "Eli", "LastName": "Moss", "Phone": "+1 415 231 0102"}),
        {"FirstName": "Cy", "LastName": "Fresh", "Phone": "+1 415 231 0103"},  # loaded now: moves watermark
    ],
}
REJECTING_HEYMARKET = {
    "fields": FIELDS,
    "contacts": [
        {"phone": "14152310101", "first": "Ana", "last": "Lima", "updated": OLD_HM, "created": OLD_HM},
        # Eli's language is too long for the org's field: filling it into Salesforce is rejected.
        {"phone": "14152310102", "first": "Eli", "last": "Moss", "custom": {LANGUAGE: LONG_LANGUAGE},
         "updated": OLD_HM, "created": OLD_HM},
        # Heymarket-only, same problem: the auto-created Contact is rejected.
        {"phone": "12124140201", "first": "Hana", "last": "Ode", "custom": {LANGUAGE: LONG_LANGUAGE},
         "updated": OLD_HM, "created": OLD_HM},
        {"phone": "12124140202", "first": "Gus", "last": "Fresh", "custom": {LANGUAGE: "French"}},  # now
    ],
}


def open_errors(sync) -> dict[tuple[str, str], dict]:  # noqa: ANN001
    """Open record errors keyed by (action, name of the record)."""
    frame = sync.store().load_errors()
    return {(row["action"], row["object"]): row for row in frame.to_dict("records")} if len(frame) else {}


def retry_queue(sync) -> list[dict]:  # noqa: ANN001
    with sync.store().engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM hm_sync_retry")).mappings()]


def let_retries_fall_due(sync) -> None:  # noqa: ANN001
    """Time travel: the backoff of every queued retry has elapsed (as 30 minutes later)."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with sync.store().engine.begin() as conn:
        conn.execute(text("UPDATE hm_sync_retry SET next_attempt_after = :t"), {"t": past})


@pytest.mark.parametrize("state_backend", ["sqlite", "postgres"], indirect=True)
def test_rejected_records_end_partial_are_kept_and_fixed_by_later_runs(sync, state_backend: str) -> None:  # noqa: ANN001
    sync.sf.load(REJECTING_SALESFORCE)
    sync.hm.load(REJECTING_HEYMARKET)

    # ---- run 1: two writes into Salesforce are rejected (STRING_TOO_LONG) -------------------------------
    first = sync.run()
    assert str(first.state) == "success"  # the DAG run succeeds; its history says partial
    row = sync.history(first)
    assert row["status"] == "partial"
    assert row["counts"]["Contact"]["to_salesforce"]["failed"] == 2
    assert row["counts"]["Contact"]["to_salesforce"]["created"] == 1  # Gus
    assert row["counts"]["Contact"]["to_heymarket"]["created"] == 1  # Cy
    errors = sync.store().load_errors()
    assert sorted(errors["action"]) == ["create_salesforce", "update_salesforce"]
    assert set(errors["error_code"]) == {"STRING_TOO_LONG"} and set(errors["target"]) == {"salesforce"}
    assert set(errors["first_seen_run"]) == {first.run_id}
    assert "Portuguese" not in " ".join(errors["message"])  # error text carries no contact values
    hm = sync.hm_by_phone()
    eli_hm, hana_hm = hm["14152310102"]["id"], hm["12124140201"]["id"]
    assert set(errors["hm_id"].dropna()) == {eli_hm, hana_hm}
    assert {r["action"] for r in retry_queue(sync)} == {"create_salesforce", "update_salesforce"}
    contacts = {r["LastName"]: r for r in sync.sf_records("Contact")}
    assert "Ode" not in contacts and contacts["Moss"].get("Preferred_Language__c") is None
    # a partial run that tried everything moves the watermarks on: the rejected records are retried from
    # the queue, not by re-reading an ever longer window
    assert sync.store().get_watermark("heymarket", "contacts") is not None

    # ---- run 2: a Heymarket write is rejected too; one rejected record changed; the rest not due yet ----
    sync.heymarket_api.delete(hm["14152310101"]["id"])  # Ana's contact is deleted in Heymarket ...
    ana = contacts["Lima"]
    sync.salesforce_api().Contact.update(ana["Id"], {"FirstName": "Anna"})  # ... and edited in Salesforce
    sync.heymarket_api.update(eli_hm, custom={LANGUAGE: ""})  # Eli's long value is cleared: nothing to write
    second = sync.run()
    assert str(second.state) == "success"
    assert sync.history(second)["status"] == "partial"
    assert sync.result(second, "extract_heymarket")["retried"] == 0  # Hana's backoff: not yet
    assert sync.result(second, "plan")["retries_settled"] == 1  # Eli's update is moot now
    errors = open_errors(sync)
    assert set(errors) == {("create_salesforce", "Contact"), ("update_heymarket", "Contact")}
    assert errors[("update_heymarket", "Contact")]["sf_id"] == ana["Id"]
    assert errors[("create_salesforce", "Contact")]["attempts"] == 1
    settled = sync.store().load_errors(open_only=False, run_id=first.run_id)
    assert settled.loc[settled["action"] == "update_salesforce", "resolved_run"].tolist() == [second.run_id]

    # ---- the Salesforce admin widens the field; 30 minutes pass -------------------------------------------
    sync.sf.load(language_field(80))
    let_retries_fall_due(sync)

    # ---- run 3 (incremental): the queued records are re-read by id and now written -------------------------
    third = sync.run()
    assert str(third.state) == "success"
    # Hana's contact, and Ana's deleted one (asked for, not found)
    assert sync.result(third, "extract_heymarket")["retried"] == 2
    contacts = {r["LastName"]: r for r in sync.sf_records("Contact")}
    assert contacts["Ode"]["Preferred_Language__c"] == LONG_LANGUAGE
    assert contacts["Moss"].get("Preferred_Language__c") is None and "2" not in sync.hm_by_phone()[
        "14152310102"]["custom"]
    assert sum(1 for r in sync.sf_records("Contact") if r["LastName"] == "Ode") == 1
    # Ana's contact is still gone: an incremental run cannot know, so her update fails again
    row = sync.history(third)
    assert row["status"] == "partial"
    errors = open_errors(sync)
    assert set(errors) == {("update_heymarket", "Contact")}
    assert errors[("update_heymarket", "Contact")]["attempts"] == 2
    resolved = sync.store().load_errors(open_only=False)
    resolved = resolved[resolved["resolved_at"].notna()]
    assert dict(zip(resolved["action"], resolved["resolved_run"], strict=True)) == {
        "update_salesforce": second.run_id, "create_salesforce": third.run_id}

    # ---- run 4: the daily full sweep finds the deleted contact and creates it again ------------------------
    fourth = sync.run(mode="full")
    assert str(fourth.state) == "success"
    row = sync.history(fourth)
    assert (row["status"], row["mode"]) == ("success", "full")
    hm = sync.hm_by_phone()
    assert "14152310101" in hm, (
        "the full sweep must create Ana's contact again (plan: unlink heymarket_deleted + create_heymarket "
        "recreate); see the apply stage's skipping of already checkpointed creates")
    assert hm["14152310101"]["first"] == "Anna"
    assert sync.store().load_errors().empty
    assert retry_queue(sync) == []
    links = sync.store().load_links()
    assert links.loc[links["sf_id"] == ana["Id"], "hm_id"].tolist() == [hm["14152310101"]["id"]]


def test_a_record_whose_create_waits_for_its_retry_is_never_auto_created_again(sync) -> None:  # noqa: ANN001
    """Ben's Heymarket create was rejected and waits an hour for its retry. An agent adds Ben in Heymarket
    meanwhile. The next incremental run must link the two, not auto-create a second Ben in Salesforce."""
    from sync_engine.state import RetryRequest, WriteRejection

    sync.sf.load({"Contact": [stamped({"FirstName": "Ana", "LastName": "Lima", "Phone": "+1 415 231 0101"}),
                              stamped({"FirstName": "Ben", "LastName": "Okafor", "Phone": "+1 415 231 0102"}),
                              {"FirstName": "Cy", "LastName": "Fresh", "Phone": "+1 415 231 0103"}]})  # watermark
    sync.hm.load({"fields": FIELDS, "contacts": [
        {"phone": "14152310101", "first": "Ana", "last": "Lima", "updated": OLD_HM, "created": OLD_HM}]})
    first = sync.run(objects=["Contact"])
    assert str(first.state) == "success", sync.result(first)

    # the state a rejected create leaves: no contact, no link, an open error, a retry due in an hour
    ben = {r["LastName"]: r for r in sync.sf_records("Contact")}["Okafor"]
    store = sync.store()
    sync.heymarket_api.delete(sync.hm_by_phone()["14152310102"]["id"])
    store.apply_link_changes([], [("Contact", ben["Id"])], first.run_id)
    store.record_errors(first.run_id, [WriteRejection("heymarket", "create_heymarket", "REJECTED", "Contact",
                                                     ben["Id"], message="rejected by Heymarket")])
    store.enqueue_retries([RetryRequest("heymarket", "create_heymarket", "Contact", ben["Id"],
                                        next_attempt_after=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))])

    agent_made = sync.heymarket_api.create(phone="14152310102", first="Ben", last="Okafor")
    second = sync.run(objects=["Contact"])
    assert str(second.state) == "success", sync.result(second)
    assert sync.result(second, "preflight")["sf_mode"] == "incremental"
    assert sync.result(second, "extract_salesforce_contact")["held"] == 1  # read for its phone only
    planned = {a: n for a, n in sync.result(second, "plan")["counts"]["Contact"].items()
               if a in {"create_salesforce", "create_heymarket", "link"}}
    assert planned == {"link": 1}, planned
    assert sorted(r["LastName"] for r in sync.sf_records("Contact")) == ["Fresh", "Lima", "Okafor"]
    links = {r["sf_id"]: r for r in sync.store().load_links().to_dict("records")}
    assert links[ben["Id"]]["hm_id"] == agent_made["id"]
    # the create is no longer needed: its error is resolved and the queue is empty
    assert sync.store().load_errors().empty and retry_queue(sync) == []
