"""HeymarketChangeWatcher.run() against the Heymarket emulator: one call per poll, news only, restart-safe."""

from __future__ import annotations

import asyncio

from sync_watchers import HeymarketChangeWatcher

from tests.e2e.conftest import HeymarketUser
from tests.unit.sync_watchers.conftest import EVENT_WAIT, WatchHarness, next_event, quiet_through, utcnow

LIST = "POST /v1/contacts"


def test_nothing_new_then_an_edit_is_reported_once_and_survives_a_restart(watch: WatchHarness,
                                                                            hm_admin) -> None:  # noqa: ANN001
    user = HeymarketUser(hm_admin.base_url)
    contact = user.create(phone="14155550101", first="Ann")
    watch.store().set_watermark("heymarket", "contacts", utcnow(), "run-1")  # the last sync read it
    hm_admin.reset_stats()

    async def scenario() -> tuple[object, object, object, object, object]:
        def polls() -> int:
            return int(hm_admin.stats()["by_endpoint"].get(LIST, 0))

        _, events = watch.start(HeymarketChangeWatcher)
        quiet = await quiet_through(events, polls, 3)
        await asyncio.sleep(1.1)  # Heymarket's ``updated`` has whole seconds
        await asyncio.to_thread(user.update, int(contact["id"]), first="Anne")
        first = await next_event(events, within=EVENT_WAIT)
        again = await quiet_through(events, polls, 3)
        await events.aclose()
        _, restarted = watch.start(HeymarketChangeWatcher)
        after_restart = await quiet_through(restarted, polls, 3)
        await asyncio.sleep(1.1)
        await asyncio.to_thread(user.create, phone="14155550102", first="Bo")
        second = await next_event(restarted, within=EVENT_WAIT)
        await restarted.aclose()
        return quiet, first, again, after_restart, second

    quiet, first, again, after_restart, second = asyncio.run(scenario())
    assert quiet is None
    assert first is not None and first.payload["system"] == "heymarket"
    assert again is None and after_restart is None
    assert second is not None and second.payload["changed_at"] > first.payload["changed_at"]
    assert "Anne" not in str(first.payload) and "1415" not in str(first.payload)  # no contact data
    stats = hm_admin.stats()["by_endpoint"]
    writes = {k: v for k, v in stats.items() if k != LIST}
    assert set(writes) <= {"POST /v1/contact", "GET /v1/contact/{contact_id}", "PUT /v2/contact/{contact_uuid}"}, stats  # the user's edits
    assert stats[LIST] >= 10  # only list calls from the watchers, one per poll


def test_a_team_never_synced_is_news(watch: WatchHarness, hm_admin) -> None:  # noqa: ANN001
    HeymarketUser(hm_admin.base_url).create(phone="14155550103", first="Cy")

    async def scenario() -> object:
        _, events = watch.start(HeymarketChangeWatcher)
        event = await next_event(events, within=EVENT_WAIT)
        await events.aclose()
        return event

    assert asyncio.run(scenario()) is not None
