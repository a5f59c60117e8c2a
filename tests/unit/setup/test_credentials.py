"""Step 1, credentials: what a working connection and the API budget tell the admin."""

from __future__ import annotations

from sync_engine.setup.credentials import salesforce_budget_findings


def test_budget_below_the_reserve_is_a_warning() -> None:
    [ok] = salesforce_budget_findings("sf", 100, 15_000, 1_000)
    assert ok.severity == "ok" and "14,900 left" in ok.message
    low = salesforce_budget_findings("sf", 14_500, 15_000, 1_000)
    assert [f.severity for f in low] == ["ok", "warning"]
    assert low[1].path == "salesforce.min_daily_api_remaining"
