"""``Task`` (activities) in the Salesforce emulator, the way the ``heymarket_messages`` DAG writes them:
describe, upserts on the ``Heymarket_Message_Id__c`` external id through REST, sObject Collections, Bulk
API 2.0 and 1.0, the ``WhoId`` rules, an org without (or with a wrong) external id field, SOQL and Bulk
queries, and what record lifecycle events do to Tasks. All through the unmodified provider
``SalesforceHook`` and simple-salesforce over HTTPS on a real socket."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceOperationError,
    SalesforceResourceNotFound,
)

from emulators.common.client import AdminCallError, AdminClient

if TYPE_CHECKING:  # Airflow is imported inside the tests, after conftest set AIRFLOW_HOME
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

EXT = "Heymarket_Message_Id__c"
UPSERT = f"composite/sobjects/Task/{EXT}"


@pytest.fixture
def hook(salesforce_conn: str, sf_admin: AdminClient) -> SalesforceHook:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    return SalesforceHook(salesforce_conn_id=salesforce_conn)


@pytest.fixture
def sf(hook: SalesforceHook) -> Salesforce:
    return hook.get_conn()


def load_ids(sf_admin: AdminClient, sobject: str, records: list[dict[str, Any]]) -> list[str]:
    """Load *records* and return their new ids, in load order."""
    before = {r["Id"] for r in sf_admin.dump()[sobject]}
    sf_admin.load({sobject: records})
    return [r["Id"] for r in sf_admin.dump()[sobject] if r["Id"] not in before]


@pytest.fixture
def people(sf_admin: AdminClient) -> dict[str, str]:
    """A Contact, a Lead, an Account and an inactive user to hang Tasks on."""
    contact = load_ids(
        sf_admin, "Contact", [{"LastName": "Lee", "FirstName": "Ann", "Phone": "+14155550100"}]
    )
    lead = load_ids(sf_admin, "Lead", [{"LastName": "Ng", "Company": "Acme", "Phone": "+14155550101"}])
    account = load_ids(sf_admin, "Account", [{"Name": "Acme"}])
    inactive = load_ids(
        sf_admin,
        "User",
        [
            {
                "Username": "gone@sandbox.example.com",
                "LastName": "Gone",
                "Email": "gone@example.com",
                "Alias": "gone",
                "IsActive": False,
                "TimeZoneSidKey": "GMT",
                "LocaleSidKey": "en_US",
                "EmailEncodingKey": "UTF-8",
                "LanguageLocaleKey": "en_US",
                "ProfileId": "00e5g000000HmSy",
            }
        ],
    )
    return {"contact": contact[0], "lead": lead[0], "account": account[0], "inactive": inactive[0]}


def message(ext_id: str, who: str, body: str = "Hi there", **extra: Any) -> dict[str, Any]:
    """One SMS message as the DAG writes it: a completed Task on the Contact or Lead."""
    return {
        "attributes": {"type": "Task"},
        EXT: ext_id,
        "WhoId": who,
        "Subject": "SMS: outbound",
        "Status": "Completed",
        "ActivityDate": "2026-11-24",
        "Description": body,
        "Type": "Other",
        **extra,
    }


def upsert(sf: Salesforce, records: list[dict[str, Any]], all_or_none: bool = True) -> list[dict[str, Any]]:
    return sf.restful(UPSERT, method="PATCH", json={"allOrNone": all_or_none, "records": records})


def record_errors(results: list[dict[str, Any]]) -> list[tuple[str, str, list[str]] | None]:
    """(statusCode, message, fields) of each result's first error, None for successes."""
    return [
        None
        if r["success"]
        else (r["errors"][0]["statusCode"], r["errors"][0]["message"], r["errors"][0]["fields"])
        for r in results
    ]


def task_count(sf: Salesforce, where: str = "") -> int:
    return sf.query(f"SELECT COUNT() FROM Task {where}".strip())["totalSize"]


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- describe ------------------------------------------------------------------------------------


