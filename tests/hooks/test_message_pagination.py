"""MessageWalk: the oldest-first walk over ``POST /v1/messages/all`` with its quirks (inclusive cursor, many
messages on one timestamp, short last page), and its loop detection. A fake server in the emulator's rules."""

from __future__ import annotations

import datetime as dt

import pytest

from heymarket_hook.errors import HeymarketPaginationError
from heymarket_hook.message_pagination import MessageWalk, format_cursor

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def msg(mid: int, seconds: float) -> dict[str, object]:
    return {"id": mid, "date": format_cursor(T0 + dt.timedelta(seconds=seconds))}


class Server:
    """The emulator's listing: ascending by (date, id), the cursor inclusive, ``page`` skips."""

    def __init__(self, messages: list[dict[str, object]]) -> None:
        self.messages = sorted(messages, key=lambda m: (str(m["date"]), int(str(m["id"]))))
        self.calls = 0

    def answer(self, body: dict[str, object]) -> list[dict[str, object]]:
        self.calls += 1
        assert body["order"] == "created_at" and body["ascending"] is True
        cursor = str(body["created_at"])
        limit = int(str(body["limit"]))
        skip = (int(str(body.get("page") or 1)) - 1) * limit
        kept = [m for m in self.messages if str(m["date"]) >= cursor]
        return kept[skip:skip + limit]


def walk_all(server: Server, walk: MessageWalk) -> list[int]:
    out: list[int] = []
    while not walk.finished:
        out += [int(str(m["id"])) for m in walk.update(server.answer(walk.next_request()))]
    return out


def test_every_message_after_the_watermark_once_oldest_first() -> None:
    server = Server([msg(i, i) for i in range(1, 11)])
    walk = MessageWalk(after=T0 + dt.timedelta(seconds=2), page_size=3)
    assert walk_all(server, walk) == list(range(3, 11))
    assert walk.done_through == T0 + dt.timedelta(seconds=10)
    assert walk.duplicates > 0  # the inclusive cursor repeated each page's last message


def test_many_messages_on_one_timestamp_are_paged_through() -> None:
    server = Server([msg(1, 1), *[msg(i, 5) for i in range(2, 12)], msg(12, 9)])
    walk = MessageWalk(after=T0, page_size=3)
    assert walk_all(server, walk) == list(range(1, 13))


def test_until_bounds_the_walk_and_done_through_never_passes_a_message_not_yet_emitted() -> None:
    server = Server([msg(i, i) for i in range(1, 11)])
    walk = MessageWalk(after=T0, until=T0 + dt.timedelta(seconds=6), page_size=4)
    seen: list[int] = []
    while not walk.finished:
        seen += [int(str(m["id"])) for m in walk.update(server.answer(walk.next_request()))]
        assert walk.done_through <= T0 + dt.timedelta(seconds=max(seen))
    assert seen == [1, 2, 3, 4, 5, 6] and walk.done_through == T0 + dt.timedelta(seconds=6)


def test_an_empty_list_finishes_at_once() -> None:
    walk = MessageWalk(after=T0)
    assert walk.update([]) == [] and walk.finished and walk.done_through == T0


def test_a_server_ignoring_the_cursor_or_the_order_is_stopped() -> None:
    walk = MessageWalk(after=T0 + dt.timedelta(seconds=5), page_size=2)
    with pytest.raises(HeymarketPaginationError, match="starts before the cursor"):
        walk.update([msg(1, 1), msg(2, 2)])
    walk = MessageWalk(after=T0, page_size=2)
    with pytest.raises(HeymarketPaginationError, match="not sorted oldest"):
        walk.update([msg(2, 2), msg(1, 1)])
    walk = MessageWalk(after=T0, page_size=2)
    same = [msg(1, 1), msg(2, 1)]
    walk.update(same)
    walk.update(same)  # the server ignores 'page': no new id
    with pytest.raises(HeymarketPaginationError, match="ignore 'page'"):
        walk.update(same)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        MessageWalk(after=dt.datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="page_size"):
        MessageWalk(after=T0, page_size=101)
