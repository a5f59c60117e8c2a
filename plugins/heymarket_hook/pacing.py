"""Client-side request pacing, shared by every call (and every thread) of one hook instance.

Heymarket allows 500 requests per minute per credential and answers 429 above that; the window is
"the current minute" (a fixed window, as far as the docs say). A client that never sends more than N
requests in *any* sliding period of that length cannot put more than N into *any* fixed window,
whatever its alignment, so a sliding-window log is the right shape here; it also lets short bursts
through at full speed. The log is a pyrate-limiter bucket (thread-safe, blocking): by default in memory,
so pacing is per hook instance; with a shared bucket (:mod:`heymarket_hook.rate_limit_buckets`, connection
extra ``rate_limit_backend: redis``) every hook, task and worker using the credential paces against one
log, so together they stay under Heymarket's limit. Retries go through the pacer too, so a 429 storm
cannot make things worse.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pyrate_limiter import AbstractBucket, InMemoryBucket, Limiter, Rate, SingleBucketFactory

#: Drop expired entries from the log every this many acquisitions (keeps memory flat on long runs).
_LEAK_EVERY = 512


class Pacer:
    """Blocks until one more request fits into ``max_calls`` per ``period_seconds``.

    :param max_calls: requests allowed in any window of ``period_seconds``.
    :param period_seconds: window length; Heymarket's is 60 s, tests may shorten it.
    :param bucket: builds the log from the rate (default: a fresh in-memory bucket, this instance only);
        :func:`heymarket_hook.rate_limit_buckets.build_bucket` gives a shared one.
    :param backend: names the log in ``repr`` (``memory`` / ``redis``).
    """

    def __init__(
        self,
        max_calls: int,
        period_seconds: float = 60.0,
        *,
        bucket: Callable[[Rate], AbstractBucket] | None = None,
        backend: str = "memory",
    ) -> None:
        if max_calls < 1:
            raise ValueError(f"max_calls must be at least 1, got {max_calls}")
        if period_seconds <= 0:
            raise ValueError(f"period_seconds must be positive, got {period_seconds}")
        self.max_calls = max_calls
        self.period_seconds = period_seconds
        self.backend = backend
        rate = Rate(max_calls, max(1, round(period_seconds * 1000)))
        self._bucket = bucket(rate) if bucket is not None else InMemoryBucket([rate])
        # No background leak thread per hook: _acquire leaks expired entries itself now and then.
        self._limiter = Limiter(SingleBucketFactory(self._bucket, schedule_leak=False))
        self._stats_lock = threading.Lock()
        #: Requests admitted so far.
        self.acquired = 0
        #: Total seconds callers spent blocked, and how many acquisitions had to wait at all.
        self.waited_seconds = 0.0
        self.waits = 0

    def acquire(self) -> float:
        """Wait for a slot and take it; return the seconds spent waiting."""
        start = time.monotonic()
        if not self._limiter.try_acquire("heymarket"):
            # Only a weight above max_calls can fail a blocking acquire; weight is always 1.
            raise RuntimeError("request pacer refused a slot")
        waited = time.monotonic() - start
        with self._stats_lock:
            self.acquired += 1
            if waited > 0.001:
                self.waits += 1
                self.waited_seconds += waited
            leak = self.acquired % _LEAK_EVERY == 0
        if leak:
            self._bucket.leak(self._bucket.now())
        return waited

    def try_acquire(self, timeout: float) -> bool:
        """Take a slot if one frees up within ``timeout`` seconds; False (and no slot taken) otherwise.

        For callers that would rather do something else than block, and for tests that show the pacer
        holding a request back without waiting out a whole minute.
        """
        admitted = self._limiter.try_acquire("heymarket", timeout=timeout)
        if admitted:
            with self._stats_lock:
                self.acquired += 1
        return bool(admitted)

    def __repr__(self) -> str:
        shared = "" if self.backend == "memory" else f", {self.backend}"
        return f"Pacer({self.max_calls} per {self.period_seconds:g}s{shared})"
