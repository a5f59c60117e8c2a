"""Preflight checks, split out of the operator so each reads as one decision."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync_engine.config import SyncConfig
    from sync_engine.state import StateStore

#: Scheduled runs do a full comparison (which also finds contacts deleted in Heymarket) this often.
FULL_SWEEP_EVERY = dt.timedelta(hours=24)


def check_connections_and_mapping(
    config: SyncConfig, objects: list[str]
) -> tuple[list[str], dict[str, dict[str, object]], dict[str, dict[str, int]]]:
    """Both connections answer, the Salesforce budget is not exhausted, the mapping fits the live metadata.

    Returns admin-readable problems (empty = all good), the describes of the enabled objects (the
    validate step needs them) and the API calls made, per system and endpoint (the run's history counts
    every call). Credentials problems come back as a problem, not an exception, so that the admin sees
    every problem of a run at once.
    """
    from salesforce_access import SalesforceAccess
    from sync_engine.config import validate_against_describe
    from sync_operators.runtime import heymarket_hook

    problems: list[str] = []
    hook = heymarket_hook(config)
    ok, message = hook.test_connection()
    heymarket_fields: list[dict[str, object]] | None = None
    if not ok:
        problems.append(f"Heymarket connection '{config.heymarket.conn_id}': {message}")
    else:
        heymarket_fields = hook.list_contact_fields()

    access = SalesforceAccess(config.salesforce.conn_id)
    describes: dict[str, dict[str, object]] = {}
    try:
        budget = access.daily_budget()
        remaining, maximum = budget.remaining, budget.max
        if remaining < config.salesforce.min_daily_api_remaining:
            problems.append(
                f"Salesforce daily API budget nearly used up: {remaining} of {maximum} calls left, the config "
                f"keeps {config.salesforce.min_daily_api_remaining} in reserve "
                "(salesforce.min_daily_api_remaining). Wait for the rolling 24 h window or lower the reserve."
            )
        for name in config.enabled_objects():
            describes[name] = access.hook.describe_object(name)
    except Exception as exc:  # noqa: BLE001 - every Salesforce failure here is reported the same way
        problems.append(f"Salesforce connection '{config.salesforce.conn_id}': {exc}")

    if heymarket_fields is not None and len(describes) == len(config.enabled_objects()):
        for problem in validate_against_describe(config, describes, heymarket_fields):
            if problem.severity == "error":
                problems.append(f"{problem.path}: {problem.problem} Fix: {problem.fix}")
    return problems, describes, {"salesforce": dict(access.api_calls), "heymarket": dict(hook.api_calls)}


def decide_modes(
    store: StateStore, config: SyncConfig, objects: list[str], requested: str, record_ids: list[str],
    scheduled: bool,
) -> dict[str, object]:
    """Full or incremental, per side, and the watermarks the extractors start from.

    A side without a watermark (first run) is read in full. Scheduled runs also sweep in full once every
    :data:`FULL_SWEEP_EVERY`, because Heymarket has no deleted-contacts feed and Salesforce purges its
    delete log after 15 days.
    """
    sf_watermarks = {name: _iso(store.get_watermark("salesforce", name)) for name in objects}
    hm_watermark = _iso(store.get_watermark("heymarket", "contacts"))
    if record_ids:
        mode = "record_ids"
        sf_mode = hm_mode = "incremental"
    else:
        mode = requested
        if scheduled and requested == "incremental":
            last_full = _last_full_sweep(store)
            if last_full is None or dt.datetime.now(dt.UTC) - last_full > FULL_SWEEP_EVERY:
                mode = "full"
        sf_mode = "full" if mode == "full" or any(v is None for v in sf_watermarks.values()) else "incremental"
        hm_mode = "full" if mode == "full" or hm_watermark is None else "incremental"
        if sf_mode == hm_mode == "full":
            # A first run reads everything: the history must say so (analysts read it, and the
            # scheduled full sweep counts from the last full run).
            mode = "full"
    return {
        "mode": mode,
        "sf_mode": sf_mode,
        "hm_mode": hm_mode,
        "watermarks": {"salesforce": sf_watermarks, "heymarket": hm_watermark},
    }


def _last_full_sweep(store: StateStore) -> dt.datetime | None:
    """Start of the newest successful full run (history rows are newest first)."""
    for run in store.list_runs(limit=200, dag_id="heymarket_sync"):
        if run.get("mode") == "full" and run.get("status") in {"success", "partial"}:
            started = run.get("started_at")
            if isinstance(started, dt.datetime):
                return started if started.tzinfo else started.replace(tzinfo=dt.UTC)
    return None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
