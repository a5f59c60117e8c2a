"""``tests/isolation.py``: ports and Redis databases that two test sessions on one machine never share."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from tests import isolation
from tests.isolation import REDIS_LOCK_KEY, RedisDbLease

REPO = Path(__file__).resolve().parents[1]

REDIS = ("127.0.0.1", 6379)


def test_a_port_reserved_by_another_live_process_is_not_handed_out() -> None:
    port = isolation.free_port()
    # Another session: a process of its own that reserves a port and keeps running until told to stop.
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys
            from tests import isolation
            port = isolation.free_port()
            print(port, flush=True)
            sys.stdin.readline()
        """)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        theirs = int(child.stdout.readline())
        assert theirs != port
        assert isolation._reserve(theirs) is False  # held by the live child
        assert isolation._reserve(port) is False  # ours already: never handed out twice
    finally:
        child.stdin.close()
        child.wait(30)
    assert isolation._reserve(theirs) is True  # the child is gone: its reservation went with it


def _client(db: int) -> redis.Redis:
    return redis.Redis(*REDIS, db=db)


def test_two_leases_get_different_redis_databases_and_release_flushes() -> None:
    first, second = RedisDbLease(*REDIS), RedisDbLease(*REDIS)
    try:
        a, b = first.acquire(), second.acquire()
        assert a != b and 1 <= a <= 15 and 1 <= b <= 15
        _client(a).set("celery-queue", "x")
    finally:
        first.release()
        second.release()
    assert _client(a).exists(REDIS_LOCK_KEY, "celery-queue") == 0


def test_a_dead_sessions_lease_is_taken_over_and_its_leftovers_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = RedisDbLease(*REDIS, owner=f"{isolation.socket.gethostname()}:999999999:1")
    db = dead.acquire()
    _client(db).set("leftover-queue", "x")  # the dead session never flushed
    monkeypatch.setattr(isolation, "REDIS_DBS", range(db, db + 1))
    lease = RedisDbLease(*REDIS)
    try:
        assert lease.acquire() == db
        assert _client(db).get(REDIS_LOCK_KEY) == lease.owner.encode()
        assert _client(db).exists("leftover-queue") == 0
    finally:
        lease.release()


def test_a_database_with_somebody_elses_data_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    holder = RedisDbLease(*REDIS)
    db = holder.acquire()
    client = _client(db)
    client.delete(REDIS_LOCK_KEY)
    client.set("someone-else", "their data")  # a database in use by another program, without our lease key
    monkeypatch.setattr(isolation, "REDIS_DBS", range(db, db + 1))
    try:
        with pytest.raises(RuntimeError, match=rf"no free Redis database .*\({db}: holds other data\)"):
            RedisDbLease(*REDIS).acquire()
        assert client.get("someone-else") == b"their data" and client.exists(REDIS_LOCK_KEY) == 0
    finally:
        client.flushdb()  # it was ours in truth
