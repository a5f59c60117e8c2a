"""Pure unit tests of salesforce_access: SOQL building/rewriting, describe reduction, budget, error
classification, write chunking/matching and call classification. No network."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from salesforce_access import errors
from salesforce_access.budget import ApiBudget, budget_from_header, budget_from_limits, ensure_budget
from salesforce_access.calls import endpoint_kind
from salesforce_access.metadata import ObjectMetadata
from salesforce_access.soql import (
    and_conditions,
    build_query,
    check_field_name,
    check_record_id,
    chunked,
    created_since_condition,
    id_in_condition,
    modstamp_condition,
    parse_sf_datetime,
    rewrite_query,
    soql_datetime,
    split_clauses,
    value_in_condition,
)
from salesforce_access.writes import (
    BulkOutcome,
    RecordWriter,
    WriteOp,
    bulk_rows,
    collection_request,
    match_bulk_results,
    parse_bulk_error,
)

ID1, ID2, ID3 = "003000000000001AAA", "003000000000002AAA", "003000000000003AAA"

# ------------------------------------------------------------------------------------------------- SOQL


def test_soql_datetime_is_unquoted_utc_with_z_and_refuses_naive() -> None:
    moment = datetime(2024, 5, 1, 2, 3, 4, 987654, tzinfo=timezone(timedelta(hours=2)))
    assert soql_datetime(moment) == "2024-05-01T00:03:04Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        soql_datetime(datetime(2024, 5, 1))


def test_modstamp_condition_subtracts_the_overlap() -> None:
    since = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert modstamp_condition(since, timedelta(minutes=5)) == "SystemModstamp > 2024-05-01T11:55:00Z"


def test_parse_sf_datetime_handles_rest_and_z_forms() -> None:
    expected = datetime(2013, 5, 20, 20, 49, 32, tzinfo=UTC)
    assert parse_sf_datetime("2013-05-20T20:49:32.000+0000") == expected
    assert parse_sf_datetime("2013-05-20T20:49:32Z") == expected
    assert parse_sf_datetime("2013-05-20T13:49:32.000-0700") == expected


def test_ids_and_names_are_validated_and_quoted() -> None:
    assert id_in_condition([ID1, ID2]) == f"Id IN ('{ID1}','{ID2}')"
    with pytest.raises(ValueError, match="not a Salesforce record id"):
        check_record_id("003' OR Name != '")
    with pytest.raises(ValueError, match="not a valid Salesforce field name"):
        check_field_name("Phone, (SELECT Id FROM Cases)")
    assert check_field_name("Owner.Email") == "Owner.Email"


def test_value_in_and_created_since_conditions_quote_and_validate() -> None:
    assert value_in_condition("MobilePhone", ["+14155550100", "a'b\\c"]) == (
        "MobilePhone IN ('+14155550100','a\\'b\\\\c')")
    with pytest.raises(ValueError, match="not a valid Salesforce field name"):
        value_in_condition("Phone) OR (Id", ["+1"])
    with pytest.raises(ValueError, match="at least one value"):
        value_in_condition("Phone", [])
    since = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone(timedelta(hours=2)))
    assert created_since_condition(since) == "CreatedDate >= 2026-01-02T01:04:05Z"


def test_chunked_and_and_conditions() -> None:
    assert list(chunked([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert and_conditions(None, "A = 1", "") == "A = 1"
    assert and_conditions("A = 1 OR B = 2", "C = 3") == "(A = 1 OR B = 2) AND (C = 3)"
    assert and_conditions(None, None) is None


def test_build_query_dedupes_fields() -> None:
    soql = build_query("Contact", ["Id", "Phone", "id", "Email"], "Phone != null", "Id", 10)
    assert soql == "SELECT Id, Phone, Email FROM Contact WHERE Phone != null ORDER BY Id LIMIT 10"


LIST_VIEW_QUERY = (
    "SELECT Name, Account.Name, toLabel(Title), Id, (SELECT Id FROM Cases WHERE Subject = 'x') "
    "FROM Contact USING SCOPE everything "
    "WHERE MailingState = 'CA' OR (Description LIKE '% FROM Lead ORDER BY Name%' AND Title = 'It\\'s WHERE') "
    "WITH SECURITY_ENFORCED ORDER BY Name ASC NULLS FIRST, Id ASC NULLS FIRST LIMIT 500"
)


def test_split_clauses_ignores_keywords_in_literals_and_subqueries() -> None:
    clauses = split_clauses(LIST_VIEW_QUERY).clauses
    assert list(clauses) == ["SELECT", "FROM", "USING SCOPE", "WHERE", "WITH", "ORDER BY", "LIMIT"]
    assert clauses["FROM"] == "Contact"
    assert clauses["USING SCOPE"] == "everything"
    assert clauses["WHERE"].endswith("Title = 'It\\'s WHERE')")
    assert clauses["ORDER BY"] == "Name ASC NULLS FIRST, Id ASC NULLS FIRST"


def test_rewrite_puts_our_fields_first_and_ands_our_condition_in_parentheses() -> None:
    soql = rewrite_query(
        LIST_VIEW_QUERY, ["Id", "Phone", "SystemModstamp"], "SystemModstamp > 2024-01-01T00:00:00Z"
    )
    assert soql == (
        "SELECT Id, Phone, SystemModstamp FROM Contact USING SCOPE everything "
        "WHERE (MailingState = 'CA' OR (Description LIKE '% FROM Lead ORDER BY Name%' AND "
        "Title = 'It\\'s WHERE')) AND (SystemModstamp > 2024-01-01T00:00:00Z) "
        "WITH SECURITY_ENFORCED ORDER BY Name ASC NULLS FIRST, Id ASC NULLS FIRST LIMIT 500"
    )


def test_rewrite_replaces_the_ordering_when_we_give_one_and_adds_a_where() -> None:
    soql = rewrite_query("select Name from Lead order by Name", ["Id"], f"Id IN ('{ID1}')", order_by="Id")
    assert soql == f"SELECT Id FROM Lead WHERE Id IN ('{ID1}') ORDER BY Id"
    assert rewrite_query("SELECT Name FROM Lead", ["Id"]) == "SELECT Id FROM Lead"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT Id FROM Contact WHERE Name = 'open", "unterminated string"),
        ("SELECT Id FROM Contact WHERE (Name = 'a'", "unbalanced"),
        ("Id FROM Contact", "does not start with SELECT"),
        ("SELECT Id FROM Lead", "queries Lead, not Contact"),
        ("SELECT COUNT(Id), MailingState FROM Contact GROUP BY MailingState", "GROUP BY"),
    ],
)
def test_rewrite_refuses_what_it_cannot_cut_safely(query: str, message: str) -> None:
    with pytest.raises(errors.SoqlRewriteError, match=message):
        rewrite_query(query, ["Id"], expected_object="Contact")


# --------------------------------------------------------------------------------------------- describe

LEAD_DESCRIBE = {
    "name": "Lead",
    "label": "Lead",
    "fields": [
        {"name": "Id", "type": "id", "nillable": False, "createable": False, "updateable": False},
        {
            "name": "LastName",
            "type": "string",
            "nillable": False,
            "createable": True,
            "updateable": True,
            "compoundFieldName": "Name",
        },
        {"name": "Company", "type": "string", "nillable": False, "createable": True, "updateable": True},
        {
            "name": "Status",
            "type": "picklist",
            "nillable": False,
            "createable": True,
            "updateable": True,
            "defaultedOnCreate": True,
        },
        {"name": "Phone", "type": "phone", "nillable": True, "createable": True, "updateable": True},
        {"name": "MobilePhone", "type": "phone", "nillable": True, "createable": True, "updateable": True},
        {"name": "Address", "type": "address", "nillable": True, "createable": False, "updateable": False},
        {"name": "Score__c", "type": "double", "nillable": True, "calculated": True},
        {
            "name": "OwnerId",
            "type": "reference",
            "nillable": False,
            "createable": True,
            "updateable": True,
            "defaultedOnCreate": True,
            "referenceTo": ["User", "Group"],
        },
        {"name": "SystemModstamp", "type": "datetime", "nillable": False},
    ],
}


def test_describe_reduction_phone_and_required_fields() -> None:
    meta = ObjectMetadata.from_describe(LEAD_DESCRIBE)
    assert meta.phone_fields() == ["Phone", "MobilePhone"]
    assert meta.required_on_create() == ["LastName", "Company"]
    assert meta.field("lastname").compound_field_name == "Name"
    assert meta.field("OwnerId").reference_to == ("User", "Group")
    assert meta.field("Nope") is None


def test_unmappable_reasons() -> None:
    meta = ObjectMetadata.from_describe(LEAD_DESCRIBE)
    assert meta.is_mappable("Company")
    assert "formula" in meta.unmappable_reasons("Score__c")[0]
    assert "map its parts" in meta.unmappable_reasons("Address")[0]
    assert "REFERENCE" in meta.unmappable_reasons("OwnerId")[0]
    assert meta.unmappable_reasons("Foo__c") == ["Lead has no field 'Foo__c'"]
    assert any("read-only" in r for r in meta.unmappable_reasons("SystemModstamp"))
    assert not any("read-only" in r for r in meta.unmappable_reasons("SystemModstamp", to_salesforce=False))


# ----------------------------------------------------------------------------------------------- budget


def test_budget_sources_and_exhaustion_message() -> None:
    assert budget_from_limits({"DailyApiRequests": {"Max": 15000, "Remaining": 14990}}) == ApiBudget(
        10, 15000
    )
    assert budget_from_header("api-usage=18/15000; per-app-api-usage=1/250(appName=x)") == ApiBudget(
        18, 15000, "header"
    )
    assert budget_from_header(None) is None
    with pytest.raises(errors.BudgetExhausted, match="14,990 of 15,000 requests used, 10 left") as caught:
        ensure_budget(ApiBudget(14990, 15000), 100)
    assert (caught.value.used, caught.value.limit, caught.value.min_remaining) == (14990, 15000, 100)
    assert ensure_budget(ApiBudget(10, 15000), 100).remaining == 14990


# ------------------------------------------------------------------------------------------------ errors


def _sf_error(cls: type, status: int, code: str | None) -> Exception:
    content = [{"errorCode": code, "message": f"{code} happened"}] if code else "gateway"
    return cls("https://x/services/data/v59.0/query/", status, "query", content)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_sf_error(SalesforceGeneralError, 500, "UNKNOWN_EXCEPTION"), errors.TransientSalesforceError),
        (_sf_error(SalesforceGeneralError, 503, None), errors.TransientSalesforceError),
        (_sf_error(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED"), errors.BudgetExhausted),
        (
            SalesforceRefusedRequest(
                "u",
                403,
                "q",
                [
                    {
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                        "message": "ConcurrentPerOrgLongTxn Limit exceeded.",
                    }
                ],
            ),
            errors.TransientSalesforceError,
        ),
        (_sf_error(SalesforceGeneralError, 409, "UNABLE_TO_LOCK_ROW"), errors.TransientSalesforceError),
        (_sf_error(SalesforceRefusedRequest, 403, "INSUFFICIENT_ACCESS"), errors.SalesforceRequestError),
        (_sf_error(SalesforceMalformedRequest, 400, "MALFORMED_QUERY"), errors.SalesforceRequestError),
        (_sf_error(SalesforceResourceNotFound, 404, "NOT_FOUND"), errors.SalesforceRequestError),
        (_sf_error(SalesforceExpiredSession, 401, "INVALID_SESSION_ID"), errors.SessionExpiredError),
        (SalesforceAuthenticationFailed("INVALID_LOGIN", "Invalid username"), errors.SalesforceAuthError),
        (SalesforceAuthenticationFailed(503, "down"), errors.TransientSalesforceError),
        (requests.ConnectionError("refused"), errors.TransientSalesforceError),
    ],
)
def test_classify_status_table(raw: Exception, expected: type) -> None:
    typed = errors.classify(raw, "query Contact")
    assert type(typed) is expected
    assert "query Contact" in str(typed)


def test_only_explicit_refusals_count_as_not_applied() -> None:
    assert errors.is_refused_transiently(_sf_error(SalesforceGeneralError, 409, "UNABLE_TO_LOCK_ROW"))
    assert errors.is_refused_transiently(_sf_error(SalesforceGeneralError, 429, "REQUEST_LIMIT_EXCEEDED"))
    assert not errors.is_refused_transiently(_sf_error(SalesforceGeneralError, 500, "UNKNOWN_EXCEPTION"))
    assert not errors.is_refused_transiently(requests.ConnectionError("reset"))
    assert errors.is_transient(requests.ConnectionError("reset"))


def test_classified_messages_say_what_to_fix() -> None:
    auth = errors.classify(SalesforceAuthenticationFailed("INVALID_LOGIN", "x"), "log in")
    assert "username, password and security token" in str(auth)
    limit = errors.classify(_sf_error(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED"), "query")
    assert "daily API request limit" in str(limit)
    bad = errors.classify(_sf_error(SalesforceMalformedRequest, 400, "INVALID_FIELD"), "query")
    assert isinstance(bad, errors.SalesforceRequestError) and bad.error_code == "INVALID_FIELD"
    assert "mapping configuration" in str(bad)


# ------------------------------------------------------------------------------------------------ writes


class FakeTransport:
    """Collections answer in order; scripted per-record failures; Bulk answers shuffled CSV."""

    def __init__(self, fail: Mapping[str, list[str]] | None = None) -> None:
        self.fail = {k: list(v) for k, v in (fail or {}).items()}  # LastName/Id -> codes, one per attempt
        self.calls: list[tuple[str, int]] = []
        self.counter = 0

    def _outcome(self, record: Mapping[str, object]) -> str | None:
        key = str(record.get("LastName") or record.get("Id"))
        codes = self.fail.get(key)
        return codes.pop(0) if codes else None

    def collections(self, op: WriteOp, sobject: str | None, records: Sequence[Mapping[str, object]]) -> list:
        self.calls.append(("collections", len(records)))
        out = []
        for record in records:
            code = self._outcome(record)
            if code:
                out.append(
                    {"success": False, "errors": [{"statusCode": code, "message": "no", "fields": []}]}
                )
            else:
                self.counter += 1
                out.append(
                    {"id": record.get("Id") or f"003{self.counter:015d}", "success": True, "errors": []}
                )
        return out

    def bulk2(self, op: WriteOp, sobject: str, rows: Sequence[Mapping[str, str]]) -> BulkOutcome:
        self.calls.append(("bulk2", len(rows)))
        columns = list(rows[0])
        ok, bad = io.StringIO(), io.StringIO()
        ok_w = csv.DictWriter(ok, ["sf__Id", "sf__Created", *columns])
        bad_w = csv.DictWriter(bad, ["sf__Id", "sf__Error", *columns])
        ok_w.writeheader()
        bad_w.writeheader()
        shuffled = list(rows)
        random.Random(7).shuffle(shuffled)
        for row in shuffled:
            code = self._outcome(row)
            if code:
                bad_w.writerow({"sf__Id": "", "sf__Error": f"{code}:bad row:LastName --", **row})
            else:
                self.counter += 1
                ok_w.writerow(
                    {"sf__Id": row.get("Id") or f"003{self.counter:015d}", "sf__Created": "true", **row}
                )
        return BulkOutcome([ok.getvalue()], [bad.getvalue()], [""])


def test_collections_chunks_of_200_in_order_with_failures_at_their_index() -> None:
    transport = FakeTransport({"L7": ["REQUIRED_FIELD_MISSING"], "L333": ["DUPLICATES_DETECTED"]})
    writer = RecordWriter(transport, retry_pause=0, sleep=lambda s: None)
    results = writer.write("insert", "Contact", [{"LastName": f"L{i}"} for i in range(450)])
    assert [c for c in transport.calls] == [("collections", 200), ("collections", 200), ("collections", 50)]
    assert [r.index for r in results] == list(range(450))
    failed = {r.index: r.errors[0]["statusCode"] for r in results if not r.success}
    assert failed == {7: "REQUIRED_FIELD_MISSING", 333: "DUPLICATES_DETECTED"}
    assert results[7].id is None and results[8].id


def test_transient_record_errors_are_resent_only_for_those_records() -> None:
    sleeps: list[float] = []
    transport = FakeTransport({"L3": ["UNABLE_TO_LOCK_ROW"], "L4": ["UNABLE_TO_LOCK_ROW"] * 5})
    writer = RecordWriter(transport, transient_retries=2, retry_pause=0.5, sleep=sleeps.append)
    results = writer.write("insert", "Contact", [{"LastName": f"L{i}"} for i in range(10)])
    assert transport.calls == [("collections", 10), ("collections", 2), ("collections", 1)]
    assert sleeps == [0.5, 1.0]
    assert results[3].success
    assert not results[4].success and results[4].transient


def test_bulk_insert_results_are_matched_back_by_content_even_with_duplicates() -> None:
    records = [{"LastName": f"L{i % 40}", "Phone": None, "DoNotCall": i % 2 == 0} for i in range(120)]
    transport = FakeTransport({"L5": ["REQUIRED_FIELD_MISSING"] * 3})
    writer = RecordWriter(transport, bulk_threshold=100, sleep=lambda s: None)
    results = writer.write("insert", "Contact", records)
    assert transport.calls == [("bulk2", 120)]
    assert [r.index for r in results] == list(range(120))
    assert {r.index for r in results if not r.success} == {5, 45, 85}
    assert results[5].errors == [
        {"statusCode": "REQUIRED_FIELD_MISSING", "message": "bad row", "fields": ["LastName"]}
    ]
    assert len({r.id for r in results if r.success}) == 117


def test_bulk_update_matches_by_id_and_nulls_with_na() -> None:
    ids = [f"003{i:012d}AAA" for i in range(150)]
    records = [{"Id": i, "Phone": None if n == 3 else "1"} for n, i in enumerate(ids)]
    rows = bulk_rows("update", records)
    assert rows[3] == {"Id": ids[3], "Phone": "#N/A"}
    transport = FakeTransport({ids[10]: ["ENTITY_IS_DELETED"]})
    results = RecordWriter(transport, bulk_threshold=100, sleep=lambda s: None).write(
        "update", "Contact", records
    )
    assert [r.id for r in results] == ids
    assert [r.index for r in results if not r.success] == [10]


def test_bulk_rows_missing_from_every_result_file_are_reported_not_guessed() -> None:
    rows = bulk_rows("insert", [{"LastName": "A"}, {"LastName": "B"}])
    unprocessed = "LastName\nB\n"
    outcome = BulkOutcome(["sf__Id,sf__Created,LastName\n003000000000009AAA,true,A\n"], [""], [unprocessed])
    results = match_bulk_results("insert", rows, [0, 1], outcome)
    assert results[0].success and results[0].id == "003000000000009AAA"
    assert results[1].errors[0]["statusCode"] == "UNPROCESSED"
    empty = match_bulk_results("insert", rows, [0, 1], BulkOutcome([""], [""], [""]))
    assert [r.errors[0]["statusCode"] for r in empty] == ["BULK_RESULT_MISSING"] * 2


def test_parse_bulk_error_forms() -> None:
    assert parse_bulk_error("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --") == {
        "statusCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [LastName]",
        "fields": ["LastName"],
    }
    assert parse_bulk_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access:--")["fields"] == []
    assert parse_bulk_error("STRANGE")["statusCode"] == "STRANGE"


def test_write_input_is_validated_before_any_call() -> None:
    transport = FakeTransport()
    writer = RecordWriter(transport)
    with pytest.raises(ValueError, match="must not carry an Id"):
        writer.write("insert", "Contact", [{"Id": ID1, "LastName": "x"}])
    with pytest.raises(ValueError, match="needs the record Id"):
        writer.write("update", "Contact", [{"LastName": "x"}])
    assert transport.calls == []


def test_collection_request_shapes() -> None:
    assert collection_request("delete", None, [{"Id": ID1}, {"Id": ID2}]) == {
        "method": "DELETE",
        "params": {"ids": f"{ID1},{ID2}", "allOrNone": "false"},
    }
    patch = collection_request("update", "Lead", [{"Id": ID3, "Company": "Acme"}])
    assert patch["method"] == "PATCH"
    assert patch["json"] == {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Lead"}, "Id": ID3, "Company": "Acme"}],
    }


# ------------------------------------------------------------------------------------------------ calls


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://h/services/Soap/u/59.0", "login"),
        ("https://h/services/oauth2/token", "login"),
        ("https://h/services/data/v59.0/query/?q=SELECT+Id+FROM+Contact", "query"),
        ("https://h/services/data/v59.0/queryAll/?q=x", "query"),
        ("https://h/services/data/v59.0/query/01gRO0000016PIAYA2-2000", "query_more"),
        ("https://h/services/data/v59.0/sobjects/Contact/describe", "describe"),
        ("https://h/services/data/v59.0/sobjects/Contact/listviews/00B000000000001/describe", "listviews"),
        ("https://h/services/data/v59.0/composite/sobjects?ids=a,b", "composite"),
        ("https://h/services/data/v59.0/jobs/ingest/750x/batches", "bulk2"),
        ("https://h/services/data/v59.0/limits/", "limits"),
        ("https://h/services/data/v59.0/sobjects/Contact/deleted/?start=x", "sobject"),
        ("https://h/services/apexrest/x", "other"),
    ],
)
def test_endpoint_kind(url: str, kind: str) -> None:
    assert endpoint_kind(url) == kind


def test_access_is_lazy_and_its_repr_has_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from salesforce_access import SalesforceAccess

    monkeypatch.setattr(requests.Session, "request", lambda *a, **k: pytest.fail("network in __init__"))
    access = SalesforceAccess("sf_unit")
    assert repr(access) == "SalesforceAccess(conn_id='sf_unit', auth='not connected')"
    assert access.api_calls == {}


class UpsertTransport:
    """Tasks by external id (case-insensitive, as the field is): Collections in order, Bulk 2.0 shuffled."""

    def __init__(self) -> None:
        self.tasks: dict[str, str] = {}
        self.calls: list[tuple[str, int, str | None]] = []

    def _upsert(self, key: str) -> tuple[str, bool]:
        folded = key.casefold()
        created = folded not in self.tasks
        self.tasks.setdefault(folded, f"00T{len(self.tasks) + 1:015d}")
        return self.tasks[folded], created

    def collections(self, op: WriteOp, sobject: str | None, records: Sequence[Mapping[str, object]],
                    **upsert: str) -> list:
        self.calls.append(("collections", len(records), upsert.get("external_id")))
        out = []
        for record in records:
            record_id, created = self._upsert(str(record[upsert["external_id"]]))
            out.append({"id": record_id, "success": True, "created": created, "errors": []})
        return out

    def bulk2(self, op: WriteOp, sobject: str, rows: Sequence[Mapping[str, str]], **upsert: str) -> BulkOutcome:
        self.calls.append(("bulk2", len(rows), upsert.get("external_id")))
        ok = io.StringIO()
        writer = csv.DictWriter(ok, ["sf__Id", "sf__Created", *rows[0]])
        writer.writeheader()
        shuffled = list(rows)
        random.Random(3).shuffle(shuffled)
        for row in shuffled:
            record_id, created = self._upsert(row[upsert["external_id"]])
            writer.writerow({"sf__Id": record_id, "sf__Created": "true" if created else "false", **row})
        return BulkOutcome([ok.getvalue()], [""], [""])


def test_upsert_on_an_external_id_through_collections_then_bulk_says_created_or_updated() -> None:
    ext = "Heymarket_Message_Id__c"
    transport = UpsertTransport()
    writer = RecordWriter(transport, bulk_threshold=250, retry_pause=0, sleep=lambda s: None)
    rows = [{ext: str(1000 + i), "Subject": "SMS sent", "Description": None} for i in range(240)]
    first = writer.write("upsert", "Task", rows, external_id=ext)
    assert transport.calls == [("collections", 200, ext), ("collections", 40, ext)]
    assert [r.created for r in first] == [True] * 240 and all(r.success for r in first)
    more = [{ext: str(1000 + i), "Subject": "SMS sent"} for i in range(100, 400)]  # 140 known, 160 new
    second = writer.write("upsert", "Task", more, external_id=ext)
    assert transport.calls[-1] == ("bulk2", 300, ext)
    assert [r.index for r in second] == list(range(300))
    assert [r.created for r in second] == [False] * 140 + [True] * 160
    assert [r.id for r in second[:140]] == [r.id for r in first[100:]]


def test_upsert_input_is_checked_before_any_call() -> None:
    writer = RecordWriter(UpsertTransport(), retry_pause=0, sleep=lambda s: None)
    with pytest.raises(ValueError, match="needs its external id field"):
        writer.write("upsert", "Task", [{"X__c": "1"}])
    with pytest.raises(ValueError, match="needs a value of X__c"):
        writer.write("upsert", "Task", [{"Subject": "a"}], external_id="X__c")
    with pytest.raises(ValueError, match="must not carry an Id"):
        writer.write("upsert", "Task", [{"X__c": "1", "Id": "00T000000000001AAA"}], external_id="X__c")
    with pytest.raises(ValueError, match="only an upsert takes one"):
        writer.write("insert", "Task", [{"Subject": "a"}], external_id="X__c")
