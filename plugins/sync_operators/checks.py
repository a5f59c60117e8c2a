"""Preflight's checks through the hooks: both connections, the default inbox, the budget, the mapping.

The preflight stage (``sync_engine.stages.preflight_stage``) takes :func:`check_connections_and_mapping` as its
port to the two systems; the decisions that need no connection (objects, record ids, modes) are the stage's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

from sync_engine.stages.preflight_stage import Findings

if TYPE_CHECKING:
    from salesforce_access import SalesforceAccess
    from salesforce_access.budget import ApiBudget
    from sync_engine.api_cache import ApiCache
    from sync_engine.config import SyncConfig


def check_connections_and_mapping(config: SyncConfig, objects: Sequence[str], cache: ApiCache,
                                  config_path: str = "") -> Findings:
    """Both connections answer, the default inbox exists, the Salesforce budget is not exhausted, the mapping
    fits the live metadata.

    Every problem is collected rather than raised, so that the admin sees all of them at once; each is sorted
    into "fix it" or "wait, it passes" (see :class:`Findings`). Describes, limits, inboxes and contact fields
    come from *cache* while valid (``sync_engine.api_cache``): with all of them valid, preflight makes no call,
    and a broken connection shows in the first task that calls it.
    """
    from heymarket_hook.errors import HeymarketError
    from salesforce_access import SalesforceAccess  # noqa: F811 - the runtime import of the TYPE_CHECKING one
    from salesforce_access.budget import ApiBudget  # noqa: F811 - the runtime import of the TYPE_CHECKING one
    from sync_engine import api_cache
    from sync_engine.config import validate_against_describe
    from sync_operators.runtime import heymarket_hook

    found = Findings()
    hook = heymarket_hook(config)
    heymarket_fields: list[dict[str, object]] | None = None
    where = f"Heymarket connection '{config.heymarket.conn_id}'"
    try:
        inboxes = cache.fetch(api_cache.INBOXES_KEY, api_cache.HEYMARKET_METADATA_VALID,
                              lambda: [{"id": i.get("id"), "name": i.get("name")} for i in hook.list_inboxes()])
        heymarket_fields = cache.fetch(api_cache.CONTACT_FIELDS_KEY, api_cache.HEYMARKET_METADATA_VALID,
                                       hook.list_contact_fields)
        found.heymarket_fields = heymarket_fields
    except HeymarketError as exc:
        (found.transient if exc.retriable else found.problems).append(f"{where}: {exc}")
    else:
        problem = default_inbox_problem(config.default_inbox, inboxes, config_path)
        if problem:
            found.problems.append(problem)

    access = SalesforceAccess(config.salesforce.conn_id)
    try:
        for name in config.enabled_objects():
            found.describes[name] = cache.fetch(api_cache.describe_key(name), api_cache.DESCRIBE_VALID,
                                                partial(_describe, access, name))
        # After the describes: when one was read, its response's Sforce-Limit-Info header is the budget, exact and
        # free; only when every describe came from the cache is /limits called (issue 14: a no-op run's cost).
        reserve = config.salesforce.min_daily_api_remaining
        reading = cache.fetch(api_cache.LIMITS_KEY, api_cache.LIMITS_VALID,
                              lambda: _budget_json(access.daily_budget(refresh=False)),
                              api_cache.budget_still_valid(reserve))
        budget = ApiBudget(used=int(reading["used"]), max=int(reading["max"]))
        remaining, maximum = budget.remaining, budget.max
        if remaining < config.salesforce.min_daily_api_remaining:
            found.problems.append(
                f"Salesforce daily API budget nearly used up: {remaining} of {maximum} calls left, the config "
                f"keeps {config.salesforce.min_daily_api_remaining} in reserve "
                "(salesforce.min_daily_api_remaining). Wait for the rolling 24 h window or lower the reserve."
            )
    except Exception as exc:  # noqa: BLE001 - every Salesforce failure is sorted into fix-it or wait-for-it
        transient, message = _salesforce_failure(exc)
        (found.transient if transient else found.problems).append(
            f"Salesforce connection '{config.salesforce.conn_id}': {message}")

    if heymarket_fields is not None and len(found.describes) == len(config.enabled_objects()):
        for finding in validate_against_describe(config, found.describes, heymarket_fields):
            if finding.severity == "error":
                found.problems.append(f"{finding.path}: {finding.problem} Fix: {finding.fix}")
    found.api_calls = {"salesforce": dict(access.api_calls), "heymarket": dict(hook.api_calls)}
    return found


def _describe(access: SalesforceAccess, name: str) -> dict[str, object]:
    """One object's describe as plain JSON (what the cache keeps)."""
    return access.describe_json(name)


def _budget_json(budget: ApiBudget) -> dict[str, int]:
    """An ``ApiBudget`` as the JSON the cache keeps."""
    return {"used": budget.used, "max": budget.max}


def _salesforce_failure(exc: BaseException) -> tuple[bool, str]:
    """(worth retrying, message) of a failure while checking the Salesforce connection."""
    from salesforce_access.errors import TransientSalesforceError, classify

    try:
        typed = classify(exc, "check the connection and describe the synced objects")
    except TypeError:  # not a Salesforce or network failure: say what it was, do not retry it blindly
        return False, f"{type(exc).__name__}: {exc}"
    return isinstance(typed, TransientSalesforceError), str(typed)


def default_inbox_problem(configured: str | None, inboxes: Sequence[Mapping[str, object]],
                          config_path: str = "") -> str | None:
    """Why the configured ``default_inbox`` cannot be used (``None``: not set, or found by id or name).

    example-full.yaml promises the check "when the sync starts": an inbox renamed or taken away from the API
    user would otherwise show up only when an agent starts a conversation from Salesforce.
    """
    if configured is None:
        return None
    wanted = str(configured).strip()
    if any(str(i.get("id")) == wanted or str(i.get("name")) == wanted for i in inboxes):
        return None
    if len([i for i in inboxes if str(i.get("name", "")).casefold() == wanted.casefold()]) == 1:
        return None
    seen = ", ".join(f"{i.get('name')} (id {i.get('id')})" for i in inboxes) or "none at all"
    where = f" in {config_path}" if config_path else ""
    return (f"default_inbox '{wanted}'{where} is not an inbox the Heymarket connection can see (by id or name); "
            f"it sees: {seen}. Set default_inbox to one of them, or give the API user access to that inbox in "
            "Heymarket. The heymarket_setup DAG's default_inbox step lists the inboxes (so does Heymarket's "
            "GET /v1/inboxes).")
