"""ApiCache: an answer is reused while younger than its validity (and still valid), else read and stored."""

from __future__ import annotations

import datetime as dt

from sync_engine.api_cache import ApiCache, budget_still_valid

T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)


class MemoryStore:
    def __init__(self, now: list[dt.datetime]) -> None:
        self.rows: dict[str, tuple[object, dt.datetime]] = {}
        self.now = now

    def get_cached(self, key: str) -> tuple[object, dt.datetime] | None:
        return self.rows.get(key)

    def put_cached(self, key: str, value: object) -> None:
        self.rows[key] = (value, self.now[0])


def make_cache() -> tuple[ApiCache, MemoryStore, list[dt.datetime], list[int]]:
    now = [T0]
    store = MemoryStore(now)
    opened: list[int] = []

    def open_store() -> MemoryStore:
        opened.append(1)
        return store

    return ApiCache(open_store, now=lambda: now[0]), store, now, opened


def test_an_answer_is_read_once_then_reused_while_valid_then_read_again() -> None:
    cache, store, now, opened = make_cache()
    reads: list[int] = []

    def read() -> dict[str, int]:
        reads.append(1)
        return {"n": len(reads)}

    assert cache.fetch("k", dt.timedelta(hours=1), read) == {"n": 1}
    now[0] = T0 + dt.timedelta(minutes=59)
    assert cache.fetch("k", dt.timedelta(hours=1), read) == {"n": 1}
    assert len(reads) == 1
    now[0] = T0 + dt.timedelta(hours=1)
    assert cache.fetch("k", dt.timedelta(hours=1), read) == {"n": 2}
    assert store.rows["k"] == ({"n": 2}, T0 + dt.timedelta(hours=1))
    assert opened == [1]  # the store is opened once, on first use


def test_a_cached_budget_close_to_the_reserve_is_read_again() -> None:
    cache, store, now, _ = make_cache()
    store.put_cached("salesforce.limits", {"used": 14_500, "max": 15_000})  # 500 left, reserve 300: < 2 x 300
    fresh = {"used": 14_900, "max": 15_000}
    got = cache.fetch("salesforce.limits", dt.timedelta(minutes=15), lambda: fresh, budget_still_valid(300))
    assert got == fresh
    assert budget_still_valid(300)({"used": 1_000, "max": 15_000})
    assert not budget_still_valid(300)({"used": 14_500, "max": 15_000})
    assert not budget_still_valid(300)("not a reading")
