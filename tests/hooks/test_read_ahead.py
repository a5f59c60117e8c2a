"""``heymarket_hook.read_ahead``: items in order and once, at most *depth* waiting, the reader's error handed
to the consumer, and a consumer that leaves early stops the reader and closes the source.

Every wait below is an event with a generous deadline, never a fixed short window (the machine is busy).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from heymarket_hook.read_ahead import read_ahead

DEADLINE = 30.0


class Source:
    """Counts what was produced; ``produced`` fires after each item, ``closed`` when the generator is closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.produced = 0
        self.threads: set[str] = set()
        self.closed = threading.Event()
        self.progress = threading.Condition()

    def __iter__(self) -> Iterator[int]:
        try:
            for n in range(self.count):
                if n == self.fail_at:
                    raise RuntimeError(f"page {n} failed")
                self.threads.add(threading.current_thread().name)
                with self.progress:
                    self.produced += 1
                    self.progress.notify_all()
                yield n
        except GeneratorExit:
            self.closed.set()
            raise

    def wait_for(self, produced: int) -> bool:
        with self.progress:
            return self.progress.wait_for(lambda: self.produced >= produced, DEADLINE)


def test_every_item_in_order_once_on_the_reader_thread() -> None:
    source = Source(250)
    assert list(read_ahead(source, 7, name="bench-reader")) == list(range(250))
    assert source.threads == {"bench-reader"}


def test_depth_zero_reads_in_the_consumers_thread() -> None:
    source = Source(5)
    assert list(read_ahead(source, 0)) == list(range(5))
    assert source.threads == {threading.current_thread().name}


def test_the_reader_runs_ahead_while_the_consumer_works_but_no_further_than_depth() -> None:
    source = Source(100)
    items = read_ahead(source, 5)
    assert next(items) == 0
    # The consumer "writes" (holds item 0): the reader goes on: 5 waiting + 1 in its hand, blocked on the queue.
    assert source.wait_for(7)
    assert source.produced == 7, "the reader went further than depth (+1 in hand) ahead"
    assert list(items) == list(range(1, 100))


def test_an_error_of_the_reader_comes_after_the_items_before_it() -> None:
    got: list[int] = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for item in read_ahead(Source(10, fail_at=3), 4):
            got.append(item)
    assert got == [0, 1, 2]


def test_leaving_early_stops_the_reader_and_closes_the_source() -> None:
    source = Source(10_000)
    items = read_ahead(source, 3)
    assert [next(items), next(items)] == [0, 1]
    assert source.wait_for(5)  # the reader is blocked on the full queue
    items.close()
    assert source.closed.wait(DEADLINE), "the source was not closed"
    produced = source.produced
    assert produced <= 6, "the reader went on after the consumer left"
    assert not any(t.name == "read-ahead" and t.is_alive() for t in threading.enumerate())


def test_a_consumer_that_stops_with_an_error_stops_the_reader() -> None:
    source = Source(10_000)

    def consume() -> None:
        for item in read_ahead(source, 2, name="stopped-reader"):
            if item == 3:
                raise ValueError("the writer failed")

    with pytest.raises(ValueError, match="writer failed"):
        consume()
    assert source.closed.wait(DEADLINE)
    assert not any(t.name == "stopped-reader" and t.is_alive() for t in threading.enumerate())
