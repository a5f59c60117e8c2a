"""The scheduled sync's schedule: its cron, or its cron *or* a change seen by a watcher (issue 14).

Read at DAG parse time from the environment only (no network, no database, no file): the DAG processor parses
the DAG file every few minutes, and an Airflow Variable would be a metadata-database read on every parse.

- ``HEYMARKET_SYNC_WATCHERS``: ``on`` (default) or ``off``. Off is the pure cron schedule as before.
- ``HEYMARKET_SYNC_POLL_SECONDS``: seconds between two polls of each watcher (default 30, at least 5).

Set them where the DAG processor and the triggerer run (docker-compose's ``x-airflow-common`` environment).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable

from sync_engine.freshness import DEFAULT_POLL_SECONDS
from sync_watchers.heymarket_watcher import HeymarketChangeWatcher
from sync_watchers.salesforce_watcher import SalesforceChangeWatcher

WATCHERS_ENV = "HEYMARKET_SYNC_WATCHERS"
POLL_ENV = "HEYMARKET_SYNC_POLL_SECONDS"
MIN_POLL_SECONDS = 5.0
#: The assets the watchers update; ``heymarket_sync`` runs on either (or on its cron).
SALESFORCE_CHANGES = "heymarket_sync/salesforce_changes"
HEYMARKET_CHANGES = "heymarket_sync/heymarket_changes"


class ScheduleSettingError(ValueError):
    """A freshness setting in the environment cannot be used (the DAG file then fails to parse, saying why)."""


def watchers_on(env: Mapping[str, str] = os.environ) -> bool:
    """``HEYMARKET_SYNC_WATCHERS``: on unless ``off`` (also ``0``, ``false``, ``no``)."""
    value = env.get(WATCHERS_ENV, "on").strip().lower()
    if value in {"on", "1", "true", "yes", ""}:
        return True
    if value in {"off", "0", "false", "no"}:
        return False
    raise ScheduleSettingError(f"{WATCHERS_ENV}={value!r}: use on or off")


def poll_seconds(env: Mapping[str, str] = os.environ) -> float:
    """``HEYMARKET_SYNC_POLL_SECONDS`` (default 30; at least 5)."""
    raw = env.get(POLL_ENV, "").strip()
    if not raw:
        return DEFAULT_POLL_SECONDS
    try:
        value = float(raw)
    except ValueError as exc:
        raise ScheduleSettingError(f"{POLL_ENV}={raw!r} is not a number of seconds") from exc
    if value < MIN_POLL_SECONDS:
        raise ScheduleSettingError(f"{POLL_ENV}={raw!r}: at least {MIN_POLL_SECONDS:.0f} seconds")
    return value


def change_assets(poll: float) -> tuple[Asset, Asset]:
    """The two assets with their watchers (kwargs stable between parses: the poll interval only)."""
    return (
        Asset(SALESFORCE_CHANGES, watchers=[AssetWatcher(name="salesforce_change_watcher",
                                                         trigger=SalesforceChangeWatcher(poll_seconds=poll))]),
        Asset(HEYMARKET_CHANGES, watchers=[AssetWatcher(name="heymarket_change_watcher",
                                                        trigger=HeymarketChangeWatcher(poll_seconds=poll))]),
    )


def sync_schedule(cron: str, env: Mapping[str, str] = os.environ) -> str | AssetOrTimeSchedule:
    """*cron* alone with the watchers off; else *cron* or a change on either side."""
    if not watchers_on(env):
        return cron
    salesforce, heymarket = change_assets(poll_seconds(env))
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(cron, timezone="UTC"), assets=(salesforce | heymarket))
