"""Pure unit tests of the Heymarket hook's parts: paginator, pacer, auth, request path (no sockets).

The request path is driven through a scripted ``requests`` transport adapter mounted on the hook's own
session, so retries, status classification and JWT re-minting run exactly as in production, only
without a server. The same behaviours are proven again over real sockets against the emulator in
``test_heymarket_hook_emulator.py``.
"""

from __future__ import annotations

import json
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.adapters import BaseAdapter

from heymarket_hook.auth import ApiKeyAuth, JwtAuth
from heymarket_hook.errors import (
    HeymarketAuthError,
    HeymarketBadRequest,
    HeymarketConfigError,
    HeymarketConnectionError,
    HeymarketError,
    HeymarketNotFound,
    HeymarketPaginationError,
    HeymarketRateLimited,
    HeymarketServerError,
)
from heymarket_hook.hook import HeymarketHook, _base_url, _match_failures, _parse_count
from heymarket_hook.pacing import Pacer
from heymarket_hook.pagination import DateCursorPaginator, parse_timestamp

API_KEY = "unit-test-api-key-0123456789"
SECRET_ID = "11111111-2222-3333-4444-555555555555"
SECRET_KEY = "UnitTestSecretKey0123456789abcdef"


# --------------------------------------------------------------------------------------------------
# a list endpoint with the lead's semantics, in memory


