"""The page's view (filters and paging) from and back to the URL query string (``sync_history.query``)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from sync_history.query import RUNS_PER_PAGE, HistoryQuery, QueryError, parse_query


def test_a_view_round_trips_through_its_url() -> None:
    query = parse_query({"from": ["2026-11-01"], "to": ["2026-11-30"], "status": ["failed", "cancelled"],
                         "trigger": ["manual"], "object": ["Lead"], "page": ["3"], "page_size": ["20"]})
    assert query == HistoryQuery(dt.date(2026, 11, 1), dt.date(2026, 11, 30), ("failed", "cancelled"), ("manual",),
                                 ("Lead",), 3, 20)
    url = query.url("/sync-history/")
    assert parse_query(parse_qs(urlsplit(url).query)) == query
    # the exports take every page: no page, no page size
    assert "page" not in parse_qs(urlsplit(query.url("/x", paged=False)).query)
    assert query.offset == 40


def test_the_end_day_is_inclusive_in_utc() -> None:
    run_filter = parse_query({"from": ["2026-11-01"], "to": ["2026-11-01"]}).run_filter()
    assert run_filter.started_from == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert run_filter.started_before == dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def test_defaults_empty_values_commas_and_the_old_limit() -> None:
    assert parse_query({}) == HistoryQuery()
    assert parse_query({"status": [""], "from": [""]}) == HistoryQuery()
    assert parse_query({"status": ["failed,partial"]}).statuses == ("failed", "partial")
    assert parse_query({"limit": ["100"]}).page_size == 100
    assert HistoryQuery().url("/p") == "/p" and HistoryQuery().page_size == RUNS_PER_PAGE


@pytest.mark.parametrize(("values", "says"), [
    ({"status": ["done"]}, "status 'done' is not known; status takes: running, success"),
    ({"trigger": ["cron"]}, "trigger 'cron' is not known"),
    ({"object": ["Account"]}, "object 'Account' is not known"),
    ({"from": ["01/11/2026"]}, "from must be a day as YYYY-MM-DD"),
    ({"from": ["2026-11-02"], "to": ["2026-11-01"]}, "to (2026-11-01) is before from (2026-11-02)"),
    ({"page": ["0"]}, "page must be a whole number, 1 or more"),
    ({"page_size": ["501"]}, "page_size must be a whole number, 1 to 500"),
    ({"limit": ["0"]}, "limit must be a whole number, 1 to 500"),
])
def test_a_bad_value_says_which_parameter_and_what_it_takes(values: dict[str, list[str]], says: str) -> None:
    with pytest.raises(QueryError, match=None) as raised:
        parse_query(values)
    assert str(raised.value).startswith(says), str(raised.value)
