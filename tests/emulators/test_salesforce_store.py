"""The emulator's org store, ids, clock and Bulk 2.0 job processing, in-process (no server)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from emulators.salesforce import ids
from emulators.salesforce.bulk import BulkService
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.query import QueryService, batch_size
from emulators.salesforce.store import Clock, OrgStore
from emulators.salesforce.validation import prepare_write


@pytest.fixture
def org() -> OrgStore:
    return OrgStore()


def test_ids_follow_the_salesforce_checksum() -> None:
    assert ids.to18("003D000000QOcWt") == "003D000000QOcWtIAL"  # the documented example
    assert ids.to18("003d000000qocwtIAL") == "003D000000QOcWtIAL"  # case restored from the suffix
    assert ids.to18("003D000000QOcWtIAL") == "003D000000QOcWtIAL"
    factory = ids.IdFactory()
    made = [factory.new("00Q") for _ in range(1000)]
    assert len(set(made)) == 1000 and all(m.startswith("00Q") and ids.to18(m) == m for m in made)
    with pytest.raises(ValueError):
        ids.to18("not-an-id")


def test_clock_never_repeats() -> None:
    clock = Clock()
    stamps = [clock.next() for _ in range(500)]
    assert all(a < b for a, b in zip(stamps, stamps[1:], strict=False))
    assert all(s.microsecond % 1000 == 0 and s.utcoffset().total_seconds() == 0 for s in stamps)
    assert clock.latest() >= stamps[-1]


def test_reset_seeds_the_org(org: OrgStore) -> None:
    users = list(org.records["User"].values())
    assert [u["Username"] for u in users] == ["integration@sandbox.example.com"] and users[0]["IsActive"]
    assert {p["Name"] for p in org.records["PermissionSet"].values() if not p["IsOwnedByProfile"]} == {
        "Heymarket_User",
        "Heymarket_Admin",
    }
    assert {v.developer_name for v in org.list_views.values()} == {"AllContacts", "AllOpenLeads"}
    user_id = org.integration_user_id
    org.load({"Contact": [{"LastName": "X"}]})
    org.reset()
    assert org.records["Contact"] == {} and org.integration_user_id == user_id


def test_write_checks_come_in_salesforce_order(org: OrgStore) -> None:
    contact = org.schema["contact"]

    def code(data: dict) -> str:
        with pytest.raises(SalesforceError) as err:
            prepare_write(contact, data, creating=True)
        return err.value.code

    # an unknown field wins over everything else, then Id, then access, then values, then required
    assert code({"Foo": 1, "Id": "x", "Name": "x", "Email": "bad"}) == "INVALID_FIELD"
    assert code({"Id": "x", "Name": "x"}) == "INVALID_FIELD"
    assert code({"Name": "x", "Email": "bad"}) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert code({"Email": "bad"}) == "INVALID_EMAIL_ADDRESS"
    assert code({"Email": "ok@example.com"}) == "REQUIRED_FIELD_MISSING"
    values = prepare_write(
        contact,
        {"lastname": "Lee", "DONOTCALL": "true", "Birthdate": "1990-01-02", "Title": ""},
        creating=True,
    )
    assert values == {"LastName": "Lee", "DoNotCall": True, "Birthdate": dt.date(1990, 1, 2), "Title": None}


def test_transaction_rollback_restores_records_and_delete_log(org: OrgStore) -> None:
    contact = org.schema["contact"]
    user = org.integration_user_id
    keep = org.create(contact, {"LastName": "Keep", "Title": "Old"}, user)
    gone = org.create(contact, {"LastName": "Gone"}, user)
    before = {rid: dict(rec) for rid, rec in org.records["Contact"].items()}
    with org.transaction() as undo:
        org.create(contact, {"LastName": "New"}, user)
        org.update(contact, keep["Id"], {"Title": "New title"}, user)
        org.delete(contact, gone["Id"], user)
        org.rollback(undo)
    assert {rid: dict(rec) for rid, rec in org.records["Contact"].items()} == before
    assert org.deletions == []


def test_permission_set_assignment_rules(org: OrgStore) -> None:
    psa = org.schema["permissionsetassignment"]
    ps_id = next(p["Id"] for p in org.records["PermissionSet"].values() if p["Name"] == "Heymarket_User")
    first = org.create(
        psa, {"AssigneeId": org.integration_user_id, "PermissionSetId": ps_id}, org.integration_user_id
    )
    assert first["Id"].startswith("0Pa") and "CreatedDate" not in first and first["SystemModstamp"]
    with pytest.raises(SalesforceError) as err:
        org.create(
            psa, {"AssigneeId": org.integration_user_id, "PermissionSetId": ps_id}, org.integration_user_id
        )
    assert (err.value.code, err.value.message) == ("DUPLICATE_VALUE", "Duplicate PermissionSetAssignment")
    with pytest.raises(SalesforceError) as err2:
        org.update(psa, first["Id"], {"AssigneeId": org.integration_user_id}, org.integration_user_id)
    assert err2.value.code == "INVALID_FIELD_FOR_INSERT_UPDATE"
    org.delete(psa, first["Id"], org.integration_user_id)
    assert first["Id"] not in org.records["PermissionSetAssignment"]  # setup objects skip the recycle bin


def test_cursor_pages_and_batch_size_header(org: OrgStore) -> None:
    org.load({"Lead": [{"LastName": f"L{i:04d}", "Company": "Acme"} for i in range(450)]})
    queries = QueryService(org)
    first = queries.run(
        "SELECT Id FROM Lead ORDER BY LastName",
        include_deleted=False,
        user_id=org.integration_user_id,
        version="58.0",
        batch=batch_size("batchSize=200"),
    )
    assert len(first["records"]) == 200 and first["totalSize"] == 450
    assert first["nextRecordsUrl"].startswith("/services/data/v58.0/query/01g")
    locator = first["nextRecordsUrl"].rsplit("/", 1)[1]
    second = queries.more(locator, version="58.0", batch=None)
    third = queries.more(second["nextRecordsUrl"].rsplit("/", 1)[1], version="58.0", batch=None)
    assert (len(second["records"]), len(third["records"]), third["done"]) == (200, 50, True)
    assert "nextRecordsUrl" not in third
    with pytest.raises(SalesforceError):
        queries.more(locator, version="58.0", batch=None)  # released after the last page
    assert (
        batch_size("batchSize=50") == 200 and batch_size("batchSize=9000") == 2000 and batch_size("x") is None
    )


def test_bulk_upsert_and_hard_delete(org: OrgStore) -> None:
    org.load(
        {
            "FieldDefinition": [
                {"sobject": "Contact", "name": "Ext__c", "type": "string", "externalId": True, "unique": True}
            ],
            "Contact": [{"LastName": "Old", "Ext__c": "A"}],
        }
    )
    bulk = BulkService(org, QueryService(org))
    user = org.integration_user_id
    job = bulk.create_ingest_job(
        {"object": "Contact", "operation": "upsert", "externalIdFieldName": "Ext__c"}, user, "59.0"
    )
    bulk.upload(job.id, "Ext__c,LastName,Email\nA,New,#N/A\nB,Fresh,b@example.com\nC,,c@example.com\n")
    bulk.set_state(job.id, "UploadComplete", ingest=True)
    bulk.process(job)
    assert job.info()["state"] == "JobComplete" and job.info()["numberRecordsFailed"] == 1
    ok = list(csv.DictReader(io.StringIO(bulk.ingest_results(job.id, "successfulresults"))))
    assert [(r["Ext__c"], r["sf__Created"]) for r in ok] == [("A", "false"), ("B", "true")]
    failed = list(csv.DictReader(io.StringIO(bulk.ingest_results(job.id, "failedresults"))))
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:") and failed[0]["Ext__c"] == "C"
    renamed = org.records["Contact"][ok[0]["sf__Id"]]
    assert renamed["LastName"] == "New" and renamed["Email"] is None

    wipe = bulk.create_ingest_job({"object": "Contact", "operation": "hardDelete"}, user, "59.0")
    bulk.upload(wipe.id, f"Id\n{ok[1]['sf__Id']}\n")
    bulk.set_state(wipe.id, "UploadComplete", ingest=True)
    bulk.process(wipe)
    assert ok[1]["sf__Id"] not in org.records["Contact"]
    with pytest.raises(SalesforceError) as err:
        bulk.set_state(wipe.id, "Aborted", ingest=True)
    assert err.value.code == "INVALIDJOBSTATE"


def test_bulk_query_locators(org: OrgStore) -> None:
    org.load({"Contact": [{"LastName": f"C{i}", "Phone": f"+1{i:010d}"} for i in range(5)]})
    bulk = BulkService(org, QueryService(org))
    job = bulk.create_query_job(
        {
            "operation": "query",
            "query": "SELECT Id, Phone, CreatedDate FROM Contact",
            "columnDelimiter": "PIPE",
            "lineEnding": "CRLF",
        },
        org.integration_user_id,
        "59.0",
    )
    body, locator, count = bulk.query_results(job.id, None, 2)
    assert count == 2 and locator != "null"
    assert body.splitlines()[0] == '"Id"|"Phone"|"CreatedDate"' and body.endswith("\r\n")
    assert body.splitlines()[1].split("|")[2].strip('"').endswith("Z")
    _, locator2, _ = bulk.query_results(job.id, locator, 2)
    _, last, count3 = bulk.query_results(job.id, locator2, 2)
    assert (last, count3) == ("null", 1)
    for bad in (
        "SELECT MailingAddress FROM Contact",
        "SELECT COUNT() FROM Contact",
        "SELECT Id FROM Contact OFFSET 1",
    ):
        with pytest.raises(SalesforceError) as err:
            bulk.create_query_job({"operation": "query", "query": bad}, org.integration_user_id, "59.0")
        assert err.value.code == "API_ERROR"


def test_the_external_id_index_follows_every_kind_of_write(org: OrgStore) -> None:
    """The index behind upserts and uniqueness checks (an emulator speed-up, not a behaviour) gives the same
    answers as a scan: after creates and updates, a rolled-back update, a delete and an undelete, a load."""
    task, contact = org.schema["task"], org.schema["contact"]
    ext = task.get_field("Heymarket_Message_Id__c")
    user = org.integration_user_id
    who = org.create(contact, {"LastName": "Ito"}, user)["Id"]
    first, created = org.upsert(task, ext.name, "m-1", {"WhoId": who, "Status": "Completed"}, user)
    assert created
    assert org.upsert(task, ext.name, "M-1", {"Subject": "again"}, user) == (first, False)  # case-insensitive

    with org.transaction() as undo:
        org.update(task, first["Id"], {ext.name: "m-2"}, user)
        assert [r["Id"] for r in org.live_with_key(task, ext, ext.match_key("m-2"))] == [first["Id"]]
        org.rollback(undo)
    assert [r["Id"] for r in org.live_with_key(task, ext, ext.match_key("m-1"))] == [first["Id"]]
    assert org.live_with_key(task, ext, ext.match_key("m-2")) == []

    org.delete(task, first["Id"], user)
    assert org.live_with_key(task, ext, ext.match_key("m-1")) == []
    second, created = org.upsert(task, ext.name, "m-1", {"WhoId": who, "Status": "Completed"}, user)
    assert created and second["Id"] != first["Id"]  # a binned Task does not match (as in Salesforce)
    with pytest.raises(SalesforceError, match="duplicate value found"):
        org.create(task, {ext.name: "M-1", "Status": "Completed"}, user)

    org.load({"Task": [{ext.name: "m-9", "Status": "Completed", "Subject": "loaded"}]})
    loaded, created = org.upsert(task, ext.name, "m-9", {"Subject": "upserted"}, user)
    assert not created and loaded["Subject"] == "upserted"
    assert sum(1 for r in org.live(task) if r.get(ext.name)) == 2