def _stamp(seconds: float) -> str:
    return (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def fake_list(contacts: list[dict[str, Any]], body: dict[str, Any], *, ignore_page: bool = False,
              ignore_date: bool = False) -> list[dict[str, Any]]:
    """``POST /v1/contacts``: newest ``updated`` first, ties by id desc, ``date`` inclusive, ``page`` offset."""
    items = sorted(contacts, key=lambda c: (parse_timestamp(c["updated"]), c["id"]), reverse=True)
    if body.get("date") and not ignore_date:
        cutoff = parse_timestamp(body["date"])
        items = [c for c in items if parse_timestamp(c["updated"]) <= cutoff]
    limit = min(int(body.get("limit") or 30), 100)
    page = 1 if ignore_page else max(int(body.get("page") or 1), 1)
    return items[(page - 1) * limit: page * limit]


def walk(contacts: list[dict[str, Any]], page_size: int, since: datetime | None = None,
         **server: bool) -> tuple[list[dict[str, Any]], int]:
    pager = DateCursorPaginator(page_size=page_size, since=since)
    emitted: list[dict[str, Any]] = []
    calls = 0
    while not pager.finished:
        calls += 1
        assert calls < 10_000, "paginator did not terminate"
        emitted += pager.update(fake_list(contacts, pager.next_request(), **server))
    return emitted, calls


def make_contacts(stamps: list[float]) -> list[dict[str, Any]]:
    return [{"id": i + 1, "rev": 1, "updated": _stamp(s)} for i, s in enumerate(stamps)]


# --------------------------------------------------------------------------------------------------
# paginator


@pytest.mark.parametrize("page_size", [1, 7, 30, 100])
def test_paginator_reads_distinct_timestamps_once_each(page_size: int) -> None:
    contacts = make_contacts([float(i) for i in range(250)])
    emitted, calls = walk(contacts, page_size)
    assert sorted(c["id"] for c in emitted) == list(range(1, 251))
    # inclusive cursor: each page after the first repeats one contact, so about n/(size-1) calls + the
    # empty one; a page of one holds only the repeat, so then the walk pages on (two calls per contact)
    assert calls <= (2 * 250 if page_size == 1 else 250 // (page_size - 1)) + 3


@pytest.mark.parametrize("page_size", [3, 10, 100])
def test_paginator_sees_everyone_when_many_contacts_share_one_updated(page_size: int) -> None:
    # 5 newer, a block of 250 sharing one timestamp (a bulk write), 40 older ones
    stamps = [1000.0 + i for i in range(5)] + [500.0] * 250 + [float(i) for i in range(40)]
    contacts = make_contacts(stamps)
    emitted, calls = walk(contacts, page_size)
    ids = [c["id"] for c in emitted]
    assert len(ids) == len(set(ids)) == len(contacts)
    assert calls < 2 * len(contacts) // page_size + 10


def test_paginator_whole_list_on_one_timestamp() -> None:
    contacts = make_contacts([42.0] * 333)
    emitted, _ = walk(contacts, 100)
    assert sorted(c["id"] for c in emitted) == list(range(1, 334))


@settings(max_examples=150, deadline=None)
@given(
    stamps=st.lists(st.integers(min_value=0, max_value=25), min_size=0, max_size=300),
    page_size=st.integers(min_value=1, max_value=100),
)
def test_paginator_property_every_id_exactly_once(stamps: list[int], page_size: int) -> None:
    contacts = make_contacts([float(s) for s in stamps])
    emitted, calls = walk(contacts, page_size)
    ids = [c["id"] for c in emitted]
    assert len(ids) == len(set(ids))
    assert set(ids) == {c["id"] for c in contacts}
    # bounded work: a page per page_size contacts, plus one repeat page per distinct timestamp, plus the end
    assert calls <= len(contacts) // page_size + 2 * len(set(stamps)) + 2


def test_paginator_since_is_an_inclusive_lower_bound() -> None:
    contacts = make_contacts([float(i) for i in range(100)])
    since = parse_timestamp(_stamp(60))
    emitted, calls = walk(contacts, 10, since=since)
    assert sorted(c["id"] for c in emitted) == list(range(61, 101))  # updated 60..99
    assert calls <= 6  # stops at the first older contact, does not walk to the end


def test_paginator_since_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DateCursorPaginator(since=datetime(2025, 1, 1))  # noqa: DTZ001 - the point of the test


def test_paginator_request_bodies() -> None:
    pager = DateCursorPaginator(page_size=2)
    assert pager.next_request() == {"limit": 2, "ascending": False}
    pager.update([{"id": 3, "rev": 1, "updated": _stamp(5)}, {"id": 2, "rev": 1, "updated": _stamp(5)}])
    assert pager.next_request() == {"limit": 2, "ascending": False, "date": _stamp(5)}
    pager.update([{"id": 3, "rev": 1, "updated": _stamp(5)}, {"id": 2, "rev": 1, "updated": _stamp(5)}])
    assert pager.next_request() == {"limit": 2, "ascending": False, "date": _stamp(5), "page": 2}


def test_paginator_passes_on_a_higher_rev_and_drops_same_rev_copies() -> None:
    pager = DateCursorPaginator(page_size=2)
    first = pager.update([{"id": 9, "rev": 1, "updated": _stamp(9)}, {"id": 8, "rev": 1, "updated": _stamp(8)}])
    again = pager.update([{"id": 8, "rev": 1, "updated": _stamp(8)}, {"id": 7, "rev": 1, "updated": _stamp(7)}])
    newer = pager.update([{"id": 7, "rev": 3, "updated": _stamp(7)}, {"id": 6, "rev": 1, "updated": _stamp(6)}])
    assert [c["id"] for c in first] == [9, 8]
    assert [c["id"] for c in again] == [7]
    assert [(c["id"], c["rev"]) for c in newer] == [(7, 3), (6, 1)]
    assert pager.duplicates == 1


def test_paginator_detects_a_server_that_ignores_page() -> None:
    contacts = make_contacts([7.0] * 50)
    with pytest.raises(HeymarketPaginationError, match="ignore 'page'"):
        walk(contacts, 10, ignore_page=True)


def test_paginator_detects_a_server_that_ignores_date() -> None:
    contacts = make_contacts([float(i) for i in range(50)])
    with pytest.raises(HeymarketPaginationError, match="ignore 'date'"):
        walk(contacts, 10, ignore_date=True)


def test_paginator_rejects_unsorted_pages_and_missing_updated() -> None:
    pager = DateCursorPaginator(page_size=2)
    with pytest.raises(HeymarketPaginationError, match="newest"):
        pager.update([{"id": 1, "updated": _stamp(1)}, {"id": 2, "updated": _stamp(2)}])
    with pytest.raises(HeymarketPaginationError, match="'updated'"):
        DateCursorPaginator().update([{"id": 1}])


# --------------------------------------------------------------------------------------------------
# pacer (real clock, short period)


def _max_in_window(stamps: list[float], window: float) -> int:
    return max(sum(1 for t in stamps if start <= t < start + window) for start in stamps)


def test_pacer_never_exceeds_its_rate_in_any_window() -> None:
    pacer = Pacer(5, period_seconds=0.5)
    stamps = []
    start = time.monotonic()
    for _ in range(12):
        pacer.acquire()
        stamps.append(time.monotonic())
    elapsed = time.monotonic() - start
    assert elapsed >= 1.0  # calls 6 and 11 each had to wait a full period
    assert _max_in_window(stamps, 0.5) <= 5
    assert pacer.acquired == 12 and pacer.waits >= 2 and pacer.waited_seconds >= 0.9


def test_pacer_is_shared_between_threads() -> None:
    pacer = Pacer(6, period_seconds=0.4)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            pacer.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stamps) == 20
    assert time.monotonic() - start >= 3 * 0.4  # 20 calls at 6 per window need 3 more windows
    assert _max_in_window(sorted(stamps), 0.4) <= 6


def test_pacer_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Pacer(0)
    with pytest.raises(ValueError):
        Pacer(5, period_seconds=0)


# --------------------------------------------------------------------------------------------------
# auth


class FakeClock:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value


def test_jwt_has_heymarkets_shape_and_signature() -> None:
    auth = JwtAuth(SECRET_ID, SECRET_KEY, wall_clock=FakeClock(1_700_000_000.7))
    token = auth.token()
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, f"{SECRET_ID}||{SECRET_KEY}", algorithms=["HS256"], options={"verify_iat": False})
    assert claims == {"iss": SECRET_ID, "iat": 1_700_000_000}
    assert auth.authorization() == f"Bearer {token}"


