"""Acceptance scenarios of ``heymarket_sync``: real DAG runs (``dag.test()``) against both emulators.

Each test is a short story: an initial full sync, then a batch of changes made on both sides at once the
way users make them (through the public APIs, not the emulators' admin door), then one incremental run
whose every outcome is asserted, then a run that must change nothing. Runs are expensive (15-25 s each),
so the stories are few and dense; the main one runs with the state store on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

#: Loaded records get this stamp, so incremental runs read only what the story changes afterwards.
OLD = "2026-01-05T10:00:00.000+0000"
OLD_HM = "2026-01-05T10:00:00Z"
OPEN, WORKING, CLOSED = "Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"
FIELDS = [{"id": 1, "title": "Customer Tier"}, {"id": 2, "title": "Preferred Language"}]
TIER, LANGUAGE = "1", "2"  # Heymarket custom field ids

WRITE_ACTIONS = ("create_heymarket", "update_heymarket", "delete_heymarket", "create_salesforce",
                 "update_salesforce", "link", "unlink")


def stamped(record: dict) -> dict:
    return {"CreatedDate": OLD, "LastModifiedDate": OLD, "SystemModstamp": OLD, **record}


def contact(first: str, last: str, phone: str, **extra: object) -> dict:
    return stamped({"FirstName": first, "LastName": last, "Phone": phone,
                    "Email": f"{first.lower()}.{last.lower()}@example.com", **extra})


def lead(first: str, last: str, phone: str, status: str = OPEN) -> dict:
    return stamped({"FirstName": first, "LastName": last, "Phone": phone, "Company": f"{last} & Co",
                    "Status": status, "Email": f"{first.lower()}.{last.lower()}@example.org"})


def by_last_name(records: list[dict]) -> dict[str, dict]:
    return {r["LastName"]: r for r in records}


def plan_counts(sync, dag_run) -> dict[str, dict[str, int]]:  # noqa: ANN001
    return sync.result(dag_run, "plan")["counts"]


def writes_planned(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    return {f"{obj}.{action}": n for obj, kinds in counts.items() for action, n in kinds.items()
            if action in WRITE_ACTIONS and n}


def links_by_sf_id(sync) -> dict[str, dict]:  # noqa: ANN001
    return {row["sf_id"]: row for row in sync.store().load_links().to_dict("records")}


def assert_quiet_run(sync, dag_run, *, max_heymarket_calls: int, max_salesforce_calls: int) -> None:  # noqa: ANN001
    """The run found nothing to do: no action planned, no write sent, few calls, history says so."""
    assert str(dag_run.state) == "success"
    assert writes_planned(plan_counts(sync, dag_run)) == {}
    hm_calls = sync.hm.stats()["by_endpoint"]
    sf_calls = sync.sf.stats()["by_endpoint"]
    hm_writes = {k: n for k, n in hm_calls.items()
                 if k.startswith(("PUT", "DELETE")) or k in {"POST /v2/contacts", "POST /v1/contact",
                                                            "POST /v1/batch/contacts", "POST /v2/contact"}}
    sf_writes = {k: n for k, n in sf_calls.items() if "composite" in k or k.startswith(("PATCH", "DELETE"))
                 or "jobs/ingest" in k}
    assert hm_writes == {}, hm_writes
    assert sf_writes == {}, sf_writes
    assert sum(hm_calls.values()) <= max_heymarket_calls, hm_calls
    assert sum(sf_calls.values()) <= max_salesforce_calls, sf_calls
    row = sync.history(dag_run)
    assert row["status"] == "success"
    for obj, directions in row["counts"].items():
        for direction in ("to_heymarket", "to_salesforce"):
            assert not {a: n for a, n in directions.get(direction, {}).items() if n and a != "skipped"}, (
                obj, directions)
    # the history counts every call the run made (logins and preflight's checks included)
    assert sum(row["api_calls"]["heymarket"].values()) == sum(hm_calls.values())
    assert sum(row["api_calls"]["salesforce"].values()) == sum(sf_calls.values())


# ------------------------------------------------------------------------------------------ main story
def story_config(config: dict) -> None:
    config["objects"]["Lead"].update({"scope": "list_view", "list_view": "Open_Leads",
                                      "delete_in_heymarket": True})
    for mapping in config["objects"]["Contact"]["fields"]:
        if mapping["salesforce"] == "Customer_Tier__c":
            mapping["conflict_policy"] = "heymarket_wins"


STORY_SALESFORCE = {
    "ListView": [{"SobjectType": "Lead", "DeveloperName": "Open_Leads", "Label": "Open Leads",
                  "WhereClause": f"Status = '{OPEN}'"}],
    "Contact": [
        contact("Ana", "Lima", "+1 415 231 0101", Customer_Tier__c="Gold", Preferred_Language__c="English"),
        contact("Ben", "Okafor", "(415) 231-0102", Customer_Tier__c="Silver"),
        contact("Cara", "Diaz", "415.231.0103", Customer_Tier__c="Gold"),
        contact("Dan", "Fox", "14152310104"),
        contact("Eve", "Gray", "+1 212 414 0105"),
    ],
    "Lead": [
        lead("Finn", "Hale", "+1 617 302 0106"),
        lead("Gia", "Ito", "+1 312 407 0107"),
        lead("Hal", "Jones", "+1 206 409 0108", status=CLOSED),
    ],
}
STORY_HEYMARKET = {
    "fields": FIELDS,
    "contacts": [
        # Ben exists in Heymarket already (same phone) without his tier.
        {"phone": "14152310102", "first": "Ben", "last": "Okafor", "email": "ben.okafor@example.com",
         "updated": OLD_HM, "created": OLD_HM},
        # Heymarket-only: auto-created as a Contact.
        {"phone": "12124140201", "first": "Ivy", "last": "Kim", "custom": {TIER: "Bronze"},
         "updated": OLD_HM, "created": OLD_HM},
    ],
}


@pytest.mark.parametrize("state_backend", ["sqlite", "postgres"], indirect=True)
def test_two_way_story_initial_incremental_and_idempotent(sync, state_backend: str) -> None:  # noqa: ANN001
    sync.write_config(story_config)
    sync.sf.load(STORY_SALESFORCE)
    sync.hm.load(STORY_HEYMARKET)

    # ---- run 1: the initial sync, both ways ------------------------------------------------------
    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    assert sync.result(first, "preflight")["sf_mode"] == "full"
    assert writes_planned(plan_counts(sync, first)) == {
        "Contact.create_heymarket": 4, "Contact.link": 1, "Contact.update_heymarket": 1,
        "Contact.create_salesforce": 1, "Lead.create_heymarket": 2,
    }
    hm = sync.hm_by_phone()
    assert set(hm) == {"14152310101", "14152310102", "14152310103", "14152310104", "12124140105",
                       "16173020106", "13124070107", "12124140201"}
    ana = hm["14152310101"]
    assert (ana["first"], ana["last"], ana["email"]) == ("Ana", "Lima", "ana.lima@example.com")
    assert ana["custom"] == {TIER: "Gold", LANGUAGE: "English"}
    assert hm["14152310102"]["custom"] == {TIER: "Silver"}  # filled in from Salesforce on linking
    assert "12064090108" not in hm  # Hal's Lead is not in the list view
    contacts = by_last_name(sync.sf_records("Contact"))
    ivy = contacts["Kim"]
    assert (ivy["FirstName"], ivy["Customer_Tier__c"]) == ("Ivy", "Bronze")
    assert ivy["Phone"] == "+12124140201"
    assert len(sync.sf_records("Lead")) == 3  # nothing auto-created as a Lead
    links = links_by_sf_id(sync)
    assert len(links) == 8 and {r["status"] for r in links.values()} == {"active"}
    assert links[ivy["Id"]]["hm_id"] == hm["12124140201"]["id"]
    row = sync.history(first)
    assert (row["status"], row["mode"]) == ("success", "full")
    assert row["counts"]["Contact"]["to_heymarket"]["created"] == 4
    assert row["counts"]["Contact"]["to_salesforce"]["created"] == 1
    assert row["counts"]["Lead"]["to_heymarket"]["created"] == 2

    # ---- both sides change at once ------------------------------------------------------------------
    sf, hm_api = sync.salesforce_api(), sync.heymarket_api
    contacts = by_last_name(sync.sf_records("Contact"))
    leads = by_last_name(sync.sf_records("Lead"))
    sf.Contact.update(contacts["Lima"]["Id"], {"Email": "ana@lima.example",  # SF changes -> Heymarket,
                                               "Phone": "(415) 231-0191"})  # the match key too
    hm_api.update(hm["14152310102"]["id"], first="Benjamin")  # Heymarket change -> Salesforce
    sf.Contact.update(contacts["Diaz"]["Id"], {"Customer_Tier__c": "Silver"})  # conflict, heymarket_wins
    hm_api.update(hm["14152310103"]["id"], custom={TIER: "Platinum"})
    sf.Contact.update(contacts["Gray"]["Id"], {"FirstName": "Evelyn"})  # conflict, salesforce_wins
    hm_api.update(hm["12124140105"]["id"], first="Evie")
    sf.Contact.delete(contacts["Fox"]["Id"])  # Contact delete option off: unlink only
    sf.Lead.delete(leads["Hale"]["Id"])  # Lead delete option on: delete in Heymarket
    sf.Lead.update(leads["Ito"]["Id"], {"Status": WORKING})  # leaves the list view: unlink, never delete
    new_contact = sf.Contact.create({"FirstName": "Kim", "LastName": "Ng", "Phone": "+1 617 302 0166"})["id"]
    hm_api.create(phone="13124070299", first="Jay", last="Lopez", custom={LANGUAGE: "Spanish"})

    # ---- run 2: incremental --------------------------------------------------------------------------
    second = sync.run()
    assert str(second.state) == "success", sync.result(second)
    info = sync.result(second, "preflight")
    assert (info["sf_mode"], info["hm_mode"]) == ("incremental", "incremental")
    counts = plan_counts(sync, second)
    assert writes_planned(counts) == {
        "Contact.update_heymarket": 2, "Contact.update_salesforce": 2, "Contact.create_heymarket": 1,
        "Contact.create_salesforce": 1, "Contact.unlink": 1, "Lead.delete_heymarket": 1, "Lead.unlink": 1,
        "Contact.link": 2,  # each conflict pair's memory is refreshed to the losing side's value first
    }
    assert counts["Contact"]["conflict"] == 2

    hm = sync.hm_by_phone()
    contacts = by_last_name(sync.sf_records("Contact"))
    assert "14152310101" not in hm and hm["14152310191"]["email"] == "ana@lima.example"
    assert hm["14152310191"]["id"] == ana["id"]  # the same contact, with the new number
    assert contacts["Okafor"]["FirstName"] == "Benjamin"
    assert contacts["Diaz"]["Customer_Tier__c"] == "Platinum"  # Heymarket won the tier conflict
    assert hm["14152310103"]["custom"][TIER] == "Platinum"
    assert hm["12124140105"]["first"] == "Evelyn"  # Salesforce won the first-name conflict
    assert contacts["Gray"]["FirstName"] == "Evelyn"
    assert "14152310104" in hm  # Dan's contact stays: the Contact delete option is off
    assert "16173020106" not in hm  # Finn's contact is deleted: the Lead delete option is on
    assert "13124070107" in hm  # Gia left the list view: unlinked, never deleted
    assert hm["16173020166"]["first"] == "Kim"  # new Contact created in Heymarket
    jay = contacts["Lopez"]  # new Heymarket contact auto-created as a Contact
    assert (jay["FirstName"], jay["Preferred_Language__c"], jay["Phone"]) == ("Jay", "Spanish", "+13124070299")
    assert len(sync.sf_records("Contact")) == 7  # 5 loaded - Dan + Ivy + Kim + Jay
    assert len(sync.hm_contacts()) == 9  # 8 + Kim (created by the sync) + Jay (by a user) - Finn

    links = links_by_sf_id(sync)
    assert links[_deleted_id(sync, "Contact", "Fox")]["status"] == "sf_deleted"
    assert _deleted_id(sync, "Lead", "Hale") not in links  # the pair is gone with its contact
    assert links[leads["Ito"]["Id"]]["status"] == "out_of_scope"
    assert links[new_contact]["status"] == "active"
    assert links[jay["Id"]]["hm_id"] == hm["13124070299"]["id"]
    assert links[contacts["Diaz"]["Id"]]["synced.custom.Customer Tier"] == "Platinum"
    assert links[contacts["Lima"]["Id"]]["phone"] == "14152310191"

    row = sync.history(second)
    assert (row["status"], row["mode"]) == ("success", "incremental")
    c, ld = row["counts"]["Contact"], row["counts"]["Lead"]
    assert (c["to_heymarket"]["updated"], c["to_heymarket"]["created"]) == (2, 1)
    assert (c["to_salesforce"]["updated"], c["to_salesforce"]["created"]) == (2, 1)
    assert (c["state"]["unlinked"], c["state"]["conflict"]) == (1, 2)
    assert "linked" not in c["state"]  # the conflict pairs' memory refresh is not a new link
    assert (ld["to_heymarket"]["deleted"], ld["state"]["unlinked"]) == (1, 1)
    assert sync.store().load_errors().empty

    # ---- run 3: nothing changed, so nothing is written ------------------------------------------------
    sync.hm.reset_stats()
    sync.sf.reset_stats()
    third = sync.run()
    assert_quiet_run(sync, third, max_heymarket_calls=5, max_salesforce_calls=12)
    assert len(sync.hm_contacts()) == 9 and len(sync.sf_records("Contact")) == 7

    # ---- run 4: the daily full sweep agrees: unlinked pairs stay unlinked, nothing is auto-created -----
    sweep = sync.run(mode="full")
    assert str(sweep.state) == "success"
    assert writes_planned(plan_counts(sync, sweep)) == {}
    assert len(sync.hm_contacts()) == 9 and len(sync.sf_records("Contact")) == 7
    assert len(sync.sf_records("Lead")) == 2  # Gia (left the view) and Hal; Finn is deleted


def _deleted_id(sync, obj: str, last_name: str) -> str:  # noqa: ANN001
    return by_last_name(sync.sf_records(obj, deleted=True))[last_name]["Id"]


# ------------------------------------------------------------------------ list view and one record
def list_view_config(config: dict) -> None:
    config["objects"]["Contact"].update({"scope": "list_view", "list_view": "CA_Contacts"})


LIST_VIEW_SALESFORCE = {
    "ListView": [{"SobjectType": "Contact", "DeveloperName": "CA_Contacts", "Label": "CA Contacts",
                  "WhereClause": "MailingState = 'CA'"}],
    "Contact": [
        contact("Ana", "Lima", "+1 415 231 0101", MailingState="CA"),
        contact("Ben", "Okafor", "+1 415 231 0102", MailingState="CA"),
        contact("Cara", "Diaz", "+1 415 231 0103", MailingState="CA"),
        contact("Dan", "Fox", "+1 212 414 0104", MailingState="NY"),  # outside the view
    ],
}
LIST_VIEW_HEYMARKET = {
    "fields": FIELDS,
    # Dan's number is in Heymarket: he is a Salesforce Contact (outside the view), not one to auto-create.
    "contacts": [{"phone": "12124140104", "first": "Dan", "last": "Fox", "updated": OLD_HM, "created": OLD_HM}],
}


def test_list_view_scope_and_single_record_run(sync) -> None:  # noqa: ANN001
    sync.write_config(list_view_config)
    sync.sf.load(LIST_VIEW_SALESFORCE)
    sync.hm.load(LIST_VIEW_HEYMARKET)

    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    hm = sync.hm_by_phone()
    assert set(hm) == {"14152310101", "14152310102", "14152310103", "12124140104"}
    assert len(sync.sf_records("Contact")) == 4, "Dan's Heymarket contact was auto-created a second time"
    assert len(sync.store().load_links()) == 3

    sf = sync.salesforce_api()
    contacts = by_last_name(sync.sf_records("Contact"))
    sf.Contact.update(contacts["Lima"]["Id"], {"MailingState": "NV"})  # leaves the view
    sf.Contact.update(contacts["Okafor"]["Id"], {"FirstName": "Benjamin"})
    sf.Contact.update(contacts["Diaz"]["Id"], {"FirstName": "Carla"})

    # ---- the "Heymarket Sync" button on Ben's record: only Ben is synced ----------------------------
    watermarks = {obj: sync.store().get_watermark("salesforce", obj) for obj in ("Contact", "Lead")}
    single = sync.run(record_ids=[contacts["Okafor"]["Id"]])
    assert str(single.state) == "success", sync.result(single)
    assert writes_planned(plan_counts(sync, single)) == {"Contact.update_heymarket": 1}
    hm = sync.hm_by_phone()
    assert hm["14152310102"]["first"] == "Benjamin"
    assert hm["14152310103"]["first"] == "Cara"  # not part of this run
    assert links_by_sf_id(sync)[contacts["Lima"]["Id"]]["status"] == "active"
    row = sync.history(single)
    assert (row["status"], row["mode"]) == ("success", "record_ids")
    assert row["counts"]["Contact"]["to_heymarket"] == {"updated": 1}
    # a single-record run reads too little to move the cursors
    assert {obj: sync.store().get_watermark("salesforce", obj) for obj in ("Contact", "Lead")} == watermarks

    # ---- the next full sweep: the rest, and Ana is unlinked (never deleted) ---------------------------
    full = sync.run(mode="full")
    assert str(full.state) == "success", sync.result(full)
    assert writes_planned(plan_counts(sync, full)) == {"Contact.update_heymarket": 1, "Contact.unlink": 1}
    hm = sync.hm_by_phone()
    assert hm["14152310103"]["first"] == "Carla"
    assert "14152310101" in hm
    links = links_by_sf_id(sync)
    assert links[contacts["Lima"]["Id"]]["status"] == "out_of_scope"
    assert len(sync.sf_records("Contact")) == 4


def test_incremental_run_never_auto_creates_a_record_held_outside_the_list_view(sync) -> None:  # noqa: ANN001
    """Dan (outside the view, never changed again) is read only by full reads; incremental runs take his
    phone from the state store, so a new Heymarket contact with it is not made a second Dan. That holds from
    the first incremental run after auto-create is switched on, before any full comparison stored it."""
    sync.write_config(lambda config: (list_view_config(config), config.update(auto_create="none")))
    older = "2025-11-02T09:00:00.000+0000"  # Dan was last modified before everyone else: behind the watermark
    contacts = [dict(c, SystemModstamp=older, LastModifiedDate=older) if c["LastName"] == "Fox" else c
                for c in LIST_VIEW_SALESFORCE["Contact"]]
    sync.sf.load({**LIST_VIEW_SALESFORCE, "Contact": contacts})
    sync.hm.load({"fields": FIELDS, "contacts": [
        {"phone": "14152310101", "first": "Ana", "last": "Lima", "updated": OLD_HM, "created": OLD_HM}]})

    first = sync.run(mode="full", objects=["Contact"])
    assert str(first.state) == "success", sync.result(first)
    assert len(sync.store().load_links()) == 3
    assert not sync.store().outside_view_scanned("Contact", "CA_Contacts")  # auto-create off: not needed
    dan = by_last_name(sync.sf_records("Contact"))["Fox"]

    # auto-create is switched on; an agent adds Dan in Heymarket
    sync.write_config(lambda config: (list_view_config(config), config.update(auto_create="Contact")))
    sync.heymarket_api.create(phone="12124140104", first="Dan", last="Fox")
    switched = sync.run(objects=["Contact"])
    assert str(switched.state) == "success", sync.result(switched)
    assert sync.result(switched, "preflight")["sf_mode"] == "incremental"
    assert writes_planned(plan_counts(sync, switched)) == {}
    assert len(sync.sf_records("Contact")) == 4, "Dan was auto-created a second time"
    assert [r.sf_id for r in sync.store().load_outside_view("Contact", "CA_Contacts")] == [dan["Id"]]

    # Eve, a new Contact outside the view, texts in too
    sync.salesforce_api().Contact.create({"FirstName": "Eve", "LastName": "Moss", "Phone": "+1 212 414 0105",
                                          "MailingState": "NY"})
    sync.heymarket_api.create(phone="12124140105", first="Eve", last="Moss")
    incremental = sync.run(objects=["Contact"])
    assert str(incremental.state) == "success", sync.result(incremental)
    assert writes_planned(plan_counts(sync, incremental)) == {}
    assert sorted(r["LastName"] for r in sync.sf_records("Contact")) == ["Diaz", "Fox", "Lima", "Moss", "Okafor"]
    # read: Ana, Ben, Cara (inside the watermark's overlap) and Eve; Dan comes from the state store
    assert sync.result(incremental, "extract_salesforce_contact")["rows"] == 5
    assert len(sync.store().load_outside_view("Contact", "CA_Contacts")) == 2  # Dan and Eve

    # the next full comparison agrees: still no second Dan or Eve, nothing to write
    full = sync.run(mode="full", objects=["Contact"])
    assert str(full.state) == "success", sync.result(full)
    assert writes_planned(plan_counts(sync, full)) == {}
    assert len(sync.sf_records("Contact")) == 5
    assert len(sync.store().load_outside_view("Contact", "CA_Contacts")) == 2


# ------------------------------------------------------------------------------- auto-create
def test_auto_create_lead_with_required_default_contact_only_run_and_none(sync) -> None:  # noqa: ANN001
    sync.write_config(lambda config: config.update(auto_create="Lead"))
    sync.sf.load({"Contact": [contact("Ana", "Lima", "+1 415 231 0101")]})
    sync.hm.load({"fields": FIELDS, "contacts": [
        {"phone": "12124140201", "first": "Ivy", "last": "Kim", "email": "ivy@example.com",
         "custom": {LANGUAGE: "Korean"}},
        {"phone": "12124140202", "first": "Noname"},  # a Lead needs a last name: reported, not created
    ]})

    # ---- auto_create: Lead (Company from required_defaults) ------------------------------------------
    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    leads = by_last_name(sync.sf_records("Lead"))
    assert set(leads) == {"Kim"}
    ivy = leads["Kim"]
    assert (ivy["FirstName"], ivy["Email"], ivy["Phone"]) == ("Ivy", "ivy@example.com", "+12124140201")
    assert ivy["Company"] == "Unknown (via Heymarket)"
    assert ivy["Preferred_Language__c"] == "Korean"
    assert len(sync.sf_records("Contact")) == 1
    report = sync.result(first, "plan")["counts"]
    assert report["(heymarket)"]["skipped"] == 1 if "(heymarket)" in report else report["Lead"]["skipped"] == 1
    assert sync.history(first)["counts"]["Lead"]["to_salesforce"]["created"] == 1

    # ---- auto_create: Contact, in a Contact-only full run: Ivy is a Lead's, never a new Contact -------
    sync.write_config(lambda config: config.update(auto_create="Contact"))
    sync.heymarket_api.create(phone="12124140203", first="Jo", last="Park")
    contact_only = sync.run(mode="full", objects=["Contact"])
    assert str(contact_only.state) == "success", sync.result(contact_only)
    assert writes_planned(plan_counts(sync, contact_only)) == {"Contact.create_salesforce": 1}
    contacts = by_last_name(sync.sf_records("Contact"))
    assert set(contacts) == {"Lima", "Park"}  # Jo created; Ivy not (her contact is linked to a Lead)
    assert len(sync.sf_records("Lead")) == 1
    assert sync.history(contact_only)["objects"] == ["Contact"]

    # ---- auto_create: none: a new Heymarket contact is only reported ---------------------------------
    sync.write_config(lambda config: config.update(auto_create="none"))
    sync.heymarket_api.create(phone="12124140204", first="Lou", last="Reed")
    last = sync.run()
    assert str(last.state) == "success", sync.result(last)
    assert writes_planned(plan_counts(sync, last)) == {}
    assert total_reported(plan_counts(sync, last), "unlinked") == 2  # Lou, and the nameless one again
    assert len(sync.sf_records("Contact")) == 2 and len(sync.sf_records("Lead")) == 1


def total_reported(counts: dict[str, dict[str, int]], kind: str) -> int:
    return sum(kinds.get(kind, 0) for kinds in counts.values())