def test_describe_task_and_its_external_id(hook: SalesforceHook, sf: Salesforce) -> None:
    listed = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert listed["Task"]["keyPrefix"] == "00T" and listed["Task"]["createable"] is True
    assert listed["Task"]["mergeable"] is False and listed["Task"]["undeletable"] is True

    described = hook.describe_object("Task")
    fields = {f["name"]: f for f in described["fields"]}
    who = fields["WhoId"]
    assert (who["type"], who["referenceTo"], who["relationshipName"]) == (
        "reference",
        ["Contact", "Lead"],
        "Who",
    )
    assert who["polymorphicForeignKey"] is True and who["namePointing"] is True and who["nillable"] is True
    assert fields["WhatId"]["referenceTo"][0] == "Account" and fields["WhatId"]["relationshipName"] == "What"
    owner = fields["OwnerId"]
    assert owner["referenceTo"] == ["User"] and owner["defaultedOnCreate"] is True and not owner["nillable"]
    status = fields["Status"]
    assert "Completed" in [v["value"] for v in status["picklistValues"]]
    assert (status["nillable"], status["defaultedOnCreate"], status["defaultValue"]) == (
        False,
        True,
        "Not Started",
    )
    assert [v["value"] for v in status["picklistValues"] if v["defaultValue"]] == ["Not Started"]
    assert fields["Priority"]["defaultValue"] == "Normal" and fields["Priority"]["restrictedPicklist"] is True
    assert (fields["Subject"]["type"], fields["Subject"]["length"]) == ("combobox", 255)
    assert (fields["Description"]["type"], fields["Description"]["length"]) == ("textarea", 32000)
    assert fields["Description"]["filterable"] is False
    assert fields["ActivityDate"]["type"] == "date"
    subtype = fields["TaskSubtype"]
    assert {"Task", "Call", "Email"} <= {v["value"] for v in subtype["picklistValues"]}
    assert subtype["createable"] is True and subtype["updateable"] is False
    assert fields["IsClosed"]["type"] == "boolean" and not fields["IsClosed"]["createable"]
    for name in (
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "IsDeleted",
        "Type",
        "CompletedDateTime",
    ):
        assert name in fields
    ext = fields[EXT]
    assert (ext["type"], ext["length"], ext["custom"]) == ("string", 255, True)
    assert (ext["externalId"], ext["unique"], ext["caseSensitive"], ext["idLookup"]) == (
        True,
        True,
        False,
        True,
    )
    required = [
        f["name"]
        for f in described["fields"]
        if f["createable"] and not f["nillable"] and not f["defaultedOnCreate"]
    ]
    assert required == []

    # Contacts and Leads list their Tasks; a delete takes them along (see the README)
    for parent in ("Contact", "Lead"):
        children = hook.describe_object(parent)["childRelationships"]
        tasks = [c for c in children if c["childSObject"] == "Task"]
        assert tasks == [
            {
                "cascadeDelete": True,
                "childSObject": "Task",
                "deprecatedAndHidden": False,
                "field": "WhoId",
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": "Tasks",
                "restrictedDelete": False,
            }
        ]


def test_sms_opt_out_stays_an_updateable_checkbox(
    hook: SalesforceHook, sf: Salesforce, people: dict[str, str]
) -> None:
    for sobject, record_id in (("Contact", people["contact"]), ("Lead", people["lead"])):
        field = {f["name"]: f for f in hook.describe_object(sobject)["fields"]}["SMS_Opt_Out__c"]
        assert (field["type"], field["custom"], field["createable"], field["updateable"]) == (
            "boolean",
            True,
            True,
            True,
        )
        assert (field["nillable"], field["defaultedOnCreate"], field["defaultValue"]) == (False, True, False)
        assert getattr(sf, sobject).get(record_id)["SMS_Opt_Out__c"] is False
        assert getattr(sf, sobject).update(record_id, {"SMS_Opt_Out__c": True}) == 204
        assert getattr(sf, sobject).get(record_id)["SMS_Opt_Out__c"] is True


# --- writes ----------------------------------------------------------------------------------------