def test_jwt_is_cached_below_its_lifetime_and_reminted_after() -> None:
    mono = FakeClock(100.0)
    minted: list[str] = []
    auth = JwtAuth(SECRET_ID, SECRET_KEY, monotonic=mono, wall_clock=lambda: 1_700_000_000 + mono.value,
                   on_mint=minted.append)
    first = auth.token()
    mono.value += 239
    assert auth.token() == first and auth.mint_count == 1
    mono.value += 1  # 240 s: the 60 s safety margin below Heymarket's 300 s is reached
    second = auth.token()
    assert second != first and auth.mint_count == 2
    auth.invalidate()
    mono.value += 1  # tokens are deterministic per second; a re-mint a second later differs
    assert auth.token() != second and auth.mint_count == 3
    assert tuple(minted) == auth.secrets()[2:]


def test_jwt_max_age_must_stay_below_five_minutes() -> None:
    with pytest.raises(ValueError, match="max_age"):
        JwtAuth(SECRET_ID, SECRET_KEY, max_age=300)


def test_auth_reprs_hide_secrets() -> None:
    jwt_auth = JwtAuth(SECRET_ID, SECRET_KEY)
    token = jwt_auth.token()
    for text in (repr(jwt_auth), str(jwt_auth), repr(ApiKeyAuth(API_KEY))):
        assert SECRET_KEY not in text and API_KEY not in text and token not in text


# --------------------------------------------------------------------------------------------------
# the request path with a scripted transport


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raise_exc: Exception | None = None


class ScriptedTransport(BaseAdapter):
    """A requests transport that answers from a script (or a handler) and records what it was sent."""

    def __init__(self, script: list[Reply] | Callable[[requests.PreparedRequest], Reply]) -> None:
        super().__init__()
        self.script = script
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        reply = self.script(request) if callable(self.script) else self.script.pop(0)
        if reply.raise_exc is not None:
            raise reply.raise_exc
        response = requests.Response()
        response.status_code = reply.status
        response.headers.update({"X-Request-Id": f"req-{len(self.sent)}", **reply.headers})
        response._content = b"" if reply.body is None else json.dumps(reply.body).encode()
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "hm_unit", **fields: Any) -> str:
    payload = {"conn_type": "heymarket", "host": "http://heymarket.test", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(payload))
    return conn_id


def scripted_hook(monkeypatch: pytest.MonkeyPatch, script: Any, *, max_attempts: int = 3,
                  **conn: Any) -> tuple[HeymarketHook, ScriptedTransport, SleepRecorder]:
    conn = conn or {"password": API_KEY}
    sleeper = SleepRecorder()
    hook = HeymarketHook(set_conn(monkeypatch, **conn), max_attempts=max_attempts, sleep=sleeper,
                         requests_per_minute=100_000)
    transport = ScriptedTransport(script)
    hook.get_conn().mount("http://", transport)
    return hook, transport, sleeper


