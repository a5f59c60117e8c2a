"""The pacer's request log chosen by connection extra: memory (per instance) or Redis (shared per credential).

The Redis tests need the Redis of ``make test`` on 127.0.0.1:6379; each uses a credential identity of its
own (a fresh uuid), so its bucket key is its own, and deletes the key afterwards.
"""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pyrate_limiter import Rate

from heymarket_hook.errors import HeymarketConfigError
from heymarket_hook.hook import HeymarketHook
from heymarket_hook.pacing import Pacer
from heymarket_hook.rate_limit_buckets import (
    REDIS_KEY_PREFIX,
    BucketChoice,
    RateLimitBackendError,
    build_bucket,
    credential_key,
    parse_backend,
    redacted_url,
    redis_url_of_connection,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
#: Nothing listens there (a port the tests never open).
DEAD_REDIS_URL = "redis://:hunter2-secret@127.0.0.1:1/0"
WHERE = "Airflow connection 'hm_unit'"


def _redis_or_fail() -> Any:
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except RedisError as exc:
        pytest.fail(f"Redis on 127.0.0.1:6379 is needed for this test ({type(exc).__name__}); start it with "
                    "redis-server --daemonize yes --save '' --appendonly no")
    return client


@pytest.fixture
def identity() -> Iterator[str]:
    """A credential identity of this test only; its Redis key is removed afterwards."""
    client = _redis_or_fail()
    value = f"api_key:test-{uuid.uuid4().hex}"
    yield value
    client.delete(credential_key(value))


def _redis_pacer(identity: str, max_calls: int, period: float) -> Pacer:
    choice = BucketChoice(backend="redis", redis_url=REDIS_URL, where=WHERE)
    return Pacer(max_calls, period, bucket=lambda rate: build_bucket(choice, rate, credential_key(identity)),
                 backend="redis")


def _acquire_in_child(identity: str, max_calls: int, period: float, n: int, start_at: float,
                      out: Any) -> None:
    """One worker process: its own Pacer over the shared Redis log; reports when each slot was granted."""
    pacer = _redis_pacer(identity, max_calls, period)
    time.sleep(max(0.0, start_at - time.time()))
    stamps = []
    for _ in range(n):
        pacer.acquire()
        stamps.append(time.time())
    out.put(stamps)


def _max_in_any_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, t in enumerate(stamps):
        while t - stamps[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# ---------------------------------------------------------------------------------------------------------
# parsing the extras


@pytest.mark.parametrize("value", [None, "", "memory", " Memory "])
def test_memory_is_the_default_backend(value: object) -> None:
    assert parse_backend(value, None, WHERE) == BucketChoice(backend="memory", redis_url=None, where=WHERE)


def test_redis_backend_keeps_its_url() -> None:
    assert parse_backend("redis", REDIS_URL, WHERE).redis_url == REDIS_URL


def test_unknown_backend_names_the_choices_and_the_connection() -> None:
    with pytest.raises(RateLimitBackendError, match=r"'mongo' is not one of memory, redis; fix the extra of "
                                                     r"the Airflow connection 'hm_unit'"):
        parse_backend("mongo", None, WHERE)


def test_redis_backend_without_a_server_says_which_extras_to_set() -> None:
    with pytest.raises(RateLimitBackendError, match="rate_limit_redis_url .* or rate_limit_redis_conn_id"):
        parse_backend("redis", None, WHERE)


def test_credential_key_is_a_hash_distinct_per_credential() -> None:
    a, b = credential_key("api_key:secret-one"), credential_key("api_key:secret-two")
    assert a.startswith(REDIS_KEY_PREFIX) and a != b
    assert "secret" not in a and a == credential_key("api_key:secret-one")
    assert len(a) == len(REDIS_KEY_PREFIX) + 32


def test_redis_url_of_a_connection_quotes_the_password_and_takes_the_schema_as_database() -> None:
    assert redis_url_of_connection("redis", 6380, "p@ss/word", "2") == "redis://:p%40ss%2Fword@redis:6380/2"
    assert redis_url_of_connection("redis", None, None, None) == "redis://redis:6379/0"
    with pytest.raises(RateLimitBackendError, match="has no host"):
        redis_url_of_connection(None, None, None, None)


def test_redacted_url_hides_the_password() -> None:
    assert redacted_url("redis://user:hunter2@redis:6379/1") == "redis://user:***@redis:6379/1"


# ---------------------------------------------------------------------------------------------------------
# memory: unchanged default


def test_memory_pacers_are_independent_per_instance() -> None:
    first, second = Pacer(20, 2.0), Pacer(20, 2.0)
    assert first.backend == "memory" and repr(first) == "Pacer(20 per 2s)"
    assert all(first.try_acquire(0) for _ in range(20)) and not first.try_acquire(0)
    # A second instance has its own log: the first one's 20 do not count against it.
    assert all(second.try_acquire(0) for _ in range(20)) and not second.try_acquire(0)


# ---------------------------------------------------------------------------------------------------------
# redis: one log per credential across processes


def test_redis_pacers_in_one_process_share_the_credentials_log(identity: str) -> None:
    first, second = _redis_pacer(identity, 20, 2.0), _redis_pacer(identity, 20, 2.0)
    assert repr(first) == "Pacer(20 per 2s, redis)"
    assert all(first.try_acquire(0) for _ in range(12))
    assert sum(second.try_acquire(0) for _ in range(12)) == 8


def test_redis_buckets_of_different_credentials_are_independent(identity: str) -> None:
    other = f"api_key:test-{uuid.uuid4().hex}"
    try:
        mine, theirs = _redis_pacer(identity, 5, 2.0), _redis_pacer(other, 5, 2.0)
        assert all(mine.try_acquire(0) for _ in range(5)) and not mine.try_acquire(0)
        assert all(theirs.try_acquire(0) for _ in range(5))
    finally:
        _redis_or_fail().delete(credential_key(other))


def test_two_processes_with_the_redis_bucket_never_exceed_the_rate_in_any_window(identity: str) -> None:
    """20 per 2 s shared by two processes taking 30 slots each: 60 slots need at least 4 s in all."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # both children are up (spawn imports) before either takes a slot
    children = [ctx.Process(target=_acquire_in_child, args=(identity, 20, 2.0, 30, start_at, out))
                for _ in range(2)]
    for child in children:
        child.start()
    stamps = [out.get(timeout=60), out.get(timeout=60)]
    for child in children:
        child.join(timeout=10)
        assert child.exitcode == 0
    merged = stamps[0] + stamps[1]
    assert len(merged) == 60
    # Both processes got slots (neither was starved), and together they never beat 20 in any 2 s.
    assert all(len(s) == 30 for s in stamps)
    assert _max_in_any_window(merged, 2.0) <= 20
    assert max(merged) - min(merged) >= 4.0


def test_two_processes_with_memory_buckets_do_exceed_the_rate_together() -> None:
    """The converse: separate in-memory logs let two processes take 2 × 20 slots inside one 2 s window."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0
    children = [ctx.Process(target=_acquire_in_memory_child, args=(20, 2.0, 20, start_at, out))
                for _ in range(2)]
    for child in children:
        child.start()
    merged = out.get(timeout=60) + out.get(timeout=60)
    for child in children:
        child.join(timeout=10)
    assert _max_in_any_window(merged, 2.0) == 40


def _acquire_in_memory_child(max_calls: int, period: float, n: int, start_at: float, out: Any) -> None:
    pacer = Pacer(max_calls, period)
    time.sleep(max(0.0, start_at - time.time()))
    stamps = []
    for _ in range(n):
        pacer.acquire()
        stamps.append(time.time())
    out.put(stamps)


def test_unreachable_redis_says_how_to_fix_it_without_the_password() -> None:
    choice = BucketChoice(backend="redis", redis_url=DEAD_REDIS_URL, where=WHERE)
    with pytest.raises(RateLimitBackendError) as caught:
        build_bucket(choice, Rate(5, 1000), credential_key("api_key:whatever"))
    message = str(caught.value)
    assert "redis://:***@127.0.0.1:1/0" in message and "start Redis" in message
    assert "rate_limit_redis_url" in message and "hunter2" not in message


# ---------------------------------------------------------------------------------------------------------
# the hook reads the extras


def _conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **extra: object) -> str:
    payload = {"conn_type": "heymarket", "host": "http://heymarket.test", "password": "unit-key-123456",
               "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(payload))
    return conn_id


def test_hook_paces_in_memory_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = HeymarketHook(_conn(monkeypatch, "hm_default_pacing"))
    assert hook.pacer.backend == "memory" and hook.pacer.period_seconds == 60.0


def test_hook_shares_the_redis_log_of_its_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    _redis_or_fail()
    conn_id = _conn(monkeypatch, "hm_redis_pacing", rate_limit_backend="redis", rate_limit_redis_url=REDIS_URL,
                    requests_per_minute=3, rate_limit_period_seconds=2)
    key = credential_key("api_key:unit-key-123456")
    _redis_or_fail().delete(key)
    try:
        first, second = HeymarketHook(conn_id), HeymarketHook(conn_id)
        assert repr(first.pacer) == "Pacer(3 per 2s, redis)"
        assert all(first.pacer.try_acquire(0) for _ in range(3))
        assert not second.pacer.try_acquire(0)
        assert _redis_or_fail().exists(key) == 1
        # Neither the settings nor the choice show the key or a Redis URL in their repr (logs, tracebacks).
        assert "unit-key-123456" not in repr(first._settings) and REDIS_URL not in repr(first._settings)
    finally:
        _redis_or_fail().delete(key)


def test_hook_reads_the_redis_server_from_an_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RATE_REDIS", json.dumps({"conn_type": "redis", "host": "127.0.0.1",
                                                               "port": 1, "schema": "0"}))
    hook = HeymarketHook(_conn(monkeypatch, "hm_redis_conn", rate_limit_backend="redis",
                               rate_limit_redis_conn_id="rate_redis"))
    with pytest.raises(HeymarketConfigError, match=r"Redis at redis://127.0.0.1:1/0, which did not answer"):
        hook.pacer  # noqa: B018 - reading it builds the pacer


@pytest.mark.parametrize(("extra", "problem"), [
    ({"rate_limit_backend": "mongo"}, "is not one of memory, redis"),
    ({"rate_limit_backend": "redis"}, "needs rate_limit_redis_url"),
    ({"rate_limit_period_seconds": "soon"}, "must be numbers"),
])
def test_hook_refuses_bad_rate_limit_extras(monkeypatch: pytest.MonkeyPatch, extra: dict[str, object],
                                            problem: str) -> None:
    hook = HeymarketHook(_conn(monkeypatch, "hm_bad_pacing", **extra))
    with pytest.raises(HeymarketConfigError, match=problem) as caught:
        hook.pacer  # noqa: B018
    assert "unit-key-123456" not in str(caught.value)
