"""``SalesforceUserAdmin``: the setup DAG's user and permission set queries, on a fake ``SalesforceAccess``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

import pytest

from salesforce_access.users import ACTIVE_USERS_SOQL, PERMISSION_SETS_SOQL, SalesforceUserAdmin
from salesforce_access.writes import WriteResult

if TYPE_CHECKING:
    from salesforce_access import SalesforceAccess

PS_ID = "0PS000000000001AAA"


class FakeAccess:
    """Answers each query with the pages given for it; records creates."""

    def __init__(self, answers: dict[str, list[list[dict[str, object]]]]) -> None:
        self.answers = answers
        self.queries: list[str] = []
        self.created: list[tuple[str, list[dict[str, object]]]] = []

    def iter_query(self, soql: str) -> Iterator[list[dict[str, object]]]:
        self.queries.append(soql)
        yield from self.answers.get(soql, [])

    def create(self, sobject: str, records: list[dict[str, object]]) -> list[WriteResult]:
        self.created.append((sobject, records))
        return [
            WriteResult(0, "0Pa000000000001AAA", True),
            WriteResult(1, None, False, [{"statusCode": "DUPLICATE_VALUE", "message": "dup", "fields": []}]),
        ]


def test_users_and_permission_sets_are_read_over_every_page() -> None:
    access = FakeAccess({
        ACTIVE_USERS_SOQL: [[{"Id": "005A"}], [{"Id": "005B"}]],
        PERMISSION_SETS_SOQL: [[{"Id": PS_ID, "Name": "Heymarket_User"}]],
    })
    admin = SalesforceUserAdmin(cast("SalesforceAccess", access))
    assert [u["Id"] for u in admin.active_users()] == ["005A", "005B"]
    assert admin.permission_sets() == [{"Id": PS_ID, "Name": "Heymarket_User"}]


def test_assignments_are_read_by_a_checked_permission_set_id() -> None:
    soql = f"SELECT Id, AssigneeId FROM PermissionSetAssignment WHERE PermissionSetId = '{PS_ID}'"
    access = FakeAccess({soql: [[{"Id": "0Pa000000000001AAA", "AssigneeId": "005000000000001AAA"}]]})
    admin = SalesforceUserAdmin(cast("SalesforceAccess", access))
    assert admin.assignments_by_user(PS_ID) == {"005000000000001AAA": "0Pa000000000001AAA"}
    with pytest.raises(ValueError, match="not a Salesforce record id"):
        admin.assignments_by_user("x' OR Id != '")


def test_assign_answers_success_or_the_first_error_per_user_in_order() -> None:
    access = FakeAccess({})
    admin = SalesforceUserAdmin(cast("SalesforceAccess", access))
    answers = admin.assign(PS_ID, ["005000000000001AAA", "005000000000002AAA"])
    assert answers == [(True, None, ""), (False, "DUPLICATE_VALUE", "dup")]
    assert access.created == [("PermissionSetAssignment", [
        {"AssigneeId": "005000000000001AAA", "PermissionSetId": PS_ID},
        {"AssigneeId": "005000000000002AAA", "PermissionSetId": PS_ID},
    ])]