@pytest.mark.parametrize(
    ("status", "error", "calls"),
    [
        (400, HeymarketBadRequest, 1),
        (401, HeymarketAuthError, 1),
        (403, HeymarketAuthError, 1),
        (404, HeymarketNotFound, 1),
        (409, HeymarketBadRequest, 1),
        (422, HeymarketBadRequest, 1),
        (429, HeymarketRateLimited, 3),
        (500, HeymarketServerError, 3),
        (502, HeymarketServerError, 3),
        (503, HeymarketServerError, 3),
    ],
)
def test_status_maps_to_typed_error_and_only_transient_ones_retry(
    monkeypatch: pytest.MonkeyPatch, status: int, error: type[HeymarketError], calls: int,
) -> None:
    reply = Reply(status, {"error": "some_error", "message": "server says no"})
    hook, transport, sleeper = scripted_hook(monkeypatch, lambda request: reply)
    with pytest.raises(error) as caught:
        hook.get_team()
    assert type(caught.value) is error
    assert len(transport.sent) == calls
    assert len(sleeper.waits) == calls - 1
    assert hook.api_calls == {"GET /v1/team": calls}
    assert hook.retries == ({"GET /v1/team": calls - 1} if calls > 1 else {})
    exc = caught.value
    assert exc.status == status and exc.api_error == "some_error" and exc.endpoint == "GET /v1/team"
    assert exc.request_id == f"req-{calls}"
    assert "server says no" in str(exc) and f"req-{calls}" in str(exc)


@pytest.mark.parametrize(
    "failure", [requests.ConnectTimeout("connect timed out"), requests.ReadTimeout("read timed out"),
                requests.ConnectionError("connection refused")],
)
def test_network_failures_are_retried_then_typed(monkeypatch: pytest.MonkeyPatch, failure: Exception) -> None:
    hook, transport, _ = scripted_hook(monkeypatch, lambda request: Reply(raise_exc=failure))
    with pytest.raises(HeymarketConnectionError) as caught:
        hook.list_inboxes()
    assert len(transport.sent) == 3
    assert caught.value.status is None and caught.value.retriable


def test_retries_then_succeeds_and_honours_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    script = [Reply(503), Reply(429, {"error": "rate_limited"}, {"Retry-After": "7"}), Reply(200, [{"id": 1}])]
    hook, transport, sleeper = scripted_hook(monkeypatch, script, max_attempts=6)
    assert hook.list_inboxes() == [{"id": 1}]
    assert len(transport.sent) == 3
    assert 0 <= sleeper.waits[0] <= 0.5  # full jitter: uniform 0..base
    assert sleeper.waits[1] >= 7  # at least what the server asked
    assert hook.api_calls == {"GET /v1/inboxes": 3} and hook.retries == {"GET /v1/inboxes": 2}


def test_backoff_is_exponential_full_jitter_and_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _, sleeper = scripted_hook(monkeypatch, lambda request: Reply(500), max_attempts=8)
    hook.backoff_base, hook.backoff_max = 1.0, 10.0
    with pytest.raises(HeymarketServerError):
        hook.get_team()
    ceilings = [min(10.0, 2.0**n) for n in range(7)]
    assert len(sleeper.waits) == 7
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(sleeper.waits, ceilings, strict=True))


def test_sends_bearer_key_json_and_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, transport, _ = scripted_hook(monkeypatch, [Reply(200, {"id": 5, "rev": 2, "uuid": "u"})])
    hook.update_contact(5, {"phone": "14155550100"}, overwrite=True)
    sent = transport.sent[0]
    assert sent.method == "PUT" and sent.url == "http://heymarket.test/v1/contact/5?overwrite=true"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert json.loads(sent.body) == {"phone": "14155550100"}


