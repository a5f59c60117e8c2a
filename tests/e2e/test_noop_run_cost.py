"""What a run that changes nothing costs, counted by the emulators themselves (issue 14: at most 10 calls).

Describes, limits, inboxes and contact fields are reused from the state store within their validity
(``sync_engine.api_cache``), so a no-op incremental run only logs in and asks each side "anything new?".
"""

from __future__ import annotations

import datetime as dt

import pytest

from emulators.demo_data import generate

pytestmark = pytest.mark.e2e

DEMO = generate(size=50, seed=7)
#: The budget of a no-op incremental run, both systems together.
NOOP_BUDGET = 10


def calls_by_endpoint(sync) -> dict[str, int]:  # noqa: ANN001
    """Requests the emulators answered since their stats were reset, per ``system METHOD path``."""
    hm = {f"heymarket {k}": v for k, v in sync.hm.stats()["by_endpoint"].items()}
    sf = {f"salesforce {k}": v for k, v in sync.sf.stats()["by_endpoint"].items()}
    return {**hm, **sf}


def expire_cache(sync, keys: list[str]) -> None:  # noqa: ANN001
    """These cached answers as if they had been read two days ago."""
    from sync_engine.state import StateStore

    current = sync.store()
    with StateStore(sync.state_url, clock=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(days=2)) as old:
        for key in keys:
            cached = current.get_cached(key)
            assert cached is not None, key
            old.put_cached(key, cached[0])


def test_a_noop_incremental_run_costs_at_most_ten_calls(sync) -> None:  # noqa: ANN001
    sync.sf.load(DEMO.salesforce)
    sync.hm.load(DEMO.heymarket)
    assert str(sync.run(mode="full").state) == "success"
    assert str(sync.run().state) == "success"  # settles what the first run wrote (its own echoes)

    sync.hm.reset_stats()
    sync.sf.reset_stats()
    noop = sync.run()

    assert str(noop.state) == "success"
    summary = sync.result(noop)
    assert summary["status"] == "success"
    calls = calls_by_endpoint(sync)
    assert sum(calls.values()) <= NOOP_BUDGET, calls
    # nothing of what is cached was asked again, nothing was written
    assert not any("describe" in k or "limits" in k or "inboxes" in k or "contact-fields" in k for k in calls), calls
    assert not any(k.startswith(("heymarket PUT", "heymarket DELETE", "heymarket POST /v2")) for k in calls), calls
    # the run's own summary counts the same calls (logins included)
    own = summary["api_calls"]
    assert sum(own["heymarket"].values()) + sum(own["salesforce"].values()) == sum(calls.values())


def test_the_first_run_of_a_day_reads_the_metadata_again_and_still_fits_the_budget(sync) -> None:  # noqa: ANN001
    from sync_engine import api_cache

    sync.sf.load(DEMO.salesforce)
    sync.hm.load(DEMO.heymarket)
    assert str(sync.run(mode="full").state) == "success"
    assert str(sync.run().state) == "success"
    # a day later, after a pause: every cache expired, the budget too; the describes' response header carries
    # the budget, so no /limits call
    expire_cache(sync, [api_cache.INBOXES_KEY, api_cache.CONTACT_FIELDS_KEY, api_cache.describe_key("Contact"),
                        api_cache.describe_key("Lead"), api_cache.LIMITS_KEY])

    sync.hm.reset_stats()
    sync.sf.reset_stats()
    run = sync.run()

    assert str(run.state) == "success"
    calls = calls_by_endpoint(sync)
    assert calls.get("heymarket GET /v1/inboxes") == 1
    assert calls.get("heymarket POST /v1/contact-fields") == 1  # preflight's; the extract reads the run folder
    assert calls.get("salesforce GET /services/data/v{version}/sobjects/{sobject}/describe") == 2
    assert "salesforce GET /services/data/v{version}/limits" not in calls
    assert sum(calls.values()) <= NOOP_BUDGET, calls
    own = sync.result(run)["api_calls"]  # the run's own count has every call the emulators saw
    assert sum(own["heymarket"].values()) + sum(own["salesforce"].values()) == sum(calls.values())


@pytest.mark.parametrize("cached", ["nothing", "the describes"])
def test_a_nearly_spent_budget_refuses_the_run_whether_or_not_the_describes_were_cached(sync, cached: str) -> None:  # noqa: ANN001
    """The budget comes from the describes' response header when preflight reads them, else from /limits: either
    way a budget below the reserve stops the run before anything is read or written."""
    from sync_engine import api_cache

    sync.sf.load(DEMO.salesforce)
    sync.hm.load(DEMO.heymarket)
    assert str(sync.run(mode="full").state) == "success"
    expired = [api_cache.LIMITS_KEY] + ([] if cached == "the describes" else
                                        [api_cache.describe_key("Contact"), api_cache.describe_key("Lead")])
    expire_cache(sync, expired)
    sync.sf.faults(daily_api_budget=3000, daily_api_used=2500)  # 500 left; the shipped reserve keeps 1000
    sync.hm.reset_stats()
    sync.sf.reset_stats()

    run = sync.run()

    assert str(run.state) == "failed"
    why = str(sync.history(run)["error_summary"])
    assert "Salesforce daily API budget nearly used up" in why and "of 3000 calls left" in why, why
    calls = calls_by_endpoint(sync)
    assert ("salesforce GET /services/data/v{version}/limits" in calls) == (cached == "the describes"), calls
    assert not any(k.startswith(("heymarket PUT", "heymarket DELETE", "heymarket POST /v2", "salesforce PATCH",
                                 "salesforce POST /services/data")) for k in calls), calls
    assert not any("query" in k for k in calls), calls  # nothing read either
