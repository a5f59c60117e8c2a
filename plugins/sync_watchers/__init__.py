"""Change watchers: Airflow event triggers that tell the scheduler when Salesforce or Heymarket changed since the
last sync (issue 14). They run in the triggerer as ``AssetWatcher``s of the assets ``heymarket_sync`` is
scheduled on; what counts as news is :mod:`sync_engine.freshness`."""

from sync_watchers.heymarket_watcher import HeymarketChangeWatcher
from sync_watchers.salesforce_watcher import SalesforceChangeWatcher

__all__ = ["HeymarketChangeWatcher", "SalesforceChangeWatcher"]
