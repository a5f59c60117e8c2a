"""The Heymarket change watcher: one ``POST /v1/contacts`` (newest first, limit 1) per poll.

Any create or edit moves the newest contact's ``updated``; a contact deleted in Heymarket is not visible
this way (Heymarket has no deleted-contacts feed) and waits for the daily full comparison, as today. The
hook paces itself (the connection's requests per minute); one call per poll is far below it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sync_watchers.watcher import ChangeWatcher, Poll

if TYPE_CHECKING:
    from heymarket_hook import HeymarketHook
    from sync_engine.config import SyncConfig
    from sync_engine.state import StateStore


class HeymarketChangeWatcher(ChangeWatcher):
    """Reports a Heymarket contact created or edited since the last sync's watermark."""

    system = "heymarket"
    _hook: HeymarketHook | None = None

    def open(self, config: SyncConfig) -> None:
        from sync_operators.runtime import heymarket_hook

        self._hook = heymarket_hook(config)

    def poll(self, config: SyncConfig, store: StateStore) -> Poll:
        if self._hook is None:
            raise RuntimeError("the watcher was not opened")
        synced = store.get_watermark("heymarket", "contacts")
        return Poll(self._hook.newest_contact_updated(), synced, "contacts")
