"""The Salesforce emulator through the unmodified provider ``SalesforceHook`` and its simple-salesforce
client, over HTTPS on a real socket (SOAP password login with the ``domain`` trick)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import TYPE_CHECKING

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from emulators.common.client import AdminClient

if TYPE_CHECKING:  # Airflow is imported inside the tests, after conftest set AIRFLOW_HOME
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook


@pytest.fixture
def hook(salesforce_conn: str, sf_admin: AdminClient) -> SalesforceHook:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    return SalesforceHook(salesforce_conn_id=salesforce_conn)


@pytest.fixture
def sf(hook: SalesforceHook) -> Salesforce:
    return hook.get_conn()


def contacts(n: int, **extra: object) -> list[dict[str, object]]:
    return [
        {"LastName": f"Last{i:05d}", "FirstName": "Pat", "Phone": f"+1415555{i:04d}", **extra}
        for i in range(n)
    ]


def test_connection_and_login(hook: SalesforceHook, sf: Salesforce) -> None:
    assert hook.test_connection() == (True, "Connection successfully tested")
    # serverUrl from the SOAP login pointed simple-salesforce back at the emulator
    assert sf.sf_instance.startswith("127.0.0.1:")
    assert sf.session_id.startswith("00D") and "!" in sf.session_id
    user = sf.query("SELECT Id, Username, IsActive FROM User")["records"][0]
    assert user["IsActive"] is True and user["Id"].startswith("005") and len(user["Id"]) == 18


def test_query_pages_with_batch_size(sf: Salesforce, sf_admin: AdminClient) -> None:
    sf_admin.load({"Contact": contacts(5000)})
    expected = {r["Id"] for r in sf_admin.dump()["Contact"]}
    headers = {"Sforce-Query-Options": "batchSize=2000"}
    page = sf.query("SELECT Id, Name FROM Contact", headers=headers)
    pages = [page]
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        pages.append(page)
    assert [len(p["records"]) for p in pages] == [2000, 2000, 1000]
    assert {p["totalSize"] for p in pages} == {5000}
    assert pages[0]["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert {r["Id"] for p in pages for r in p["records"]} == expected
    assert pages[0]["records"][0]["attributes"]["type"] == "Contact"


def test_make_query_and_query_all_see_deleted(
    hook: SalesforceHook, sf: Salesforce, sf_admin: AdminClient
) -> None:
    sf_admin.load({"Contact": contacts(3)})
    result = hook.make_query("SELECT Id, LastName FROM Contact ORDER BY LastName")
    assert result["totalSize"] == 3 and result["done"] is True
    gone = result["records"][0]["Id"]
    assert sf.Contact.delete(gone) == 204
    live = hook.make_query("SELECT Id FROM Contact")
    assert gone not in {r["Id"] for r in live["records"]}
    everything = hook.make_query(
        "SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true", include_deleted=True
    )
    assert [(r["Id"], r["IsDeleted"]) for r in everything["records"]] == [(gone, True)]
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Contact.get(gone)
    assert err.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_list_view_describe_query_runs_through_query(
    hook: SalesforceHook, sf: Salesforce, sf_admin: AdminClient
) -> None:
    sf_admin.load(
        {
            "Contact": contacts(6, MailingState="CA") + contacts(4, MailingState="NV"),
            "ListView": [
                {
                    "SobjectType": "Contact",
                    "DeveloperName": "CA_Contacts",
                    "Label": "California Contacts",
                    "WhereClause": "MailingState = 'CA'",
                    "Columns": ["Name", "Phone", "Owner.Alias"],
                }
            ],
        }
    )
    views = sf.restful("sobjects/Contact/listviews")
    assert views["sobjectType"] == "Contact" and views["done"] is True
    by_name = {v["developerName"]: v for v in views["listviews"]}
    view = by_name["CA_Contacts"]
    assert (
        view["label"] == "California Contacts"
        and view["soqlCompatible"] is True
        and view["id"].startswith("00B")
    )
    described = sf.restful(f"sobjects/Contact/listviews/{view['id']}/describe")
    assert described["query"] == (
        "SELECT Name, Phone, Owner.Alias, Owner.Id, Id, CreatedDate, LastModifiedDate, SystemModstamp "
        "FROM Contact "
        "WHERE MailingState = 'CA' ORDER BY Name ASC NULLS FIRST, Id ASC NULLS FIRST"
    )
    assert described["whereCondition"] == {"field": "MailingState", "operator": "equals", "values": ["'CA'"]}
    assert [c["fieldNameOrPath"] for c in described["columns"] if not c["hidden"]] == [
        "Name",
        "Phone",
        "Owner.Alias",
    ]
    # the sync's recipe: keep everything from FROM on, put our own field list in front
    tail = described["query"][described["query"].index(" FROM ") :]
    rows = hook.make_query("SELECT Id, Phone, MailingState" + tail)["records"]
    assert len(rows) == 6 and {r["MailingState"] for r in rows} == {"CA"}
    results = sf.restful(f"sobjects/Contact/listviews/{view['id']}/results", params={"limit": 4, "offset": 4})
    assert results["size"] == 2 and results["done"] is True
    assert results["records"][0]["columns"][0] == {"fieldNameOrPath": "Name", "value": "Pat Last00004"}
    assert sf.restful(f"sobjects/Contact/listviews/{view['id']}")["developerName"] == "CA_Contacts"
    listed = sf.query("SELECT Id, DeveloperName FROM ListView WHERE SobjectType = 'Contact'")["records"]
    assert {r["DeveloperName"] for r in listed} == set(by_name)


def test_describe_reports_required_and_phone_fields(
    hook: SalesforceHook, sf: Salesforce, sf_admin: AdminClient
) -> None:
    def required(obj: str) -> list[str]:
        fields = hook.describe_object(obj)["fields"]
        return [
            f["name"] for f in fields if f["createable"] and not f["nillable"] and not f["defaultedOnCreate"]
        ]

    assert required("Contact") == ["LastName"]
    assert required("Lead") == ["LastName", "Company"]
    contact = {f["name"]: f for f in hook.describe_object("Contact")["fields"]}
    assert {n for n, f in contact.items() if f["type"] == "phone"} == {
        "Phone",
        "Fax",
        "MobilePhone",
        "HomePhone",
        "OtherPhone",
        "AssistantPhone",
    }
    assert contact["MailingCity"]["compoundFieldName"] == "MailingAddress"
    assert contact["MailingAddress"]["type"] == "address" and not contact["MailingAddress"]["createable"]
    assert contact["Name"]["createable"] is False and contact["LastName"]["compoundFieldName"] == "Name"
    assert contact["Full_Phone_Display__c"]["calculated"] is True
    assert [v["value"] for v in contact["Customer_Tier__c"]["picklistValues"]] == ["Gold", "Silver", "Bronze"]
    assert contact["OwnerId"]["referenceTo"] == ["User"] and contact["OwnerId"]["defaultedOnCreate"] is True
    assert contact["SystemModstamp"]["createable"] is False
    assert "Lead_Score__c" in hook.get_available_fields("Lead")
    for obj in ("Account", "User", "PermissionSet", "PermissionSetAssignment"):
        assert hook.describe_object(obj)["name"] == obj
    listed = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Contact", "Lead", "Account", "User", "PermissionSet", "PermissionSetAssignment"} <= listed

    # the user guide's example: an admin makes an extra Contact field required
    sf_admin.load(
        {
            "FieldDefinition": [
                {
                    "sobject": "Contact",
                    "name": "Languages__c",
                    "type": "string",
                    "nillable": False,
                    "createable": True,
                }
            ]
        }
    )
    assert required("Contact") == ["LastName", "Languages__c"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.create({"LastName": "Lee"})
    assert err.value.content == [
        {
            "message": "Required fields are missing: [Languages__c]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["Languages__c"],
        }
    ]
    assert sf.Contact.create({"LastName": "Lee", "Languages__c": "en"})["success"] is True


def test_single_record_crud_and_bookkeeping(sf: Salesforce) -> None:
    created = sf.Contact.create(
        {"LastName": "Ng", "FirstName": "Kim", "MobilePhone": "+14155550199", "Customer_Tier__c": "Platinum"}
    )  # unrestricted picklist takes any value
    assert created["success"] is True and created["errors"] == []
    cid = created["id"]
    assert cid.startswith("003") and len(cid) == 18
    first = sf.Contact.get(cid)
    assert first["Name"] == "Kim Ng" and first["Customer_Tier__c"] == "Platinum"
    assert first["CreatedDate"] == first["LastModifiedDate"] == first["SystemModstamp"]
    assert first["DoNotCall"] is False and first["OwnerId"].startswith("005")
    assert sf.Contact.update(cid, {"Title": "CTO", "MobilePhone": None}) == 204
    second = sf.Contact.get(cid)
    assert second["Title"] == "CTO" and second["MobilePhone"] is None
    assert second["CreatedDate"] == first["CreatedDate"]
    assert second["SystemModstamp"] > first["SystemModstamp"]  # strictly increasing, same format sorts
    assert second["Full_Phone_Display__c"] is None
    lead = sf.Lead.create({"LastName": "Ortiz", "Company": "Acme"})
    stored = sf.Lead.get(lead["id"])
    assert stored["Status"] == "Open - Not Contacted" and stored["IsConverted"] is False
    assert lead["id"].startswith("00Q")
    only = sf.restful(f"sobjects/Contact/{cid}", params={"fields": "Id,title"})
    assert set(only) == {"attributes", "Id", "Title"}
    assert sf.Contact.delete(cid) == 204


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"LastName": "X", "Id": "003000000000001AAA"},
            "INVALID_FIELD",
            "The Id field should not be specified in the sobject data.",
        ),
        (
            {"LastName": "X", "Foo__c": 1},
            "INVALID_FIELD",
            "No such column 'Foo__c' on sobject of type Contact",
        ),
        (
            {"LastName": "X", "Name": "X Y"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: Name.",
        ),
        (
            {"LastName": "X", "CreatedDate": "2024-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: CreatedDate.",
        ),
        ({"FirstName": "X"}, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]"),
        ({"LastName": "X" * 81}, "STRING_TOO_LONG", "Last Name: data value too large"),
        ({"LastName": "X", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", "Email: invalid email address"),
        (
            {"LastName": "X", "DoNotCall": "maybe"},
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of boolean",
        ),
        (
            {"LastName": "X", "AccountId": "00Q5g000001abcdEAA"},
            "FIELD_INTEGRITY_EXCEPTION",
            "Account ID: id value of incorrect type",
        ),
        (
            {"LastName": "X", "AccountId": "0015g000001abcdEAA"},
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
        ),
    ],
)
def test_create_errors(sf: Salesforce, body: dict, code: str, message: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.create(body)
    assert err.value.status == 400
    assert err.value.content[0]["errorCode"] == code
    assert err.value.content[0]["message"].startswith(message)


def test_record_lookup_errors(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Contact.get("0035g00000NoSuc")
    assert err.value.content == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    with pytest.raises(SalesforceMalformedRequest) as err2:
        sf.Contact.update("00Q5g000001abcdEAA", {"Title": "x"})
    assert err2.value.content[0]["errorCode"] == "MALFORMED_ID"
    cid = sf.Contact.create({"LastName": "Gone"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as err3:
        sf.Contact.update(cid, {"LastName": None})
    assert err3.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as err4:
        sf.Contact.update(cid, {"IsDeleted": True})
    assert err4.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_collections_partial_failure_and_all_or_none(sf: Salesforce, sf_admin: AdminClient) -> None:
    def records(*names: str | None) -> list[dict]:
        return [
            {"attributes": {"type": "Contact"}, **({"LastName": n} if n else {"FirstName": "NoLast"})}
            for n in names
        ]

    partial = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records("A", None, "C")}
    )
    assert [r["success"] for r in partial] == [True, False, True]
    assert partial[1]["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [LastName]",
            "fields": ["LastName"],
        }
    ]
    ok_ids = [partial[0]["id"], partial[2]["id"]]

    before = len(sf_admin.dump()["Contact"])
    rolled = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records("D", "E", None)}
    )
    assert [r["errors"][0]["statusCode"] for r in rolled] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "REQUIRED_FIELD_MISSING",
    ]
    assert len(sf_admin.dump()["Contact"]) == before  # nothing was kept

    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "id": ok_ids[0], "Title": "Boss"},
                {"attributes": {"type": "Contact"}, "id": ok_ids[1], "LastName": None},
            ],
        },
    )
    assert [r["success"] for r in updated] == [True, False]
    rolled_update = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Contact"}, "id": ok_ids[0], "Title": "Intern"},
                {"attributes": {"type": "Contact"}, "id": ok_ids[1], "Email": "bad"},
            ],
        },
    )
    assert rolled_update[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert sf.Contact.get(ok_ids[0])["Title"] == "Boss"  # the Intern change was rolled back

    deleted = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": ",".join([ok_ids[0], "003garbage"]), "allOrNone": "false"},
    )
    assert deleted[0] == {"id": ok_ids[0], "success": True, "errors": []}
    assert deleted[1]["errors"][0]["statusCode"] == "MALFORMED_ID"
    again = sf.restful("composite/sobjects", method="DELETE", params={"ids": ok_ids[0]})
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"

    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects", method="POST", json={"records": records(*["Z"] * 201)})
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_upsert_by_external_id(sf: Salesforce, sf_admin: AdminClient) -> None:
    sf_admin.load(
        {
            "FieldDefinition": [
                {
                    "sobject": "Contact",
                    "name": "Heymarket_Id__c",
                    "type": "string",
                    "externalId": True,
                    "unique": True,
                    "length": 40,
                }
            ]
        }
    )
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Contact"}, "Heymarket_Id__c": "hm-1", "LastName": "One"},
            {"attributes": {"type": "Contact"}, "Heymarket_Id__c": "hm-2", "LastName": "Two"},
        ],
    }
    first = sf.restful("composite/sobjects/Contact/Heymarket_Id__c", method="PATCH", json=body)
    assert [r["created"] for r in first] == [True, True]
    body["records"][0]["LastName"] = "Uno"
    second = sf.restful("composite/sobjects/Contact/Heymarket_Id__c", method="PATCH", json=body)
    assert [r["created"] for r in second] == [False, False] and second[0]["id"] == first[0]["id"]
    assert sf.Contact.get(first[0]["id"])["LastName"] == "Uno"
    single = sf.Contact.upsert("Heymarket_Id__c/hm-3", {"LastName": "Three"}, raw_response=True)
    assert single.status_code == 201 and single.json()["created"] is True


def test_bulk2_query_and_ingest(sf: Salesforce, sf_admin: AdminClient) -> None:
    sf_admin.load({"Contact": contacts(2500, MailingState="CA")})
    pages = list(
        sf.bulk2.Contact.query(
            "SELECT Id, LastName, Phone, Owner.Alias FROM Contact", max_records=1000, wait=0
        )
    )
    assert len(pages) == 3
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(rows) == 2500 and len({r["Id"] for r in rows}) == 2500
    assert list(rows[0]) == ["Id", "LastName", "Phone", "Owner.Alias"] and rows[0]["Owner.Alias"] == "integ"

    result = sf.bulk2.Contact.insert(
        records=[
            {"LastName": "Bulk", "Phone": "+14155550000"},
            {"FirstName": "NoLast", "Phone": "+14155550001"},
        ],
        wait=0,
    )
    assert result[0]["numberRecordsProcessed"] == 2 and result[0]["numberRecordsFailed"] == 1
    job_id = result[0]["job_id"]
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(job_id))))
    assert (
        failed[0]["sf__Error"] == "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    )
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(job_id))))
    assert ok[0]["sf__Created"] == "true" and ok[0]["sf__Id"].startswith("003")
    assert len(sf.bulk2.Contact.get_unprocessed_records(job_id).splitlines()) == 1  # header only

    updates = sf.bulk2.Contact.update(records=[{"Id": ok[0]["sf__Id"], "Title": "Bulk Title"}], wait=0)
    assert updates[0]["numberRecordsFailed"] == 0
    assert sf.Contact.get(ok[0]["sf__Id"])["Title"] == "Bulk Title"
    deletes = sf.bulk2.Contact.delete(records=[{"Id": ok[0]["sf__Id"]}], wait=0)
    assert deletes[0]["numberRecordsFailed"] == 0
    assert sf.query("SELECT COUNT() FROM Contact WHERE LastName = 'Bulk'")["totalSize"] == 0


def test_limits_and_usage_header(sf: Salesforce, sf_admin: AdminClient) -> None:
    sf.query("SELECT Id FROM Contact LIMIT 1")
    used_after_query = sf.api_usage["api-usage"].used
    assert sf.api_usage["api-usage"].total == 15000
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 15000, "Remaining": 15000 - used_after_query - 1}
    assert sf.api_usage["api-usage"].used == used_after_query + 1
    assert {"DailyBulkV2QueryJobs", "DataStorageMB"} <= set(limits)
    sf_admin.faults(daily_api_budget=100000)
    sf.limits()
    assert sf.api_usage["api-usage"].total == 100000
    assert sf_admin.dump()["limits"]["DailyApiRequests"]["Used"] == used_after_query + 2


def test_updated_and_deleted_windows(sf: Salesforce, sf_admin: AdminClient) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    kept = sf.Contact.create({"LastName": "Kept"})["id"]
    dropped = sf.Contact.create({"LastName": "Dropped"})["id"]
    sf.Contact.delete(dropped)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    updated = sf.Contact.updated(start, end)
    assert updated["ids"] == [kept]  # deleted records are reported by deleted/, not updated/
    assert updated["latestDateCovered"].endswith("+0000")
    deleted = sf.Contact.deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [dropped]
    assert deleted["deletedRecords"][0]["deletedDate"].endswith("+0000")
    assert {"earliestDateAvailable", "latestDateCovered"} <= set(deleted)
    earlier = sf.Contact.updated(start - dt.timedelta(days=2), start)
    assert earlier["ids"] == []
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.updated(start - dt.timedelta(days=31), end)
    assert err.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_permission_sets_and_duplicate_assignment(sf: Salesforce) -> None:
    sets = sf.query("SELECT Id, Name, Label FROM PermissionSet WHERE IsOwnedByProfile = false ORDER BY Name")
    assert [r["Name"] for r in sets["records"]] == ["Heymarket_Admin", "Heymarket_User"]
    user_id = sf.query("SELECT Id FROM User WHERE IsActive = true")["records"][0]["Id"]
    ps_id = sets["records"][1]["Id"]
    assignment = sf.PermissionSetAssignment.create({"AssigneeId": user_id, "PermissionSetId": ps_id})
    assert assignment["id"].startswith("0Pa")
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.PermissionSetAssignment.create({"AssigneeId": user_id, "PermissionSetId": ps_id})
    assert err.value.content == [
        {"message": "Duplicate PermissionSetAssignment", "errorCode": "DUPLICATE_VALUE", "fields": []}
    ]
    found = sf.query(
        f"SELECT Id, Assignee.Username FROM PermissionSetAssignment WHERE AssigneeId = '{user_id}' "
        f"AND PermissionSetId = '{ps_id}'"
    )["records"]
    assert [r["Id"] for r in found] == [assignment["id"]] and found[0]["Assignee"]["Username"]
    new_user = sf.User.create(
        {
            "Username": "agent@sandbox.example.com",
            "LastName": "Agent",
            "Email": "agent@example.com",
            "Alias": "agent",
            "TimeZoneSidKey": "GMT",
            "LocaleSidKey": "en_US",
            "EmailEncodingKey": "UTF-8",
            "LanguageLocaleKey": "en_US",
            "ProfileId": "00e5g000000HmSyAAC",
        }
    )
    assert new_user["id"].startswith("005")
    with pytest.raises(SalesforceMalformedRequest) as err2:
        sf.User.create(
            {
                "Username": "AGENT@sandbox.example.com",
                "LastName": "Again",
                "Email": "a@example.com",
                "Alias": "again",
                "TimeZoneSidKey": "GMT",
                "LocaleSidKey": "en_US",
                "EmailEncodingKey": "UTF-8",
                "LanguageLocaleKey": "en_US",
                "ProfileId": "00e5g000000HmSyAAC",
            }
        )
    assert err2.value.content[0]["errorCode"] == "DUPLICATE_USERNAME"
    assert sf.PermissionSetAssignment.delete(assignment["id"]) == 204


def test_duplicate_rule(sf: Salesforce, sf_admin: AdminClient) -> None:
    sf_admin.load(
        {
            "DuplicateRule": [{"sobject": "Contact", "fields": ["Email"]}],
            "Contact": [{"LastName": "Orig", "Email": "dup@example.com"}],
        }
    )
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.create({"LastName": "Copy", "Email": "DUP@example.com"})
    body = err.value.content[0]
    assert body["errorCode"] == "DUPLICATES_DETECTED" and body["message"] == "Use one of these records?"
    assert body["duplicateResult"]["matchResults"][0]["matchRecords"][0]["record"]["Id"].startswith("003")
    allowed = sf.Contact.create(
        {"LastName": "Copy", "Email": "dup@example.com"},
        headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"},
    )
    assert allowed["success"] is True


def test_bulk_api_1_through_the_provider_operator(
    salesforce_conn: str, sf: Salesforce, sf_admin: AdminClient
) -> None:
    from airflow.providers.salesforce.operators.bulk import SalesforceBulkOperator

    bulk_insert = SalesforceBulkOperator(
        task_id="bulk_insert",
        operation="insert",
        object_name="Contact",
        payload=[{"LastName": "Op1", "Phone": "+14155550111"}, {"FirstName": "NoLast"}],
        salesforce_conn_id=salesforce_conn,
    )
    results = bulk_insert.execute(context={})
    assert [r["success"] for r in results] == [True, False]
    assert results[0]["created"] is True and results[0]["id"].startswith("003")
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"

    upserted = sf.bulk.Contact.upsert([{"Id": results[0]["id"], "Title": "Bulk 1"}], "Id", batch_size=100)
    assert upserted == [{"success": True, "created": False, "id": results[0]["id"], "errors": []}]
    flat = sf.bulk.Contact.query("SELECT Id, Title, CreatedDate FROM Contact WHERE LastName = 'Op1'")
    assert [(r["Id"], r["Title"]) for r in flat] == [(results[0]["id"], "Bulk 1")]
    assert isinstance(flat[0]["CreatedDate"], int)  # Bulk 1.0 JSON gives epoch milliseconds
    deleted = sf.bulk.Contact.delete([{"Id": results[0]["id"]}])
    assert deleted[0]["success"] is True
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    jobs = [j for j in sf_admin.dump()["BulkJobs"] if j.get("contentType") == "JSON"]
    assert {j["operation"] for j in jobs} == {"insert", "upsert", "query", "delete"}
    assert all(j["state"] == "Closed" for j in jobs)
