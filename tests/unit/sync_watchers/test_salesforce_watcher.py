"""SalesforceChangeWatcher.run() against the Salesforce emulator: one call per poll, news only, restart-safe,
budget-aware."""

from __future__ import annotations

import asyncio

import pytest
from sync_watchers import SalesforceChangeWatcher
from sync_watchers.watcher import REPORTED_KEY

from emulators.demo_data import generate
from tests.unit.sync_watchers.conftest import (
    EVENT_WAIT,
    POLL,
    WatchHarness,
    next_event,
    quiet_through,
    utcnow,
)

DEMO = generate(size=20, seed=3)
QUERY_ALL = "GET /services/data/v{version}/queryAll"


def salesforce_client():  # noqa: ANN201 - simple_salesforce.Salesforce, as a user editing the org
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    return SalesforceHook(salesforce_conn_id="salesforce_default").get_conn()


def synced_now(watch: WatchHarness) -> None:
    """The last sync read everything up to now (both objects' watermarks)."""
    store = watch.store()
    now = utcnow()
    for name in ("Contact", "Lead"):
        store.set_watermark("salesforce", name, now, "run-1")


def polls_of(sf_admin):  # noqa: ANN001, ANN201 - the emulator's count of the watcher's polls
    return lambda: sf_admin.stats()["by_endpoint"].get(QUERY_ALL, 0)


def a_contact_id(sf_admin) -> str:  # noqa: ANN001
    dump = sf_admin.dump()
    records = dump["records"]["Contact"] if "records" in dump else dump["Contact"]
    return str(records[0]["Id"])


def test_nothing_changed_since_the_last_sync_means_no_event_and_one_call_per_poll(watch: WatchHarness,
                                                                                    sf_admin) -> None:  # noqa: ANN001
    sf_admin.load(DEMO.salesforce)
    synced_now(watch)
    sf_admin.reset_stats()

    async def scenario() -> object:
        _, events = watch.start(SalesforceChangeWatcher)
        return await quiet_through(events, polls_of(sf_admin), 3)

    assert asyncio.run(scenario()) is None
    stats = sf_admin.stats()["by_endpoint"]
    polls = stats.get(QUERY_ALL, 0)
    assert polls >= 3  # polled Contact and Lead in turn
    assert sum(stats.values()) == polls + 1  # one login for the watcher's life, then one call per poll


def test_an_edit_after_the_last_sync_is_reported_once_and_a_restart_neither_repeats_nor_loses_it(
        watch: WatchHarness, sf_admin) -> None:  # noqa: ANN001
    sf_admin.load(DEMO.salesforce)
    synced_now(watch)
    contact_id = a_contact_id(sf_admin)

    async def scenario() -> tuple[object, object, object, object]:
        polls = polls_of(sf_admin)
        _, events = watch.start(SalesforceChangeWatcher)
        assert await quiet_through(events, polls, 2) is None
        await asyncio.to_thread(salesforce_client().Contact.update, contact_id, {"Title": "Edited"})
        first = await next_event(events, within=EVENT_WAIT)
        again = await quiet_through(events, polls, 4)  # the same change is not reported twice
        await events.aclose()
        # a triggerer restart: a new instance, the same asset state
        _, restarted = watch.start(SalesforceChangeWatcher)
        after_restart = await quiet_through(restarted, polls, 4)
        await asyncio.to_thread(salesforce_client().Contact.update, contact_id, {"Title": "Edited again"})
        second = await next_event(restarted, within=EVENT_WAIT)
        await restarted.aclose()
        return first, again, after_restart, second

    first, again, after_restart, second = asyncio.run(scenario())
    assert first is not None and first.payload["system"] == "salesforce" and first.payload["scope"] == "Contact"
    assert again is None and after_restart is None
    assert second is not None and second.payload["changed_at"] > first.payload["changed_at"]
    assert watch.asset_state[REPORTED_KEY] == second.payload["changed_at"]
    assert "Edited" not in str(first.payload)  # timestamps and object names only


def test_a_change_reported_before_a_restart_but_not_yet_synced_is_not_reported_again_and_one_not_yet_reported_is(
        watch: WatchHarness, sf_admin) -> None:  # noqa: ANN001
    sf_admin.load(DEMO.salesforce)
    synced_now(watch)
    contact_id = a_contact_id(sf_admin)
    salesforce_client().Contact.update(contact_id, {"Title": "Edited while the triggerer was down"})

    async def scenario() -> object:
        _, events = watch.start(SalesforceChangeWatcher)  # restarted: nothing reported yet
        return await next_event(events, within=EVENT_WAIT)

    assert asyncio.run(scenario()) is not None  # the change made while it was down is not lost


def test_a_nearly_spent_budget_makes_the_watcher_back_off_and_say_why(
        watch: WatchHarness, sf_admin, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    sf_admin.load(DEMO.salesforce)
    synced_now(watch)
    sf_admin.faults(daily_api_budget=3000, daily_api_used=2500)  # 500 left; the shipped reserve is 1000
    sf_admin.reset_stats()

    async def scenario() -> object:
        watcher, events = watch.start(SalesforceChangeWatcher)
        quiet = await quiet_through(events, polls_of(sf_admin), 1)
        return quiet or await next_event(events, within=POLL * 8)

    assert asyncio.run(scenario()) is None
    assert sf_admin.stats()["by_endpoint"].get(QUERY_ALL, 0) == 1  # then waits (15 min), no further poll
    logged = capsys.readouterr().out  # Airflow's structlog writes the triggerer's log lines to stdout
    assert "budget nearly spent: 499 of 3000 calls left" in logged and "polls every 900 s" in logged, logged
