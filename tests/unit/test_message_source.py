"""``HookMessageSource`` reading ahead: the pages and each page's ``done_through`` are those of a walk without
read-ahead, however far the reader ran ahead while the copy was busy; ``close`` stops a walk left open.

The hook is a stand-in serving a small message list the way ``POST /v1/messages/all`` does (inclusive
``created_at`` cursor, ``page`` skip, oldest first), with several messages on one timestamp so that
``done_through`` lags the page's last date.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any, cast

from heymarket_hook.message_pagination import MessageWalk, format_cursor
from heymarket_hook.pagination import parse_timestamp
from sync_engine.message_tasks import MessagePage
from sync_operators.messages import HookMessageSource

START = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
DEADLINE = 30.0


def server_messages(count: int) -> list[dict[str, Any]]:
    """Messages two by two on one timestamp (a page boundary often splits a pair)."""
    return [{"id": 1000 + n, "date": format_cursor(START + dt.timedelta(seconds=n // 2))} for n in range(count)]


class ListingHook:
    """``iter_messages`` as the real hook's loop, over an in-memory listing; counts the calls."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        self.calls = 0
        self.progress = threading.Condition()

    def listing(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        cursor = parse_timestamp(body["created_at"])
        kept = [m for m in self.messages if parse_timestamp(m["date"]) >= cursor]
        skip = (body.get("page", 1) - 1) * body["limit"]
        with self.progress:
            self.calls += 1
            self.progress.notify_all()
        return kept[skip:skip + body["limit"]]

    def iter_messages(self, walk: MessageWalk) -> Iterator[list[dict[str, Any]]]:
        while not walk.finished:
            page = walk.update(self.listing(walk.next_request()))
            if page:
                yield page

    def wait_for_calls(self, calls: int) -> bool:
        with self.progress:
            return self.progress.wait_for(lambda: self.calls >= calls, DEADLINE)


def summary(pages: list[MessagePage]) -> list[tuple[list[int], dt.datetime]]:
    return [([int(m["id"]) for m in page.messages], page.done_through) for page in pages]


def ids_page_last(messages: list[dict[str, Any]], ids: list[int]) -> str:
    """The date of the page's last message (what ``done_through`` may lag behind)."""
    by_id = {m["id"]: m["date"] for m in messages}
    return str(by_id[ids[-1]]).replace("Z", "+00:00")


def source(hook: ListingHook, read_ahead: int) -> HookMessageSource:
    from heymarket_hook import HeymarketHook

    made = HookMessageSource(cast(HeymarketHook, hook), read_ahead=read_ahead)
    made.page_limit = 7  # small pages: many boundaries inside a timestamp pair
    return made


def test_read_ahead_gives_the_pages_and_watermarks_of_a_plain_walk() -> None:
    messages = server_messages(60)
    plain = summary(list(source(ListingHook(messages), 0).pages(START - dt.timedelta(seconds=1), None)))
    # Some pages end inside a timestamp pair: their done_through lags their last date, so a done_through taken
    # later (after the reader went on) would differ from the plain walk's.
    assert len(plain) > 5 and any(done < dt.datetime.fromisoformat(ids_page_last(messages, ids))
                                  for ids, done in plain[:-1])

    hook = ListingHook(messages)
    pages = source(hook, 4).pages(START - dt.timedelta(seconds=1), None)
    first = next(pages)
    assert hook.wait_for_calls(5), "the reader did not run ahead while the copy held a page"
    ahead = summary([first, *pages])
    assert ahead == plain



def test_close_stops_a_walk_the_copy_left_open() -> None:
    hook = ListingHook(server_messages(5_000))
    made = source(hook, 3)
    pages = made.pages(START - dt.timedelta(seconds=1), None)
    next(pages)
    assert hook.wait_for_calls(4)
    made.close()
    calls = hook.calls
    assert calls <= 6, "the reader went further than its depth"
    assert not any(t.name == "heymarket-messages" and t.is_alive() for t in threading.enumerate())
    assert hook.calls == calls