def test_jwt_rejected_once_is_reminted_and_the_call_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    script = [Reply(401, {"error": "unauthorized"}), Reply(200, [])]
    hook, transport, _ = scripted_hook(
        monkeypatch, script, extra={"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
    )
    stale_clock = iter([time.time() - 400])
    hook._config().auth.wall_clock = lambda: next(stale_clock, time.time())
    assert hook.list_inboxes() == []
    tokens = [r.headers["Authorization"].removeprefix("Bearer ") for r in transport.sent]
    assert tokens[0] != tokens[1]
    assert jwt.decode(tokens[1], f"{SECRET_ID}||{SECRET_KEY}", algorithms=["HS256"])["iss"] == SECRET_ID
    assert hook.retries == {"GET /v1/inboxes": 1}


def test_jwt_rejected_twice_fails_with_a_fix_it_message(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, transport, _ = scripted_hook(
        monkeypatch, lambda request: Reply(401, {"error": "unauthorized", "message": "bad signature"}),
        extra={"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
    )
    with pytest.raises(HeymarketAuthError) as caught:
        hook.list_inboxes()
    assert len(transport.sent) == 2
    message = str(caught.value)
    assert "API Secret ID / Secret Key" in message and "'hm_unit'" in message and "Test" in message


def test_api_key_rejected_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, transport, sleeper = scripted_hook(monkeypatch, lambda request: Reply(401, {"error": "unauthorized"}))
    with pytest.raises(HeymarketAuthError, match="Check the API key in the Airflow connection 'hm_unit'"):
        hook.list_inboxes()
    assert len(transport.sent) == 1 and sleeper.waits == []


def test_server_text_echoing_a_secret_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _, _ = scripted_hook(
        monkeypatch, lambda request: Reply(400, {"error": "bad_data", "message": f"key {API_KEY} is odd"}),
    )
    with pytest.raises(HeymarketBadRequest) as caught:
        hook.get_team()
    assert API_KEY not in str(caught.value) and API_KEY not in repr(caught.value)
    assert "key *** is odd" in str(caught.value)


def test_non_json_success_body_is_a_retriable_server_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Garbage(ScriptedTransport):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            response = super().send(request, **kwargs)
            response._content = b"<html>proxy</html>"
            return response

    hook = HeymarketHook(set_conn(monkeypatch, password=API_KEY), max_attempts=2, sleep=SleepRecorder())
    transport = Garbage(lambda request: Reply(200))
    hook.get_conn().mount("http://", transport)
    with pytest.raises(HeymarketServerError, match="not JSON"):
        hook.get_team()
    assert len(transport.sent) == 2


def test_get_contact_by_phone_returns_none_on_404(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, transport, _ = scripted_hook(monkeypatch, [Reply(404, {"error": "not_found"})])
    assert hook.get_contact_by_phone("14155550100") is None
    assert len(transport.sent) == 1


def test_errors_pickle_with_their_fields() -> None:
    exc = HeymarketRateLimited(429, "rid", "rate_limited", "slow down", "POST /v1/contacts", retry_after=3.0)
    copy = pickle.loads(pickle.dumps(exc))
    assert (type(copy), copy.status, copy.request_id, copy.retry_after, str(copy)) == (
        HeymarketRateLimited, 429, "rid", 3.0, str(exc))


# --------------------------------------------------------------------------------------------------
# connection handling


def test_init_does_no_io_and_repr_is_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = HeymarketHook("no_such_connection_anywhere")  # would raise if __init__ looked it up
    assert "no_such_connection_anywhere" in repr(hook)
    set_conn(monkeypatch, "hm_repr", password=API_KEY, extra={"secret_id": SECRET_ID, "secret_key": SECRET_KEY})
    hook = HeymarketHook("hm_repr")
    hook._config()
    token = hook._config().auth.authorization()
    for text in (repr(hook), str(hook), repr(hook._config())):
        assert API_KEY not in text and SECRET_KEY not in text and token.split()[1] not in text


@pytest.mark.parametrize(
    ("fields", "mode"),
    [
        ({"password": API_KEY}, "api_key"),
        ({"extra": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY}}, "jwt"),
        ({"password": API_KEY, "extra": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY}}, "jwt"),
        ({"password": API_KEY, "extra": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY,
                                         "auth_mode": "api_key"}}, "api_key"),
        ({"password": API_KEY, "extra": {"secret_id": SECRET_ID, "secret_key": ""}}, "api_key"),
        ({"password": API_KEY, "extra": {"extra__heymarket__secret_id": SECRET_ID,
                                         "extra__heymarket__secret_key": SECRET_KEY}}, "jwt"),
    ],
)
def test_auth_mode_selection(monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], mode: str) -> None:
    hook = HeymarketHook(set_conn(monkeypatch, **fields))
    assert hook._config().auth.mode == mode


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "no Heymarket credential is set"),
        ({"extra": {"auth_mode": "jwt", "secret_id": SECRET_ID}}, "needs both the API Secret ID"),
        ({"password": API_KEY, "extra": {"auth_mode": "oauth"}}, "auth_mode must be"),
        ({"password": API_KEY, "extra": {"requests_per_minute": "fast"}}, "must be numbers"),
    ],
)
def test_bad_connection_says_what_to_fix(monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any],
                                         message: str) -> None:
    hook = HeymarketHook(set_conn(monkeypatch, **fields))
    with pytest.raises(HeymarketConfigError, match=message) as caught:
        hook.get_team()
    assert "hm_unit" in str(caught.value)