def test_collections_upsert_creates_then_updates_and_a_rerun_creates_nothing(
    sf: Salesforce, people: dict[str, str]
) -> None:
    batch = [
        message("hm-1", people["contact"], "first"),
        message("hm-2", people["contact"], "second"),
        message("hm-3", people["lead"], "third"),
    ]
    first = upsert(sf, batch)
    assert [(r["success"], r["created"]) for r in first] == [(True, True)] * 3
    assert all(r["id"].startswith("00T") and len(r["id"]) == 18 and r["errors"] == [] for r in first)

    again = upsert(sf, batch)  # a rerun after a kill: nothing new
    assert [(r["id"], r["created"]) for r in again] == [(r["id"], False) for r in first]
    assert task_count(sf) == 3

    changed = upsert(sf, [message("HM-1", people["contact"], "edited"), message("hm-4", people["lead"])])
    assert [r["created"] for r in changed] == [False, True]  # external ids ignore case
    assert changed[0]["id"] == first[0]["id"]
    assert task_count(sf) == 4

    task = sf.Task.get(first[0]["id"])
    assert (task["Description"], task[EXT], task["WhoId"]) == ("edited", "hm-1", people["contact"])
    assert (task["Status"], task["IsClosed"], task["Priority"], task["TaskSubtype"]) == (
        "Completed",
        True,
        "Normal",
        "Task",
    )
    assert task["CompletedDateTime"] is not None and task["CompletedDateTime"] <= task["LastModifiedDate"]
    user_id = sf.query("SELECT Id FROM User WHERE Username = 'integration@sandbox.example.com'")["records"][0]
    assert task["OwnerId"] == task["CreatedById"] == user_id["Id"]
    assert task["ActivityDate"] == "2026-11-24" and task["IsDeleted"] is False

    # TaskSubtype is set on create only: an upsert that carries it fails once the Task exists
    with_subtype = [message("hm-5", people["lead"], TaskSubtype="Call")]
    assert upsert(sf, with_subtype)[0]["created"] is True
    assert record_errors(upsert(sf, with_subtype)) == [
        (
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: TaskSubtype. Please check the security settings of this field "
            "and verify that it is read/write for your profile or permission set.",
            ["TaskSubtype"],
        )
    ]


def test_rest_create_update_delete_and_upsert_by_external_id(sf: Salesforce, people: dict[str, str]) -> None:
    created = sf.Task.create({"WhoId": people["lead"], "Subject": "Call back"})
    task = sf.Task.get(created["id"])
    assert (task["Status"], task["Priority"], task["IsClosed"], task["TaskSubtype"]) == (
        "Not Started",
        "Normal",
        False,
        "Task",
    )
    assert task["CompletedDateTime"] is None and task[EXT] is None
    assert sf.Task.update(created["id"], {"Status": "Completed"}) == 204
    closed = sf.Task.get(created["id"])
    assert closed["IsClosed"] is True and closed["CompletedDateTime"] == closed["LastModifiedDate"]
    assert sf.Task.update(created["id"], {"Status": "In Progress"}) == 204
    assert sf.Task.get(created["id"])["CompletedDateTime"] is None

    body = {"WhoId": people["contact"], "Subject": "SMS", "Status": "Completed", "Description": "hello"}
    response = sf.Task.upsert(f"{EXT}/hm-9", body, raw_response=True)
    assert response.status_code == 201 and response.json()["created"] is True
    upserted = response.json()["id"]
    response = sf.Task.upsert(f"{EXT}/HM-9", {**body, "Description": "hello again"}, raw_response=True)
    assert response.status_code == 200 and response.json() == {
        "id": upserted,
        "success": True,
        "errors": [],
        "created": False,
    }
    assert sf.Task.get_by_custom_id(EXT, "hm-9")["Description"] == "hello again"

    # plain sObject Collections work on Tasks too
    made = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"allOrNone": True, "records": [{"attributes": {"type": "Task"}, "WhoId": people["lead"]}] * 2},
    )
    made_ids = [r["id"] for r in made]
    edited = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Task"}, "id": i, "Status": "Deferred"} for i in made_ids]},
    )
    assert [r["success"] for r in edited] == [True, True]
    gone = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(made_ids)})
    assert [r["id"] for r in gone] == made_ids

    assert sf.Task.delete(upserted) == 204
    assert task_count(sf, "WHERE Heymarket_Message_Id__c = 'hm-9'") == 0
    binned = sf.query_all(
        f"SELECT Id, IsDeleted, {EXT} FROM Task WHERE IsDeleted = true AND {EXT} != null",
        include_deleted=True,
    )["records"]
    assert [(r["Id"], r["IsDeleted"], r[EXT]) for r in binned] == [(upserted, True, "hm-9")]
    # the binned Task does not match an upsert any more: the same message makes a new one
    response = sf.Task.upsert(f"{EXT}/hm-9", body, raw_response=True)
    assert response.status_code == 201 and response.json()["id"] != upserted


