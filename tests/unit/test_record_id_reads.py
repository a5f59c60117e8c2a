"""A record-id read that Salesforce refuses over one id costs that id only: the others are read one by one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from salesforce_access import SalesforceRequestError
from sync_operators.extract import SalesforceExtractOperator, _ObjectRead, _SalesforceRead
from sync_operators.record import NOT_FOUND, unsynced_record_ids

GOOD = ["0035g00000AbCdEAAV", "0035g00000XyZaBQAK"]
REFUSED = "0035g00000QqQqQAAV"


class FakeAccess:
    """Answers queries by id like Salesforce does: a query naming a refused id fails as a whole."""

    def __init__(self) -> None:
        self.queries: list[list[str]] = []

    def iter_records(self, sobject: str, fields: Sequence[str], *, record_ids: Sequence[str] | None = None,
                     **_: object) -> Iterator[list[dict[str, object]]]:
        ids = list(record_ids or [])
        self.queries.append(ids)
        if REFUSED in ids:
            raise SalesforceRequestError(
                f"Salesforce rejected the request to query {sobject}: invalid ID field: {REFUSED} "
                "(INVALID_QUERY_FILTER_OPERATOR at row 1, column 80 of: SELECT Id …) (HTTP 400).",
                status=400, error_code="INVALID_QUERY_FILTER_OPERATOR")
        yield [{"Id": i, "SystemModstamp": None, "IsDeleted": False} for i in ids]


@pytest.fixture
def operator() -> SalesforceExtractOperator:
    return SalesforceExtractOperator(task_id="extract_salesforce_contact", object_name="Contact")


SPEC = _ObjectRead(name="Contact", scope="all", phone_field="Phone", query_fields=["Id"], auto_create=False)


def test_one_refused_id_does_not_cost_the_others(operator: SalesforceExtractOperator) -> None:
    access, read = FakeAccess(), _SalesforceRead()
    operator._read_record_ids(access, SPEC, [GOOD[0], REFUSED, GOOD[1]], read)  # type: ignore[arg-type]
    assert read.ids() == set(GOOD)
    assert read.rejected == {REFUSED: "Salesforce refused the id (INVALID_QUERY_FILTER_OPERATOR)"}
    assert access.queries == [[GOOD[0], REFUSED, GOOD[1]], [GOOD[0]], [REFUSED], [GOOD[1]]]


def test_ids_read_together_when_salesforce_takes_them(operator: SalesforceExtractOperator) -> None:
    access, read = FakeAccess(), _SalesforceRead()
    operator._read_record_ids(access, SPEC, GOOD, read)  # type: ignore[arg-type]
    assert read.ids() == set(GOOD) and read.rejected == {} and access.queries == [GOOD]


def test_other_query_failures_are_not_taken_for_a_bad_id(operator: SalesforceExtractOperator) -> None:
    class Broken(FakeAccess):
        def iter_records(self, *args: object, **kwargs: object) -> Iterator[list[dict[str, object]]]:
            raise SalesforceRequestError("Salesforce rejected the request to query Contact: No such column 'X' "
                                         "(INVALID_FIELD) (HTTP 400).", status=400, error_code="INVALID_FIELD")
            yield []

    with pytest.raises(SalesforceRequestError, match="No such column"):
        operator._read_record_ids(Broken(), SPEC, GOOD, _SalesforceRead())  # type: ignore[arg-type]


def test_record_run_names_every_requested_id_that_was_not_synced() -> None:
    info = {"record_ids": [*GOOD, REFUSED, "0035g00000NoNeXAAV"],
            "record_id_problems": {"abc": "'abc' has 3 characters; a record id has 15 or 18, e.g. …"}}
    extracts = {"extract_salesforce_contact": {"found_ids": GOOD, "rejected_ids": {REFUSED: "Salesforce refused"}},
                "extract_salesforce_lead": {"found_ids": []}}
    assert unsynced_record_ids(info, extracts) == {
        "abc": "'abc' has 3 characters; a record id has 15 or 18, e.g. …",
        REFUSED: f"'{REFUSED}': Salesforce refused",
        "0035g00000NoNeXAAV": NOT_FOUND.format(id="0035g00000NoNeXAAV"),
    }
    assert unsynced_record_ids({"record_ids": []}, extracts) == {}