def test_connection_extras_set_pacing_and_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = HeymarketHook(set_conn(monkeypatch, password=API_KEY,
                                  extra={"requests_per_minute": "120", "timeout": 5}))
    assert hook.pacer.max_calls == 120 and hook._config().timeout == 5.0
    assert HeymarketHook(set_conn(monkeypatch, "hm_default_rpm", password=API_KEY)).pacer.max_calls == 450


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        (None, None, "https://api.heymarket.com"),
        ("", None, "https://api.heymarket.com"),
        ("", 443, "https://api.heymarket.com"),
        ("api.heymarket.com", None, "https://api.heymarket.com"),
        ("api.heymarket.com", 443, "https://api.heymarket.com"),
        ("https://api.heymarket.com", 443, "https://api.heymarket.com"),
        ("http://127.0.0.1:8600/", None, "http://127.0.0.1:8600"),
        ("http://127.0.0.1:8600", 8600, "http://127.0.0.1:8600"),
        # 0 is what the UI's Test button sends for an empty port: no port
        ("http://127.0.0.1:8600", 0, "http://127.0.0.1:8600"),
        ("http://127.0.0.1", 8600, "http://127.0.0.1:8600"),
        ("http://127.0.0.1/base", 8600, "http://127.0.0.1:8600/base"),
        ("127.0.0.1", 8600, "https://127.0.0.1:8600"),
    ],
)
def test_base_url(host: str | None, port: int | None, url: str) -> None:
    assert _base_url(host, port) == url


@pytest.mark.parametrize(
    ("host", "port", "says"),
    [
        ("http://127.0.0.1:8600", 443, "names port 8600 but the Port field says 443; set Port to 8600"),
        ("ftp://user:s3cret@files.example.com", None, "must look like https://host[:port] (scheme 'ftp'"),
        ("http://user:s3cret@127.0.0.1:http", None, "the port in the API base URL is not a number"),
    ],
)
def test_base_url_refuses_what_cannot_work(monkeypatch: pytest.MonkeyPatch, host: str, port: int | None,
                                           says: str) -> None:
    hook = HeymarketHook(set_conn(monkeypatch, "hm_bad_url", host=host, port=port, password=API_KEY))
    with pytest.raises(HeymarketConfigError) as caught:
        hook.list_inboxes()
    assert says in str(caught.value) and "fix the Airflow connection 'hm_bad_url'" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("answer", [123, "123", " 123 ", {"count": 123}, {"count": "123"}, {"total": 123}])
def test_count_is_tolerant(answer: Any) -> None:
    assert _parse_count(answer) == 123


def test_count_rejects_garbage() -> None:
    with pytest.raises(HeymarketServerError):
        _parse_count({"contacts": []})


def test_failures_map_back_to_input_indices() -> None:
    chunk = [{"phone": "1"}, {"phone": "2"}, {"phone": "2"}, {"contact_id": "u-4", "first": "x"},
             {"contact_channels": [{"channel_type": "phone", "channel_id": "5"}]},
             {"phone": "6", "first": "a"}, {"phone": "6", "first": "b"}]
    failed = [{"phone": "2", "error": "duplicate"}, {"contact_id": "u-4", "first": "x", "error": "e3"},
              {"contact_channels": [{"channel_type": "phone", "channel_id": "5"}], "error": "e4"},
              {"phone": "6", "first": "a", "error": "e6"}, {"phone": "999", "error": "e5"}]
    failures = _match_failures(failed, chunk, offset=200)
    # an identical repeat: the later copy is the refused one; different content: the exact match
    assert [(f.index, f.error) for f in failures] == [(202, "duplicate"), (203, "e3"), (204, "e4"),
                                                     (205, "e6"), (None, "e5")]
    assert failures[1].contact_id == "u-4" and failures[4].phone == "999"


def test_sync_tasks_pace_by_the_connection_unless_the_config_says_otherwise(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    from sync_engine.config import load_config
    from sync_operators.runtime import heymarket_hook

    set_conn(monkeypatch, "hm_paced", password=API_KEY, extra={"requests_per_minute": "200"})
    config_file = tmp_path / "sync.yaml"
    config_file.write_text("heymarket:\n  conn_id: hm_paced\n")
    assert heymarket_hook(load_config(config_file)).pacer.max_calls == 200  # a share of one credential's budget
    config_file.write_text("heymarket:\n  conn_id: hm_paced\n  requests_per_minute: 300\n")
    assert heymarket_hook(load_config(config_file)).pacer.max_calls == 300  # the config overrides
