"""Step 1, credentials: what a working Heymarket and Salesforce connection tell the admin."""

from __future__ import annotations

from collections.abc import Mapping

from .results import Finding


def heymarket_team_finding(conn_id: str, team: Mapping[str, object]) -> Finding:
    """The Heymarket side of step 1 when the credential works."""
    members = team.get("members")
    count = len(members) if isinstance(members, list) else 0
    return Finding(
        "ok",
        f"Heymarket connection '{conn_id}': connected to team '{team.get('name')}' "
        f"(id {team.get('id')}), {count} member(s)",
    )


def salesforce_budget_findings(conn_id: str, used: int, maximum: int, reserve: int) -> list[Finding]:
    """The Salesforce side of step 1: login worked, and how much of the daily API allocation is left."""
    remaining = max(maximum - used, 0)
    found = [
        Finding(
            "ok",
            f"Salesforce connection '{conn_id}': logged in; daily API requests {used:,} of "
            f"{maximum:,} used ({remaining:,} left)",
        )
    ]
    if remaining < reserve:
        found.append(
            Finding(
                "warning",
                f"only {remaining:,} daily API requests are left, below the {reserve:,} the sync keeps "
                "in reserve, so sync runs will stop early as 'partial'",
                "wait for the rolling 24 h window to recover, ask Salesforce for a larger allocation, or "
                "lower "
                "salesforce.min_daily_api_remaining",
                path="salesforce.min_daily_api_remaining",
            )
        )
    return found
