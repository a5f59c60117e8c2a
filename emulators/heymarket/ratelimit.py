"""Fixed-window rate limit per credential ("500 requests per minute").

Windows are aligned to the clock minute ("in the current minute"). Every authenticated request counts,
including the rejected ones, so a client that ignores 429 stays limited until the window ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from emulators.heymarket import choices


class FixedWindowLimiter:
    """:param clock: seconds since the epoch; injectable so tests can step time."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}

    def reset(self) -> None:
        self._windows.clear()

    def hit(self, bucket: str, limit: int, window_seconds: int | None = None) -> int | None:
        """Count one request; return None when allowed, else the whole seconds until the window ends.

        :param window_seconds: the window's length (default: Heymarket's 60 s). Tests that cannot wait out
            minutes scale the limit down in time (e.g. 50 per 6 s for 500 per 60 s): same fixed-window logic,
            windows aligned to multiples of their length since the epoch.
        """
        now = self._clock()
        size = window_seconds or choices.RATE_LIMIT_WINDOW_SECONDS
        window = int(now // size)
        start, count = self._windows.get(bucket, (window, 0))
        if start != window:
            count = 0
        count += 1
        self._windows[bucket] = (window, count)
        if count <= limit:
            return None
        return max(1, math.ceil((window + 1) * size - now))
