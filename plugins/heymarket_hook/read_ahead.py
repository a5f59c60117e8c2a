"""Reading the next pages while the consumer works: a bounded read-ahead over any iterator, on one thread.

Why: the message copy reads Heymarket at the rate limit and writes Salesforce Bulk 2.0 jobs of 10,000 Tasks
in between; one thread doing both leaves the rate limit unused for the seconds each job takes (a
1,000,000-message backfill runs 100 of them). With :func:`read_ahead` the pages keep coming, paced by the
hook as before (its pacer is shared by every thread using it), while the consumer writes.

What it keeps: the items come in their order, each once; at most *depth* wait in memory (the reader blocks
when the consumer falls behind); an exception of the reader reaches the consumer at the point where the item
it failed to produce would have come, after every item before it. Closing the returned generator (or
leaving it early: a ``break``, a stop, an error in the consumer) stops the reader before its next item and
closes the source. What the consumer has not taken is simply not used: the message copy moves its watermark
only over pages it wrote, so pages read ahead and dropped are read again by the next run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import TypeVar

T = TypeVar("T")

#: How long a blocked reader waits before checking whether the consumer left (seconds).
_POLL_SECONDS = 0.1
#: How long closing waits for the reader to finish the item in hand (a request: its timeout bounds it).
JOIN_SECONDS = 30.0


class _End:
    """The reader's last word: the source ran out (``error`` None) or raised ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def read_ahead(items: Iterable[T], depth: int, *, name: str = "read-ahead") -> Generator[T]:
    """The items of *items*, produced on a background thread up to *depth* ahead of the consumer.

    :param depth: items that may wait; 0 or less reads in the consumer's thread (no thread at all).
    :param name: the reader thread's name (shows in thread dumps).
    """
    if depth <= 0:
        yield from items
        return
    waiting: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    left = threading.Event()

    def hand_over(item: T | _End) -> bool:
        """Put *item* in the queue unless the consumer has left; False when it has."""
        while not left.is_set():
            try:
                waiting.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        source = iter(items)
        try:
            for item in source:
                if not hand_over(item):
                    return
            hand_over(_End(None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            hand_over(_End(exc))
        finally:
            close = getattr(source, "close", None)
            if left.is_set() and close is not None:
                close()

    reader = threading.Thread(target=read, name=name, daemon=True)
    reader.start()
    try:
        while True:
            item = waiting.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        left.set()
        reader.join(JOIN_SECONDS)