def test_who_and_owner_rules(sf: Salesforce, sf_admin: AdminClient, people: dict[str, str]) -> None:
    gone = load_ids(sf_admin, "Contact", [{"LastName": "Gone"}])[0]
    sf.Contact.delete(gone)
    converted = load_ids(sf_admin, "Lead", [{"LastName": "Conv", "Company": "Acme"}])[0]
    sf_admin.convert(converted)
    never = "003" + "5g0" + "0" * 9  # well formed, never made

    results = upsert(
        sf,
        [
            message("e-1", people["account"]),
            message("e-2", gone),
            message("e-3", never),
            message("e-4", converted),
            message("e-5", "not-an-id"),
            message("e-6", people["contact"], WhatId=people["contact"]),
            message("e-7", people["lead"], WhatId=people["account"]),
            message("e-8", people["contact"], OwnerId=people["inactive"]),
            message("e-9", people["contact"], Status="Done"),
            message("e-10", people["contact"], WhatId="006" + "5g0" + "0" * 9),
            message("ok-1", people["contact"], WhatId=people["account"]),
            message("ok-2", None),  # a Task on nobody is allowed
        ],
        all_or_none=False,
    )
    assert record_errors(results) == [
        ("FIELD_INTEGRITY_EXCEPTION", f"Name ID: id value of incorrect type: {people['account']}", ["WhoId"]),
        ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["WhoId"]),
        ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["WhoId"]),
        ("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", []),
        ("MALFORMED_ID", "Name ID: id value of incorrect type: not-an-id", ["WhoId"]),
        (
            "FIELD_INTEGRITY_EXCEPTION",
            f"Related To ID: id value of incorrect type: {people['contact']}",
            ["WhatId"],
        ),
        (
            "FIELD_INTEGRITY_EXCEPTION",
            "Related To ID: a task whose Name is a lead cannot be related to another record",
            ["WhatId"],
        ),
        (
            "INACTIVE_OWNER_OR_USER",
            f"operation performed with inactive user [{people['inactive']}] as owner of task",
            ["OwnerId"],
        ),
        (
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "Status: bad value for restricted picklist field: Done",
            ["Status"],
        ),
        ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["WhatId"]),
        None,
        None,
    ]
    assert task_count(sf) == 2

    # the same rules as a top-level REST error, and on updates
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Task.create({"WhoId": people["account"]})
    assert err.value.content == [
        {
            "message": f"Name ID: id value of incorrect type: {people['account']}",
            "errorCode": "FIELD_INTEGRITY_EXCEPTION",
            "fields": ["WhoId"],
        }
    ]
    task_id = results[10]["id"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Task.update(task_id, {"WhoId": gone})
    assert err.value.content[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Task.update(task_id, {"TaskSubtype": "Email"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Task.update(task_id, {"Status": None})
    assert err.value.content[0] == {
        "message": "Required fields are missing: [Status]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["Status"],
    }
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Task.update(task_id, {"IsClosed": True})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Task.update(task_id, {"Description": "x" * 32001})
    assert err.value.content[0]["errorCode"] == "STRING_TOO_LONG"
    assert sf.Task.update(task_id, {"WhoId": people["lead"], "WhatId": None}) == 204


def test_duplicate_external_ids_in_one_call(sf: Salesforce, people: dict[str, str]) -> None:
    batch = [
        message("dup", people["contact"], "one"),
        message("solo", people["contact"]),
        message("DUP", people["lead"], "two"),
    ]
    duplicate = ("DUPLICATE_VALUE", "Duplicate external id specified: dup", [EXT])
    results = upsert(sf, batch, all_or_none=False)
    assert record_errors(results) == [
        duplicate,
        None,
        ("DUPLICATE_VALUE", "Duplicate external id specified: DUP", [EXT]),
    ]
    assert results[1]["created"] is True and task_count(sf) == 1

    rolled_back = upsert(sf, [message("other", people["contact"]), *batch[::2]], all_or_none=True)
    assert [e[0] if e else None for e in record_errors(rolled_back)] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "DUPLICATE_VALUE",
        "DUPLICATE_VALUE",
    ]
    assert task_count(sf) == 1


def test_an_external_id_matching_two_records(
    sf: Salesforce, sf_admin: AdminClient, people: dict[str, str]
) -> None:
    # an org where the field is an external id but not unique can hold the same value twice
    sf_admin.load({"FieldDefinition": [{"sobject": "Task", "name": EXT, "unique": False}]})
    twins = load_ids(
        sf_admin, "Task", [{EXT: "twin", "WhoId": people["contact"]}, {EXT: "TWIN", "WhoId": people["lead"]}]
    )

    with pytest.raises(SalesforceMoreThanOneRecord) as err:
        sf.Task.upsert(f"{EXT}/twin", {"Description": "which one?"})
    assert err.value.status == 300
    assert sorted(err.value.content) == sorted(f"/services/data/v59.0/sobjects/Task/{i}" for i in twins)
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Task.get_by_custom_id(EXT, "twin")

    [result] = upsert(sf, [message("twin", people["contact"])], all_or_none=False)
    assert record_errors([result]) == [
        (
            "DUPLICATE_EXTERNAL_ID",
            f"Heymarket Message Id: more than one record found for external id field: [{', '.join(twins)}]",
            [EXT],
        )
    ]
    job = sf.bulk2.Task.upsert(records=[{EXT: "twin", "Description": "x"}], external_id_field=EXT, wait=0)
    [failed] = rows(sf.bulk2.Task.get_failed_records(job[0]["job_id"]))
    assert failed["sf__Error"].startswith("DUPLICATE_EXTERNAL_ID:Heymarket Message Id: more than one record")
    assert task_count(sf) == 2


# --- Bulk --------------------------------------------------------------------------------------------


def test_bulk2_upsert_job_results_and_rerun(
    sf: Salesforce, sf_admin: AdminClient, people: dict[str, str]
) -> None:
    existing = upsert(sf, [message("b-0", people["contact"], "before")])[0]["id"]
    records = [
        {EXT: "b-0", "WhoId": people["contact"], "Status": "Completed", "Description": "after"},
        {EXT: "b-1", "WhoId": people["lead"], "Status": "Completed", "Description": "new"},
        {EXT: "b-2", "WhoId": people["account"], "Status": "Completed", "Description": "wrong who"},
        {EXT: "b-3", "WhoId": people["contact"], "Status": "Completed", "Description": "twice"},
        {EXT: "b-3", "WhoId": people["contact"], "Status": "Completed", "Description": "twice"},
    ]
    [result] = sf.bulk2.Task.upsert(records=records, external_id_field=EXT, wait=0)
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (5, 3)
    job = sf.restful(f"jobs/ingest/{result['job_id']}")
    assert (job["state"], job["operation"], job["object"], job["externalIdFieldName"]) == (
        "JobComplete",
        "upsert",
        "Task",
        EXT,
    )
    ok = {r[EXT]: r for r in rows(sf.bulk2.Task.get_successful_records(result["job_id"]))}
    assert {k: (r["sf__Created"], r["Description"]) for k, r in ok.items()} == {
        "b-0": ("false", "after"),
        "b-1": ("true", "new"),
    }
    assert ok["b-0"]["sf__Id"] == existing
    failed = sorted(rows(sf.bulk2.Task.get_failed_records(result["job_id"])), key=lambda r: r["Description"])
    assert [(r["sf__Id"], r["sf__Error"]) for r in failed] == [
        ("", "DUPLICATE_VALUE:Duplicate external id specified: b-3:Heymarket_Message_Id__c --"),
        ("", "DUPLICATE_VALUE:Duplicate external id specified: b-3:Heymarket_Message_Id__c --"),
        ("", f"FIELD_INTEGRITY_EXCEPTION:Name ID: id value of incorrect type: {people['account']}:WhoId --"),
    ]

    rerun = [r for r in records if r[EXT] in ("b-0", "b-1")]
    [again] = sf.bulk2.Task.upsert(records=rerun, external_id_field=EXT, wait=0)
    assert again["numberRecordsFailed"] == 0
    assert {r["sf__Created"] for r in rows(sf.bulk2.Task.get_successful_records(again["job_id"]))} == {
        "false"
    }
    assert task_count(sf) == 2

    # an upsert job needs the external id as a column: the job fails as a whole
    with pytest.raises(SalesforceOperationError) as failure:
        sf.bulk2.Task.upsert(records=[{"Description": "no key"}], external_id_field=EXT, wait=0)
    assert f"InvalidBatch : Field name not found : {EXT}" in str(failure.value)

    # Bulk 2.0 query and queryAll on Task
    sf.Task.delete(existing)
    pages = list(sf.bulk2.Task.query(f"SELECT Id, WhoId, Who.Type, {EXT} FROM Task", wait=0))
    assert [(r[EXT], r["Who.Type"]) for p in pages for r in rows(p)] == [("b-1", "Lead")]
    everything = list(
        sf.bulk2.Task.query_all(f"SELECT Id, IsDeleted, {EXT} FROM Task ORDER BY {EXT}", wait=0)
    )
    assert [(r[EXT], r["IsDeleted"]) for p in everything for r in rows(p)] == [
        ("b-0", "true"),
        ("b-1", "false"),
    ]
    assert [(d["sobject"], d["id"]) for d in sf_admin.dump()["Deleted"]] == [("Task", existing)]


def test_bulk1_upsert_on_the_external_id(sf: Salesforce, people: dict[str, str]) -> None:
    records = [
        {EXT: "v1-1", "WhoId": people["contact"], "Status": "Completed"},
        {EXT: "v1-2", "WhoId": people["lead"], "Status": "Completed"},
        {EXT: "v1-2", "WhoId": people["lead"], "Status": "Completed"},
    ]
    results = sf.bulk.Task.upsert(records, EXT, batch_size=100)
    assert [(r["success"], r["created"]) for r in results] == [(True, True), (False, False), (False, False)]
    assert results[1]["errors"] == [
        {"statusCode": "DUPLICATE_VALUE", "message": "Duplicate external id specified: v1-2", "fields": [EXT]}
    ]
    again = sf.bulk.Task.upsert(records[:2], EXT, batch_size=100)
    assert [(r["success"], r["created"]) for r in again] == [(True, False), (True, True)]
    assert again[0]["id"] == results[0]["id"]


# --- an org without the external id field, or with a wrong one ----------------------------------------


def test_an_org_without_the_external_id_field(
    hook: SalesforceHook, sf: Salesforce, sf_admin: AdminClient, people: dict[str, str]
) -> None:
    sf_admin.delete_field("Task", EXT)
    assert EXT not in hook.get_available_fields("Task")

    with pytest.raises(SalesforceMalformedRequest) as err:
        upsert(sf, [message("m-1", people["contact"])])
    assert err.value.content == [
        {
            "message": f"Field name provided, {EXT} is not an External ID or indexed field for Task",
            "errorCode": "INVALID_FIELD",
        }
    ]
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Task.upsert(f"{EXT}/m-1", {"WhoId": people["contact"]})
    assert err.value.content[0] == {
        "message": f"Provided external ID field does not exist or is not accessible: {EXT}",
        "errorCode": "NOT_FOUND",
    }
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful(
            "jobs/ingest",
            method="POST",
            json={"object": "Task", "operation": "upsert", "externalIdFieldName": EXT, "contentType": "CSV"},
        )
    assert err.value.content[0]["errorCode"] == "INVALIDJOB"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query(f"SELECT COUNT() FROM Task WHERE {EXT} = 'm-1'")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Task.create({"WhoId": people["contact"], EXT: "m-1"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"

    # upserting on a field that exists but is no external id gets the same answers
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects/Task/Subject", method="PATCH", json={"records": [message("x", None)]})
    assert err.value.content[0]["message"] == (
        "Field name provided, Subject is not an External ID or indexed field for Task"
    )
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.upsert("Subject/Call", {"WhoId": people["contact"]})

        # the dump says so, and loads back into a fresh org
    definitions = sf_admin.dump()["FieldDefinition"]
    assert definitions == [{"sobject": "Task", "name": EXT, "deleted": True}]
    sf_admin.reset()
    assert EXT in hook.get_available_fields("Task")
    sf_admin.load({"FieldDefinition": definitions})
    assert EXT not in hook.get_available_fields("Task")

    # an admin adds it back (a setup check's fix); standard fields cannot be deleted
    sf_admin.load(
        {
            "FieldDefinition": [
                {
                    "sobject": "Task",
                    "name": EXT,
                    "type": "string",
                    "length": 255,
                    "externalId": True,
                    "unique": True,
                }
            ]
        }
    )
    contact = load_ids(sf_admin, "Contact", [{"LastName": "Back"}])[0]  # the reset emptied the org
    assert upsert(sf, [message("m-1", contact)])[0]["created"] is True
    with pytest.raises(AdminCallError) as refused:
        sf_admin.load({"FieldDefinition": [{"sobject": "Task", "name": "Subject", "deleted": True}]})
    assert refused.value.status == 400 and "standard field" in str(refused.value)
    with pytest.raises(AdminCallError):
        sf_admin.load(
            {"FieldDefinition": [{"sobject": "Task", "name": EXT, "deleted": True, "type": "string"}]}
        )


@pytest.mark.parametrize(
    ("change", "described"),
    [
        ({"externalId": False}, {"externalId": False, "idLookup": False, "unique": True}),
        ({"unique": False}, {"externalId": True, "unique": False}),
        ({"type": "double", "precision": 18, "scale": 0}, {"type": "double", "externalId": True}),
        ({"caseSensitive": True}, {"caseSensitive": True}),
    ],
)
def test_a_wrong_external_id_field_shows_in_describe(
    hook: SalesforceHook,
    sf: Salesforce,
    sf_admin: AdminClient,
    people: dict[str, str],
    change: dict[str, Any],
    described: dict[str, Any],
) -> None:
    sf_admin.load({"FieldDefinition": [{"sobject": "Task", "name": EXT, **change}]})
    field = {f["name"]: f for f in hook.describe_object("Task")["fields"]}[EXT]
    assert {k: field[k] for k in described} == described
    if not field["externalId"]:
        with pytest.raises(SalesforceMalformedRequest) as err:
            upsert(sf, [message("m-1", people["contact"])])
        assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    elif field["type"] == "double":
        assert upsert(sf, [message("1234", people["contact"])])[0]["created"] is True
        assert upsert(sf, [message("1234.0", people["contact"])])[0]["created"] is False
    elif field["caseSensitive"]:
        upsert(sf, [message("abc", people["contact"])])
        assert upsert(sf, [message("ABC", people["contact"])])[0]["created"] is True
        assert task_count(sf) == 2


# --- reading --------------------------------------------------------------------------------------------


def test_soql_on_tasks(hook: SalesforceHook, sf: Salesforce, people: dict[str, str]) -> None:
    upsert(
        sf,
        [
            message("q-1", people["contact"]),
            message("q-2", people["contact"], Status="In Progress"),
            message("q-3", people["lead"]),
        ],
    )
    assert task_count(sf, f"WHERE {EXT} = 'q-1'") == 1
    assert task_count(sf, f"WHERE {EXT} IN ('q-1', 'Q-3', 'nope')") == 2
    assert task_count(sf, f"WHERE WhoId = '{people['contact']}' AND IsClosed = true") == 1
    assert task_count(sf, "WHERE Who.Type = 'Lead'") == 1

    records = hook.make_query(
        f"SELECT Id, WhoId, Who.Type, Who.Name, Owner.Alias, {EXT} FROM Task ORDER BY {EXT}"
    )["records"]
    assert [(r[EXT], r["Who"]["Type"], r["Who"]["Name"]) for r in records] == [
        ("q-1", "Contact", "Ann Lee"),
        ("q-2", "Contact", "Ann Lee"),
        ("q-3", "Lead", "Ng"),
    ]
    assert records[0]["Who"]["attributes"] == {
        "type": "Name",
        "url": f"/services/data/v59.0/sobjects/Contact/{people['contact']}",
    }
    assert records[0]["Owner"]["Alias"] == "integ"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Task WHERE Description = 'x'")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"  # long text areas cannot be filtered
    mine = sf.query("SELECT COUNT() FROM Task USING SCOPE mine")["totalSize"]
    assert mine == 3


# --- control interface and lifecycle -----------------------------------------------------------------


def test_admin_load_and_dump_of_tasks(sf: Salesforce, sf_admin: AdminClient, people: dict[str, str]) -> None:
    loaded = sf_admin.load(
        {
            "Task": [
                {EXT: "l-1", "WhoId": people["contact"], "Status": "Completed", "Subject": "SMS"},
                {EXT: "l-2", "WhoId": people["lead"], "IsDeleted": True},
            ]
        }
    )
    assert loaded == {"Task": 2}
    tasks = {t[EXT]: t for t in sf_admin.dump()["Task"]}
    assert tasks["l-1"]["Status"] == "Completed" and tasks["l-1"]["CompletedDateTime"] is not None
    assert tasks["l-2"]["Status"] == "Not Started" and tasks["l-2"]["Priority"] == "Normal"
    assert tasks["l-2"]["IsDeleted"] is True and "IsClosed" not in tasks["l-1"]  # calculated: left out
    assert task_count(sf) == 1
    assert upsert(sf, [message("l-1", people["contact"])])[0]["created"] is False

    with pytest.raises(AdminCallError) as err:
        sf_admin.load({"Task": [{EXT: "l-1", "WhoId": people["contact"]}]})
    assert "unique" in str(err.value)
    with pytest.raises(AdminCallError) as err:
        sf_admin.load({"Task": [{"IsClosed": True}]})
    assert "calculated" in str(err.value)


def test_lifecycle_events_carry_tasks_along(
    sf: Salesforce, sf_admin: AdminClient, people: dict[str, str]
) -> None:
    other = load_ids(sf_admin, "Contact", [{"LastName": "Twin", "Phone": "+14155550100"}])[0]
    ids = [
        r["id"]
        for r in upsert(
            sf,
            [
                message("c-1", people["contact"]),
                message("c-2", other),
                message("c-3", people["lead"]),
                message("c-4", people["contact"]),
            ],
        )
    ]
    sf.Task.delete(ids[3])  # deleted on its own before its Contact

    # a deleted Contact's Tasks go to the recycle bin with it, and come back with it
    sf.Contact.delete(people["contact"])
    assert task_count(sf) == 2
    binned = sf.query_all("SELECT Id FROM Task WHERE IsDeleted = true", include_deleted=True)["records"]
    assert {r["Id"] for r in binned} == {ids[0], ids[3]}
    sf_admin.undelete([people["contact"]])
    assert {r["Id"] for r in sf.query_all("SELECT Id FROM Task")["records"]} == {ids[0], ids[1], ids[2]}

    # a merge moves the victim's Tasks to the master
    sf_admin.merge("Contact", people["contact"], [other])
    assert sf.Task.get(ids[1])["WhoId"] == people["contact"]

    # a conversion moves the Lead's Tasks to the Contact and its Account
    result = sf_admin.convert(people["lead"])
    moved = sf.Task.get(ids[2])
    assert (moved["WhoId"], moved["WhatId"]) == (result["contactId"], result["accountId"])
    assert upsert(sf, [message("c-3", people["lead"])], all_or_none=False)[0]["errors"][0]["statusCode"] == (
        "CANNOT_UPDATE_CONVERTED_LEAD"
    )
    assert upsert(sf, [message("c-3", result["contactId"])])[0]["created"] is False


def test_undelete_is_refused_when_a_binned_tasks_external_id_was_taken(
    sf: Salesforce, sf_admin: AdminClient, people: dict[str, str]
) -> None:
    [binned] = [r["id"] for r in upsert(sf, [message("u-1", people["contact"])])]
    sf.Contact.delete(people["contact"])
    # meanwhile the message is written again, on the Lead: a new Task with the same external id
    [taken] = [r["id"] for r in upsert(sf, [message("u-1", people["lead"])])]
    assert taken != binned

    with pytest.raises(AdminCallError) as err:
        sf_admin.undelete([people["contact"]])
    assert err.value.status == 400
    assert err.value.body["results"][0]["errors"][0] == {
        "statusCode": "DUPLICATE_VALUE",
        "message": f"duplicate value found: {EXT} duplicates value on record with id: {taken}",
        "fields": [EXT],
    }
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0  # nothing changed
    assert task_count(sf) == 1
