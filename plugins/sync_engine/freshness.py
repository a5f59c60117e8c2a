"""When a change watcher reports a change, and how often it may ask (issue 14; pure, no Airflow, no clients).

A watcher polls one cheap question ("the newest change after the last sync's watermark?") and tells Airflow
only about changes that are news:

- newer than the **sync watermark** in the state store (what the last run synced), and
- newer than what the watcher **already reported** (kept in Airflow's asset state store, so a triggerer
  restart remembers it). A change already reported is being synced by a run queued or running: reporting it
  again would only queue a second run for it.

A triggerer that dies after reporting a change but before remembering it reports it again once (one extra
run that finds nothing to write); one that dies before reporting it reports it after the restart. A change is
never lost: it stays newer than the watermark until a run synced it, and the cron schedule stays on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: Default seconds between two polls of one system (config ``freshness.poll_seconds``).
DEFAULT_POLL_SECONDS = 30.0
#: How long a watcher waits after a failed poll, at most (doubling from one poll interval).
MAX_ERROR_WAIT_SECONDS = 600.0
#: How long the Salesforce watcher waits between polls while the daily budget is nearly spent.
BUDGET_WAIT_SECONDS = 900.0


def is_news(newest: dt.datetime | None, synced: dt.datetime | None, reported: dt.datetime | None) -> bool:
    """Whether the newest change seen must be reported: after the last sync and after the last report."""
    if newest is None:
        return False
    return (synced is None or newest > synced) and (reported is None or newest > reported)


@dataclass(frozen=True)
class BudgetVerdict:
    """How long to wait before the next Salesforce poll, and why when it is longer than usual."""

    wait_seconds: float
    reason: str | None = None


def budget_wait(poll_seconds: float, remaining: int | None, maximum: int | None, reserve: int) -> BudgetVerdict:
    """Back off while fewer than twice the config's reserve (``salesforce.min_daily_api_remaining``) is left.

    The sync itself refuses to start below the reserve; a watcher polling every 30 s spends 2,880 calls a day,
    so close to the reserve it polls every :data:`BUDGET_WAIT_SECONDS` and says why (counts only).
    """
    if remaining is None or maximum is None or remaining >= 2 * reserve:
        return BudgetVerdict(poll_seconds)
    return BudgetVerdict(
        max(poll_seconds, BUDGET_WAIT_SECONDS),
        f"Salesforce daily API budget nearly spent: {remaining} of {maximum} calls left, under twice the "
        f"reserve of {reserve} (salesforce.min_daily_api_remaining); the watcher polls every "
        f"{int(max(poll_seconds, BUDGET_WAIT_SECONDS))} s until the rolling 24 h window recovers.")


def error_wait(poll_seconds: float, failures: int) -> float:
    """Seconds before the next poll after *failures* failed polls in a row (doubling, capped)."""
    return min(poll_seconds * 2 ** max(failures, 0), max(MAX_ERROR_WAIT_SECONDS, poll_seconds))


def calls_per_day(poll_seconds: float) -> int:
    """API calls one watcher spends a day at one call per poll (docs: cost per poll interval)."""
    return int(round(86_400 / poll_seconds))
