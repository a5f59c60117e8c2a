"""The org's daily API allocation: reading it and deciding whether a run may continue.

Salesforce pools API requests per org over a rolling 24 h window, shared by every integration. A sync that
burns through it breaks other integrations until the window recovers, so the DAG checks the budget before
and during a run and stops early (status ``partial``) instead. Two sources: ``GET /limits`` (one API call,
accurate to ~5 minutes) and the ``Sforce-Limit-Info: api-usage=used/max`` header every REST response
carries (free, as fresh as the last call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

from simple_salesforce import Salesforce
from simple_salesforce.util import Usage

from salesforce_access.errors import BudgetExhausted

BudgetSource = Literal["limits", "header"]


class ApiBudget(NamedTuple):
    """``(used, max)`` of the DailyApiRequests allocation, plus where the numbers came from."""

    used: int
    max: int
    source: BudgetSource = "limits"

    @property
    def remaining(self) -> int:
        return max(self.max - self.used, 0)


def budget_from_limits(limits: Mapping[str, object]) -> ApiBudget:
    """Read ``DailyApiRequests`` from a ``/limits`` response (``{"Max": 15000, "Remaining": 14998}``)."""
    daily = limits.get("DailyApiRequests")
    if not isinstance(daily, Mapping) or "Max" not in daily or "Remaining" not in daily:
        raise ValueError("the /limits response has no DailyApiRequests Max/Remaining")
    maximum = int(daily["Max"])
    return ApiBudget(used=maximum - int(daily["Remaining"]), max=maximum, source="limits")


def budget_from_header(value: str | None) -> ApiBudget | None:
    """Parse ``Sforce-Limit-Info`` (``api-usage=18/15000[; per-app-api-usage=...]``); ``None`` if absent."""
    if not value:
        return None
    usage = Salesforce.parse_api_usage(value).get("api-usage")
    if not isinstance(usage, Usage):
        return None
    return ApiBudget(used=usage.used, max=usage.total, source="header")


def ensure_budget(budget: ApiBudget, min_remaining: int) -> ApiBudget:
    """Raise :class:`BudgetExhausted` when fewer than *min_remaining* requests are left today.

    :param min_remaining: the reserve to leave for this run's next step and for other integrations.
    """
    if budget.remaining < min_remaining:
        raise BudgetExhausted(
            f"Salesforce daily API budget nearly used up: {budget.used:,} of {budget.max:,} requests used, "
            f"{budget.remaining:,} left, but at least {min_remaining:,} must remain. Stopping early; the "
            "run is partial and the next run continues from the last checkpoint. The allocation is a "
            "rolling 24 h window shared by all integrations - lower the reserve (min_remaining) or wait.",
            used=budget.used,
            limit=budget.max,
            min_remaining=min_remaining,
        )
    return budget
