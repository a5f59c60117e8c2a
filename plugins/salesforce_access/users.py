"""Salesforce users and permission set assignments, as the ``heymarket_setup`` DAG's user mapping reads and
writes them (the queries live here, with the other SOQL; ``sync_engine.setup.user_mapping`` decides).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from salesforce_access.soql import check_record_id

if TYPE_CHECKING:
    from salesforce_access.access import SalesforceAccess, SfRecord

ACTIVE_USERS_SOQL = (
    "SELECT Id, Username, Email, Name FROM User WHERE IsActive = true AND UserType = 'Standard' "
    "ORDER BY Username"
)
PERMISSION_SETS_SOQL = "SELECT Id, Name FROM PermissionSet WHERE IsOwnedByProfile = false ORDER BY Name"


class SalesforceUserAdmin:
    """The org's active users, its assignable permission sets and their assignments.

    :param access: the Salesforce access of the step (login, retries, call counting, typed errors).
    """

    def __init__(self, access: SalesforceAccess) -> None:
        self.access = access

    def active_users(self) -> list[SfRecord]:
        """Active standard users (Id, Username, Email, Name), by username."""
        return [record for page in self.access.iter_query(ACTIVE_USERS_SOQL) for record in page]

    def permission_sets(self) -> list[SfRecord]:
        """Permission sets not owned by a profile (Id, Name), by name."""
        return [record for page in self.access.iter_query(PERMISSION_SETS_SOQL) for record in page]

    def assignments_by_user(self, permission_set_id: str) -> dict[str, str]:
        """Assignee (User Id) -> PermissionSetAssignment Id for one permission set."""
        soql = (
            "SELECT Id, AssigneeId FROM PermissionSetAssignment WHERE PermissionSetId = "
            f"'{check_record_id(permission_set_id)}'"
        )
        return {str(r["AssigneeId"]): str(r["Id"]) for page in self.access.iter_query(soql) for r in page}

    def assign(self, permission_set_id: str, user_ids: Sequence[str]) -> list[tuple[bool, str | None, str]]:
        """Create one assignment per user: ``(success, error status code, error message)`` each, in order."""
        records = [{"AssigneeId": user_id, "PermissionSetId": permission_set_id} for user_id in user_ids]
        outcomes: list[tuple[bool, str | None, str]] = []
        for result in self.access.create("PermissionSetAssignment", records):
            error = result.errors[0] if result.errors else None
            outcomes.append((result.success, error["statusCode"] if error else None, error["message"] if error else ""))
        return outcomes
