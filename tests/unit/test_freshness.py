"""What a watcher reports and how long it waits (sync_engine.freshness)."""

from __future__ import annotations

import datetime as dt

import pytest

from sync_engine.freshness import BUDGET_WAIT_SECONDS, budget_wait, calls_per_day, error_wait, is_news

T = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


@pytest.mark.parametrize(("newest", "synced", "reported", "news"), [
    (None, T, None, False),            # nothing newer than the watermark
    (T, T, None, False),               # exactly the watermark: synced
    (T + S, T, None, True),            # after the last sync, never reported
    (T + S, T, T + S, False),          # reported already: a run is queued or running for it
    (T + 2 * S, T, T + S, True),       # a newer change during that run: one follow-up
    (T + S, None, None, True),         # never synced
    (T + S, T + 2 * S, T, False),      # a run synced past it meanwhile
])
def test_is_news(newest: dt.datetime | None, synced: dt.datetime | None, reported: dt.datetime | None,
                 news: bool) -> None:
    assert is_news(newest, synced, reported) is news


def test_budget_wait_backs_off_under_twice_the_reserve_and_says_why() -> None:
    assert budget_wait(30, 5000, 15000, 1000).wait_seconds == 30
    assert budget_wait(30, None, None, 1000).reason is None
    close = budget_wait(30, 1999, 15000, 1000)
    assert close.wait_seconds == BUDGET_WAIT_SECONDS
    assert close.reason is not None and "1999 of 15000 calls left" in close.reason


def test_error_wait_doubles_and_is_capped() -> None:
    assert [error_wait(30, n) for n in (1, 2, 3)] == [60, 120, 240]
    assert error_wait(30, 10) == 600


def test_calls_per_day() -> None:
    assert calls_per_day(30) == 2880 and calls_per_day(60) == 1440 and calls_per_day(300) == 288
