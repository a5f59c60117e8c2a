"""The Salesforce change watcher: one ``queryAll ... SystemModstamp > watermark ... LIMIT 1`` per poll.

The objects in scope (the config's enabled ones) are asked in turn, one per poll, so a poll is one call
whatever the number of objects (with Contact and Lead and a 30 s poll, each is looked at every minute).
``queryAll`` includes deleted records, so a delete is a change too. The session is kept for the watcher's
life (one login, not one per poll). The daily budget comes free with every answer (``Sforce-Limit-Info``);
while it is nearly spent the watcher polls rarely and says why (:func:`sync_engine.freshness.budget_wait`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sync_engine.freshness import budget_wait
from sync_watchers.watcher import ChangeWatcher, Poll

if TYPE_CHECKING:
    from salesforce_access import SalesforceAccess
    from sync_engine.config import SyncConfig
    from sync_engine.state import StateStore


class SalesforceChangeWatcher(ChangeWatcher):
    """Reports a change of a synced Salesforce object (Contact, Lead) since the last sync's watermark."""

    system = "salesforce"
    _access: SalesforceAccess | None = None
    _turn = 0

    def open(self, config: SyncConfig) -> None:
        from salesforce_access import SalesforceAccess

        self._access = SalesforceAccess(config.salesforce.conn_id, max_attempts=2)

    def poll(self, config: SyncConfig, store: StateStore) -> Poll:
        access = self._access
        if access is None:
            raise RuntimeError("the watcher was not opened")
        objects = config.enabled_objects()
        name = objects[self._turn % len(objects)]
        self._turn += 1
        synced = store.get_watermark("salesforce", name)
        newest = access.newest_change(name, synced)
        # the budget came with the answer (Sforce-Limit-Info); close to the reserve the next poll waits long
        budget = access.last_seen_budget()
        remaining, maximum = (budget.remaining, budget.max) if budget is not None else _cached_budget(store)
        verdict = budget_wait(self.poll_seconds, remaining, maximum, config.salesforce.min_daily_api_remaining)
        return Poll(newest, synced, name, verdict.wait_seconds, verdict.reason)


def _cached_budget(store: StateStore) -> tuple[int | None, int | None]:
    """(remaining, max) as the last run's extract saw them, when the answer carried no budget header."""
    from sync_engine.api_cache import LIMITS_KEY

    cached = store.get_cached(LIMITS_KEY)
    reading = cached[0] if cached is not None else None
    if not isinstance(reading, dict):
        return None, None
    return int(reading["max"]) - int(reading["used"]), int(reading["max"])
