"""The poll loop both change watchers share: ask one cheap question per poll, report only news, remember it.

A subclass says how to open its client (:meth:`ChangeWatcher.open`) and how to ask (:meth:`ChangeWatcher.poll`,
one API call); this loop reads the last sync's watermark from the sync's state store before every poll, keeps
what it reported in Airflow's asset state store (``asset_state_store``, injected by the triggerer; it outlives
a triggerer restart), waits between polls (longer after a failure, or while a subclass says so) and logs only
counts, timestamps and reasons, never contact data.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from sync_engine.freshness import DEFAULT_POLL_SECONDS, error_wait, is_news

if TYPE_CHECKING:
    from sync_engine.config import SyncConfig
    from sync_engine.state import StateStore

#: Key under which a watcher keeps, per asset, the newest change it reported (ISO 8601, UTC).
REPORTED_KEY = "reported_up_to"


@dataclass(frozen=True)
class Poll:
    """One poll's answer: the newest change seen (``None``: nothing newer than *synced*) and the watermark it
    was compared with; *wait_seconds* / *note* when the next poll must wait longer than usual, and why."""

    newest: dt.datetime | None
    synced: dt.datetime | None
    scope: str
    wait_seconds: float | None = None
    note: str | None = None


class ChangeWatcher(BaseEventTrigger):
    """Base of the Salesforce and Heymarket change watchers.

    :param poll_seconds: seconds between two polls (one API call each).
    :param config_path: the sync YAML (default ``$HEYMARKET_SYNC_CONFIG``, read in the triggerer); it names the
        connections, the objects and the budget reserve. Kept out of the kwargs when unset, so the watcher's
        identity (a hash of its kwargs) does not change between parses.
    """

    system: str = ""

    def __init__(self, poll_seconds: float = DEFAULT_POLL_SECONDS, config_path: str | None = None) -> None:
        super().__init__()
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive")
        self.poll_seconds = float(poll_seconds)
        self.config_path = config_path

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {"poll_seconds": self.poll_seconds}
        if self.config_path:
            kwargs["config_path"] = self.config_path
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    # --- what a subclass provides ---------------------------------------------------------------------------

    @abc.abstractmethod
    def open(self, config: SyncConfig) -> None:
        """Build the client (no call yet); runs in a worker thread."""

    @abc.abstractmethod
    def poll(self, config: SyncConfig, store: StateStore) -> Poll:
        """One poll: read the watermark from *store*, ask the API once; runs in a worker thread."""

    # --- the loop -------------------------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        config, store = await asyncio.to_thread(self._setup)
        failures = 0
        while True:
            wait = self.poll_seconds
            try:
                answer = await asyncio.to_thread(self.poll, config, store)
            except Exception as exc:  # noqa: BLE001 - a watcher outlives a failed poll; the cron run stays on
                failures += 1
                wait = error_wait(self.poll_seconds, failures)
                self.log.warning("%s watcher: poll failed (%s); next poll in %.0f s", self.system,
                                 type(exc).__name__, wait)
            else:
                failures = 0
                if answer.note:
                    self.log.warning("%s watcher: %s", self.system, answer.note)
                wait = answer.wait_seconds or wait
                reported = await self._reported()
                if answer.newest is not None and is_news(answer.newest, answer.synced, reported):
                    self.log.info("%s watcher: change at %s after the last sync (%s) in %s", self.system,
                                  answer.newest.isoformat(), answer.synced.isoformat() if answer.synced else "none",
                                  answer.scope)
                    # reported first, remembered after: a restart in between reports it once more (one extra
                    # run that writes nothing), never loses it
                    yield TriggerEvent({"system": self.system, "scope": answer.scope,
                                        "changed_at": answer.newest.isoformat(),
                                        "synced_up_to": answer.synced.isoformat() if answer.synced else None})
                    await self._remember(answer.newest)
            await asyncio.sleep(wait)

    def _setup(self) -> tuple[SyncConfig, StateStore]:
        from sync_operators.runtime import DEFAULT_CONFIG_PATH, load_sync_config, open_state_store

        config = load_sync_config(self.config_path or os.environ.get("HEYMARKET_SYNC_CONFIG") or DEFAULT_CONFIG_PATH)
        store = open_state_store(config.state.conn_id)
        self.open(config)
        return config, store

    async def _reported(self) -> dt.datetime | None:
        if self.asset_state_store is None:
            return self._reported_here
        value = await self.asset_state_store.aget(REPORTED_KEY)
        return dt.datetime.fromisoformat(str(value)) if value else None

    async def _remember(self, newest: dt.datetime) -> None:
        self._reported_here = newest
        if self.asset_state_store is not None:
            await self.asset_state_store.aset(REPORTED_KEY, newest.isoformat())

    _reported_here: dt.datetime | None = None
