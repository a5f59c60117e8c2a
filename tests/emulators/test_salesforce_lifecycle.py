"""Record lifecycle events (undelete, merge, lead conversion, purge) made on the emulator's control
interface, and what the sync can observe of them afterwards through the unmodified provider
``SalesforceHook`` and simple-salesforce over HTTPS: query/queryAll, the updated/deleted feeds,
describe, sObject Collections, Bulk 2.0 and 1.0, list views."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from emulators.common.client import AdminCallError, AdminClient

if TYPE_CHECKING:  # Airflow is imported inside the tests, after conftest set AIRFLOW_HOME
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

CONVERTED = [
    {"message": "cannot reference converted lead", "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD", "fields": []}
]
CONVERTED_RECORD_ERROR = {
    "statusCode": "CANNOT_UPDATE_CONVERTED_LEAD",
    "message": "cannot reference converted lead",
    "fields": [],
}


@pytest.fixture
def hook(salesforce_conn: str, sf_admin: AdminClient) -> SalesforceHook:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    return SalesforceHook(salesforce_conn_id=salesforce_conn)


@pytest.fixture
def sf(hook: SalesforceHook) -> Salesforce:
    return hook.get_conn()


def refused(call: Callable[[], Any]) -> AdminCallError:
    with pytest.raises(AdminCallError) as err:
        call()
    return err.value


def first_error(err: AdminCallError) -> tuple[int, str, str]:
    """(HTTP status, statusCode, message) of the record error that made a lifecycle call fail."""
    results = err.body.get("results", [err.body])
    errors = [
        e for r in results for e in r["errors"] if e["statusCode"] != "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    ]
    return err.status, errors[0]["statusCode"], errors[0]["message"]


def load_ids(sf_admin: AdminClient, sobject: str, records: list[dict[str, Any]]) -> list[str]:
    """Load *records* and return their new ids, in load order."""
    before = {r["Id"] for r in sf_admin.dump()[sobject]}
    sf_admin.load({sobject: records})
    return [r["Id"] for r in sf_admin.dump()[sobject] if r["Id"] not in before]


def window() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return now - dt.timedelta(minutes=10), now + dt.timedelta(minutes=5)


def newest_stamp(hook: SalesforceHook, sobject: str) -> str:
    rows = hook.make_query(
        f"SELECT SystemModstamp FROM {sobject} ORDER BY SystemModstamp DESC LIMIT 1", include_deleted=True
    )["records"]
    return rows[0]["SystemModstamp"]


# --- undelete ------------------------------------------------------------------------------------


def test_undelete_brings_records_back_for_an_incremental_read(
    hook: SalesforceHook, sf: Salesforce, sf_admin: AdminClient
) -> None:
    back, stays = load_ids(sf_admin, "Contact", [{"LastName": "Back"}, {"LastName": "Stays"}])
    lead = load_ids(sf_admin, "Lead", [{"LastName": "Lee", "Company": "Acme"}])[0]
    account = load_ids(sf_admin, "Account", [{"Name": "Acme"}])[0]
    for sobject, record_id in (("Contact", back), ("Contact", stays), ("Lead", lead), ("Account", account)):
        sf.restful(f"sobjects/{sobject}/{record_id}", method="DELETE")
    watermark = newest_stamp(hook, "Contact")

    assert sf_admin.undelete([back, lead, account]) == {
        "results": [{"id": i, "success": True, "errors": []} for i in (back, lead, account)]
    }

    changed = hook.make_query(
        "SELECT Id, IsDeleted, LastModifiedDate, SystemModstamp FROM Contact "
        f"WHERE SystemModstamp > {watermark}"
    )["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in changed] == [(back, False)]  # same Id as before the delete
    assert changed[0]["LastModifiedDate"] == changed[0]["SystemModstamp"] > watermark
    assert sf.Contact.get(back)["LastName"] == "Back"
    assert sf.Lead.get(lead)["IsDeleted"] is False and sf.Account.get(account)["Name"] == "Acme"
    assert {r["Id"] for r in hook.make_query("SELECT Id FROM Contact")["records"]} == {back}

    start, end = window()
    assert back in sf.Contact.updated(start, end)["ids"]
    # the delete happened: the delete log keeps it (emulator choice, see the README)
    assert {d["id"] for d in sf.Contact.deleted(start, end)["deletedRecords"]} == {back, stays}


def test_undelete_refusals_change_nothing(sf: Salesforce, sf_admin: AdminClient) -> None:
    binned, live = load_ids(sf_admin, "Contact", [{"LastName": "Binned"}, {"LastName": "Live"}])
    sf.Contact.delete(binned)
    unknown = "003" + "0" * 12  # well formed, never made

    err = refused(lambda: sf_admin.undelete([binned, live]))
    assert first_error(err) == (400, "UNDELETE_FAILED", "Entity is not in the recycle bin")
    assert err.body["results"][0] == {
        "id": binned,
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was "
                "using AllOrNone header",
                "fields": [],
            }
        ],
    }
    assert "Entity is not in the recycle bin" in str(err) and live in str(err)
    assert (
        sf.query_all(f"SELECT IsDeleted FROM Contact WHERE Id = '{binned}'", include_deleted=True)["records"][
            0
        ]["IsDeleted"]
        is True
    )

    assert first_error(refused(lambda: sf_admin.undelete([unknown]))) == (
        404,
        "INVALID_CROSS_REFERENCE_KEY",
        "invalid cross reference id",
    )
    assert first_error(refused(lambda: sf_admin.undelete(["nope"])))[:2] == (400, "MALFORMED_ID")
    user_id = sf.query("SELECT Id FROM User")["records"][0]["Id"]
    assert first_error(refused(lambda: sf_admin.undelete([user_id])))[:2] == (
        400,
        "INVALID_TYPE_FOR_OPERATION",
    )
    # a unique value taken meanwhile by a live record blocks the undelete
    sf_admin.load(
        {"FieldDefinition": [{"sobject": "Contact", "name": "Badge__c", "type": "string", "unique": True}]}
    )
    sf.Contact.update(live, {"Badge__c": "B-1"})
    sf.Contact.delete(live)
    sf.Contact.create({"LastName": "Newcomer", "Badge__c": "B-1"})
    assert first_error(refused(lambda: sf_admin.undelete([live])))[:2] == (400, "DUPLICATE_VALUE")
    bad_body = refused(lambda: sf_admin._call("POST", "undelete", {"ids": []}))
    assert bad_body.status == 400 and "list of record id strings" in bad_body.body["detail"]


# --- merge ---------------------------------------------------------------------------------------


def test_merge_deletes_victims_with_master_record_id_and_updates_the_master(
    hook: SalesforceHook, sf: Salesforce, sf_admin: AdminClient
) -> None:
    master, victim, other = load_ids(
        sf_admin,
        "Contact",
        [
            {"LastName": "Master", "Phone": "+14155550100"},
            {"LastName": "Victim", "Phone": "+14155550101", "Email": "victim@example.com"},
            {"LastName": "Other", "Phone": "+14155550102"},
        ],
    )
    watermark = newest_stamp(hook, "Contact")

    result = sf_admin.merge(
        "Contact",
        master,
        [victim, other],
        master_values={"Phone": "+14155550101", "Email": "victim@example.com"},
    )
    assert result == {
        "id": master,
        "success": True,
        "errors": [],
        "mergedRecordIds": [victim, other],
        "updatedRelatedIds": [],
    }

    binned = hook.make_query(
        "SELECT Id, IsDeleted, MasterRecordId, SystemModstamp FROM Contact "
        "WHERE MasterRecordId != null ORDER BY LastName",
        include_deleted=True,
    )["records"]
    assert [(r["Id"], r["IsDeleted"], r["MasterRecordId"]) for r in binned] == [
        (other, True, master),
        (victim, True, master),
    ]
    live = hook.make_query("SELECT Id, MasterRecordId, Phone, Email, SystemModstamp FROM Contact")["records"]
    assert [(r["Id"], r["MasterRecordId"]) for r in live] == [(master, None)]  # null on normal records
    assert (live[0]["Phone"], live[0]["Email"]) == ("+14155550101", "victim@example.com")
    # one delete (the victims), then one update (the master): both after the watermark
    assert live[0]["SystemModstamp"] > max(r["SystemModstamp"] for r in binned) > watermark
    changed = hook.make_query(
        f"SELECT Id FROM Contact WHERE SystemModstamp > {watermark}", include_deleted=True
    )
    assert {r["Id"] for r in changed["records"]} == {master, victim, other}

    start, end = window()
    assert {d["id"] for d in sf.Contact.deleted(start, end)["deletedRecords"]} == {victim, other}
    assert master in sf.Contact.updated(start, end)["ids"]
    bulk_rows = [
        row
        for page in sf.bulk2.Contact.query_all(
            "SELECT Id, IsDeleted, MasterRecordId FROM Contact WHERE IsDeleted = true", wait=0
        )
        for row in csv.DictReader(io.StringIO(page))
    ]
    assert {(r["Id"], r["IsDeleted"], r["MasterRecordId"]) for r in bulk_rows} == {
        (victim, "true", master),
        (other, "true", master),
    }

    # the merge victim can be undeleted; its MasterRecordId stays (emulator choice, see the README)
    sf_admin.undelete([victim])
    assert sf.Contact.get(victim)["MasterRecordId"] == master


def test_master_record_id_is_a_read_only_reference(sf: Salesforce, sf_admin: AdminClient) -> None:
    for sobject in ("Contact", "Lead", "Account"):
        fields = {f["name"]: f for f in getattr(sf, sobject).describe()["fields"]}
        described = fields["MasterRecordId"]
        assert (described["type"], described["referenceTo"], described["relationshipName"]) == (
            "reference",
            [sobject],
            "MasterRecord",
        )
        assert described["createable"] is False and described["updateable"] is False
        assert described["nillable"] is True and described["filterable"] is True
    contact = sf.Contact.create({"LastName": "Plain"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.update(contact, {"MasterRecordId": contact})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_merging_accounts_moves_their_contacts(hook: SalesforceHook, sf_admin: AdminClient) -> None:
    keep, drop = load_ids(sf_admin, "Account", [{"Name": "Acme"}, {"Name": "Acme Inc"}])
    child = load_ids(sf_admin, "Contact", [{"LastName": "Child", "AccountId": drop}])[0]
    result = sf_admin.merge("Account", keep, [drop])
    assert result["mergedRecordIds"] == [drop] and result["updatedRelatedIds"] == [child]
    moved = hook.make_query(f"SELECT AccountId, Account.Name FROM Contact WHERE Id = '{child}'")["records"][0]
    assert moved["AccountId"] == keep and moved["Account"]["Name"] == "Acme"


def test_merge_refusals_change_nothing(sf: Salesforce, sf_admin: AdminClient) -> None:
    a, b, c, d, gone = load_ids(sf_admin, "Contact", [{"LastName": n} for n in "ABCDG"])
    lead = load_ids(sf_admin, "Lead", [{"LastName": "L", "Company": "X"}])[0]
    sf.Contact.delete(gone)
    before = sf_admin.dump()["Contact"]

    def merge_error(*args: Any, **kwargs: Any) -> tuple[int, str]:
        status, code, _message = first_error(refused(lambda: sf_admin.merge(*args, **kwargs)))
        return status, code

    assert merge_error("User", a, [b]) == (400, "INVALID_TYPE_FOR_OPERATION")
    assert merge_error("Opportunity", a, [b]) == (400, "INVALID_TYPE")
    assert merge_error("Contact", a, []) == (400, "REQUIRED_FIELD_MISSING")
    assert merge_error("Contact", a, [b, c, d]) == (400, "LIMIT_EXCEEDED")
    assert merge_error("Contact", a, [b, a]) == (400, "INVALID_ID_FIELD")
    assert merge_error("Contact", a, [b, b]) == (400, "INVALID_ID_FIELD")
    assert merge_error("Contact", a, [lead]) == (400, "MALFORMED_ID")
    assert merge_error("Lead", lead, [a]) == (400, "MALFORMED_ID")
    assert merge_error("Contact", a, [gone]) == (404, "ENTITY_IS_DELETED")
    assert merge_error("Contact", gone, [a]) == (404, "ENTITY_IS_DELETED")
    assert merge_error("Contact", a, ["003" + "0" * 12]) == (404, "INVALID_CROSS_REFERENCE_KEY")
    # master values are validated like any update, after the victims were deleted: all rolled back
    assert merge_error("Contact", a, [b], master_values={"Foo__c": 1}) == (400, "INVALID_FIELD")
    assert merge_error("Contact", a, [b], master_values={"Name": "x"}) == (
        400,
        "INVALID_FIELD_FOR_INSERT_UPDATE",
    )
    assert merge_error("Contact", a, [b], master_values={"LastName": "x" * 81}) == (400, "STRING_TOO_LONG")
    assert merge_error("Contact", a, [b], master_values={"LastName": None}) == (400, "REQUIRED_FIELD_MISSING")
    err = refused(lambda: sf_admin.merge("Contact", a, [b], master_values={"Email": "not-an-email"}))
    assert err.body["success"] is False and err.body["mergedRecordIds"] == []
    assert err.body["detail"].startswith(f"merge failed, nothing changed: {a}: INVALID_EMAIL_ADDRESS")
    assert sf_admin.dump()["Contact"] == before
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 4

    sf_admin.convert(lead)
    other_lead = load_ids(sf_admin, "Lead", [{"LastName": "M", "Company": "X"}])[0]
    assert merge_error("Lead", other_lead, [lead]) == (400, "CANNOT_UPDATE_CONVERTED_LEAD")
    missing_key = refused(lambda: sf_admin._call("POST", "merge", {"object": "Contact", "master_id": a}))
    assert missing_key.status == 400 and "missing keys ['victim_ids']" in missing_key.body["detail"]


# --- lead conversion ------------------------------------------------------------------------------


def test_conversion_creates_an_account_and_a_contact(
    hook: SalesforceHook, sf: Salesforce, sf_admin: AdminClient
) -> None:
    lead, other = load_ids(
        sf_admin,
        "Lead",
        [
            {
                "FirstName": "Ada",
                "LastName": "Ng",
                "Company": "Ng Analytics",
                "Email": "ada@example.com",
                "Phone": "+14155550134",
                "MobilePhone": "+14155550135",
                "City": "Oakland",
                "SMS_Opt_Out__c": True,
                "Preferred_Language__c": "es",
                "Lead_Score__c": 42,
            },
            {"LastName": "Open", "Company": "Still Open"},
        ],
    )
    watermark = newest_stamp(hook, "Lead")
    result = sf_admin.convert(lead)
    assert result["leadId"] == lead and result["opportunityId"] is None and result["success"] is True
    contact_id, account_id = result["contactId"], result["accountId"]
    assert contact_id.startswith("003") and account_id.startswith("001")

    converted = hook.make_query(
        "SELECT Id, IsConverted, ConvertedDate, ConvertedContactId, ConvertedAccountId, ConvertedOpportunityId, "
        f"Status, ConvertedContact.Phone FROM Lead WHERE SystemModstamp > {watermark}"
    )["records"]
    assert len(converted) == 1
    row = converted[0]
    assert (row["Id"], row["IsConverted"], row["Status"]) == (lead, True, "Closed - Converted")
    assert row["ConvertedDate"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert (row["ConvertedContactId"], row["ConvertedAccountId"], row["ConvertedOpportunityId"]) == (
        contact_id,
        account_id,
        None,
    )
    assert row["ConvertedContact"]["Phone"] == "+14155550134"

    contact = sf.Contact.get(contact_id)
    assert {
        k: contact[k] for k in ("FirstName", "LastName", "Email", "Phone", "MobilePhone", "MailingCity")
    } == {
        "FirstName": "Ada",
        "LastName": "Ng",
        "Email": "ada@example.com",
        "Phone": "+14155550134",
        "MobilePhone": "+14155550135",
        "MailingCity": "Oakland",
    }
    # same-named custom fields carry over; Lead_Score__c has no Contact twin
    assert contact["SMS_Opt_Out__c"] is True and contact["Preferred_Language__c"] == "es"
    assert contact["AccountId"] == account_id and contact["OwnerId"] == sf.Lead.get(lead)["OwnerId"]
    account = sf.Account.get(account_id)
    assert (account["Name"], account["Phone"], account["BillingCity"]) == (
        "Ng Analytics",
        "+14155550134",
        "Oakland",
    )

    assert [r["Id"] for r in hook.make_query("SELECT Id FROM Lead WHERE IsConverted = false")["records"]] == [
        other
    ]
    assert [r["Id"] for r in hook.make_query("SELECT Id FROM Lead WHERE IsConverted = true")["records"]] == [
        lead
    ]
    start, end = window()
    assert {lead, other} <= set(sf.Lead.updated(start, end)["ids"])
    assert {contact_id} <= set(sf.Contact.updated(start, end)["ids"])

    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    for name, kind in (
        ("IsConverted", "boolean"),
        ("ConvertedDate", "date"),
        ("ConvertedContactId", "reference"),
        ("ConvertedAccountId", "reference"),
        ("ConvertedOpportunityId", "reference"),
    ):
        assert (fields[name]["type"], fields[name]["createable"], fields[name]["updateable"]) == (
            kind,
            False,
            False,
        )
        assert fields[name]["filterable"] is True


def test_all_open_leads_list_view_leaves_converted_leads_out(
    hook: SalesforceHook, sf: Salesforce, sf_admin: AdminClient
) -> None:
    converted, open_lead = load_ids(
        sf_admin, "Lead", [{"LastName": "Gone", "Company": "A"}, {"LastName": "Open", "Company": "B"}]
    )
    sf_admin.convert(converted)
    views = {v["developerName"]: v for v in sf.restful("sobjects/Lead/listviews")["listviews"]}
    view_id = views["AllOpenLeads"]["id"]
    described = sf.restful(f"sobjects/Lead/listviews/{view_id}/describe")
    assert "WHERE IsConverted = false" in described["query"]
    assert described["whereCondition"] == {"field": "IsConverted", "operator": "equals", "values": ["false"]}
    # what the sync does: its own field list in front of the view's FROM ... clause
    soql = "SELECT Id, Phone " + described["query"][described["query"].index(" FROM ") + 1 :]
    assert [r["Id"] for r in hook.make_query(soql)["records"]] == [open_lead]
    results = sf.restful(f"sobjects/Lead/listviews/{view_id}/results")
    ids_shown = [
        c["value"] for rec in results["records"] for c in rec["columns"] if c["fieldNameOrPath"] == "Id"
    ]
    assert ids_shown == [open_lead]


def test_conversion_into_an_existing_contact_fills_only_its_empty_fields(
    sf: Salesforce, sf_admin: AdminClient
) -> None:
    account = load_ids(sf_admin, "Account", [{"Name": "Existing Co"}])[0]
    contact = load_ids(
        sf_admin,
        "Contact",
        [{"LastName": "Keeps", "FirstName": "Kim", "Phone": "+14155550200", "AccountId": account}],
    )[0]
    lead = load_ids(
        sf_admin,
        "Lead",
        [
            {
                "LastName": "Other",
                "FirstName": "Kimberly",
                "Company": "Lead Co",
                "Phone": "+14155550299",
                "MobilePhone": "+14155550201",
                "Email": "kim@example.com",
                "SMS_Opt_Out__c": True,
            }
        ],
    )[0]
    stamp_before = sf.Contact.get(contact)["SystemModstamp"]

    result = sf_admin.convert(lead, contact_id=contact)
    assert (result["contactId"], result["accountId"]) == (contact, account)  # the Contact's own Account
    merged = sf.Contact.get(contact)
    assert (merged["LastName"], merged["FirstName"], merged["Phone"]) == ("Keeps", "Kim", "+14155550200")
    assert (merged["MobilePhone"], merged["Email"], merged["SMS_Opt_Out__c"]) == (
        "+14155550201",
        "kim@example.com",
        True,
    )
    assert merged["SystemModstamp"] > stamp_before
    assert sf.Account.get(account)["Name"] == "Existing Co"  # not overwritten by Company
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1
    assert sf.Lead.get(lead)["ConvertedContactId"] == contact

    # a Contact without an Account: a new Account from Company, and the Contact's empty AccountId filled
    loner = load_ids(sf_admin, "Contact", [{"LastName": "Loner"}])[0]
    third = load_ids(sf_admin, "Lead", [{"LastName": "Third", "Company": "Loner Co"}])[0]
    result = sf_admin.convert(third, contact_id=loner)
    assert result["accountId"] != account and sf.Account.get(result["accountId"])["Name"] == "Loner Co"
    assert sf.Contact.get(loner)["AccountId"] == result["accountId"]

    # an Account without a Contact: a new Contact under it
    second = load_ids(sf_admin, "Lead", [{"LastName": "New", "Company": "Ignored", "Phone": "+14155550300"}])[
        0
    ]
    result = sf_admin.convert(second, account_id=account, converted_status="Closed - Converted")
    assert result["accountId"] == account
    created = sf.Contact.get(result["contactId"])
    assert (created["LastName"], created["AccountId"], created["Phone"]) == ("New", account, "+14155550300")


def test_conversion_refusals_change_nothing(sf: Salesforce, sf_admin: AdminClient) -> None:
    lead, deleted_lead, converted = load_ids(
        sf_admin, "Lead", [{"LastName": n, "Company": "Co"} for n in ("Lead", "Deleted", "Converted")]
    )
    sf.Lead.delete(deleted_lead)
    sf_admin.convert(converted)
    first_account, other_account = load_ids(sf_admin, "Account", [{"Name": "One"}, {"Name": "Two"}])
    contact, gone_contact = load_ids(
        sf_admin, "Contact", [{"LastName": "C", "AccountId": first_account}, {"LastName": "Gone"}]
    )
    sf.Contact.delete(gone_contact)
    before = sf_admin.dump()
    counts = {o: len(before[o]) for o in ("Lead", "Contact", "Account")}

    def convert_error(*args: Any, **kwargs: Any) -> tuple[int, str, str]:
        return first_error(refused(lambda: sf_admin.convert(*args, **kwargs)))

    assert convert_error(converted) == (
        400,
        "CANNOT_UPDATE_CONVERTED_LEAD",
        "cannot reference converted lead",
    )
    assert convert_error(deleted_lead) == (404, "ENTITY_IS_DELETED", "entity is deleted")
    assert convert_error("00Q" + "0" * 12)[:2] == (404, "INVALID_CROSS_REFERENCE_KEY")
    assert convert_error(contact)[:2] == (400, "MALFORMED_ID")
    assert convert_error(lead, converted_status="Working - Contacted")[:2] == (400, "INVALID_STATUS")
    assert convert_error(lead, contact_id=gone_contact)[:2] == (404, "ENTITY_IS_DELETED")
    assert convert_error(lead, contact_id=lead)[:2] == (400, "MALFORMED_ID")
    assert convert_error(lead, contact_id=contact, account_id=other_account)[:2] == (
        400,
        "INVALID_CROSS_REFERENCE_KEY",
    )
    # a Contact field an admin made required: the Account created first is rolled back too
    sf_admin.load(
        {
            "FieldDefinition": [
                {"sobject": "Contact", "name": "Region__c", "type": "string", "nillable": False}
            ]
        }
    )
    status, code, message = convert_error(lead)
    assert (status, code, message) == (
        400,
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [Region__c]",
    )
    after = sf_admin.dump()
    assert {o: len(after[o]) for o in ("Lead", "Contact", "Account")} == counts
    assert sf.Lead.get(lead)["IsConverted"] is False
    missing = refused(lambda: sf_admin._call("POST", "convert", {"contact_id": contact}))
    assert missing.status == 400 and "missing keys ['lead_id']" in missing.body["detail"]


def test_a_converted_lead_refuses_every_update(sf: Salesforce, sf_admin: AdminClient) -> None:
    sf_admin.load(
        {"FieldDefinition": [{"sobject": "Lead", "name": "Ext__c", "type": "string", "externalId": True}]}
    )
    converted, open_lead = load_ids(
        sf_admin,
        "Lead",
        [
            {"LastName": "Done", "Company": "A", "Ext__c": "done"},
            {"LastName": "Open", "Company": "B", "Ext__c": "open"},
        ],
    )
    sf_admin.convert(converted)

    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(converted, {"Title": "REST"})
    assert err.value.status == 400 and err.value.content == CONVERTED
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(converted, {"Nope__c": "x"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"  # field checks come first
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.upsert("Ext__c/done", {"Title": "upsert"})
    assert err.value.content == CONVERTED

    collections = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Lead"}, "id": converted, "Title": "Collections"},
                {"attributes": {"type": "Lead"}, "id": open_lead, "Title": "Collections"},
            ],
        },
    )
    assert collections == [
        {"success": False, "errors": [CONVERTED_RECORD_ERROR]},
        {"id": open_lead, "success": True, "errors": []},
    ]
    upserts = sf.restful(
        "composite/sobjects/Lead/Ext__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Lead"}, "Ext__c": "done", "Title": "x"}],
        },
    )
    assert upserts == [{"success": False, "errors": [CONVERTED_RECORD_ERROR]}]

    bulk = sf.bulk2.Lead.update(
        records=[{"Id": converted, "Title": "Bulk2"}, {"Id": open_lead, "Title": "Bulk2"}], wait=0
    )
    assert bulk[0]["numberRecordsFailed"] == 1 and bulk[0]["numberRecordsProcessed"] == 2
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_failed_records(bulk[0]["job_id"]))))
    assert [(r["sf__Id"], r["sf__Error"]) for r in failed] == [
        (converted, "CANNOT_UPDATE_CONVERTED_LEAD:cannot reference converted lead: --")
    ]
    bulk_upsert = sf.bulk2.Lead.upsert(
        records=[{"Ext__c": "done", "Title": "Bulk2"}], external_id_field="Ext__c", wait=0
    )
    assert bulk_upsert[0]["numberRecordsFailed"] == 1
    bulk1 = sf.bulk.Lead.update([{"Id": converted, "Title": "Bulk1"}])
    assert bulk1 == [
        {"success": False, "created": False, "id": converted, "errors": [CONVERTED_RECORD_ERROR]}
    ]

    lead = sf.Lead.get(converted)
    assert lead["Title"] is None and lead["IsConverted"] is True
    assert sf.Lead.get(open_lead)["Title"] == "Bulk2"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"LastName": "X", "Company": "Y", "IsConverted": True})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    # deleting a converted Lead is allowed (emulator choice, see the README)
    assert sf.Lead.delete(converted) == 204


# --- purge ---------------------------------------------------------------------------------------


def test_purge_empties_the_recycle_bin(hook: SalesforceHook, sf: Salesforce, sf_admin: AdminClient) -> None:
    purged, live = load_ids(sf_admin, "Contact", [{"LastName": "Purged"}, {"LastName": "Live"}])
    sf.Contact.delete(purged)
    assert sf_admin.purge([purged]) == {"results": [{"id": purged, "success": True, "errors": []}]}
    everything = hook.make_query("SELECT Id FROM Contact", include_deleted=True)["records"]
    assert [r["Id"] for r in everything] == [live]
    start, end = window()
    assert [d["id"] for d in sf.Contact.deleted(start, end)["deletedRecords"]] == [purged]
    assert first_error(refused(lambda: sf_admin.undelete([purged])))[:2] == (
        404,
        "INVALID_CROSS_REFERENCE_KEY",
    )
    assert first_error(refused(lambda: sf_admin.purge([live]))) == (
        400,
        "INVALID_ID_FIELD",
        "Entity is not in the recycle bin",
    )
