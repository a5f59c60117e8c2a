"""Issue 15's must-show: the sync and a message backfill on two worker processes share one Heymarket limit.

Two warm zygotes (``killable.py``) stand for two Celery workers: each forks a process that runs one DAG
with ``dag.test()``, both at the same time, with the same Heymarket credential, against one emulator.

**Scaling.** Heymarket allows 500 requests per 60 s fixed window per credential; a test cannot wait out
minutes, so the emulator's window is scaled down in time to 6 s, with the same fixed-window logic
(``rate_limit_window_seconds``). 500/60 s would be 50 per 6 s, but on a busy 2-core machine a run reads
only ~4 pages a second, so at 50 the CPU, not the pacer, would be what keeps each run under the limit. The
count is scaled down too, to **20 per 6 s**, and the pacers to 90 % of it as shipped (450 of 500): the
connection's ``requests_per_minute`` 18 with ``rate_limit_period_seconds`` 6.

The world: 3,000 Heymarket contacts the sync reads in full (30 pages, ``auto_create: none`` so it writes
nothing) and 6,000 messages the backfill reads (60 pages; their phones have no record, so every message is
counted ``unmatched``). Paced alone, each run stays under 20 per window; together they would send up to
36 per window.

- ``redis`` (one request log for the credential): the emulator sends **no 429 at all** (its stats count
  every 429 it sent: zero), so none can reach a task, and both runs succeed.
- ``memory`` (each process paces alone, at the full shipped share): the emulator does send 429s, so the
  first test has teeth.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from emulators.common import credentials
from tests.e2e.killable import ChildRun, Zygote

pytestmark = pytest.mark.e2e

#: The scaled limit (Heymarket: 500 per 60 s; see the module docstring).
LIMIT, WINDOW = 20, 6
#: The scaled pacing: 90 % of the limit, as the shipped 450 per minute is of 500.
PACED = 18
CONTACTS, MESSAGES = 3_000, 6_000
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def workers(airflow_db: Path, salesforce_emulator, heymarket_emulator,  # noqa: ANN001
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Zygote, Zygote]]:
    """Two warm worker processes, started side by side (each imports Airflow once, ~30 s)."""
    folder = tmp_path_factory.mktemp("workers")
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda n: Zygote(dict(os.environ), folder / f"worker{n}.log", timeout=300),
                                 (1, 2))
    yield first, second
    first.close()
    second.close()


def _at(minutes_ago: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def _seed(sync) -> None:  # noqa: ANN001
    old = "2026-01-05T10:00:00Z"
    sync.hm.load({"fields": [{"title": "Customer Tier"}, {"title": "Preferred Language"}]})  # the mapping's
    sync.hm.load({"contacts": [{"phone": f"1415555{i:04d}", "first": "Load", "last": f"Contact{i}",
                                "created": old, "updated": old} for i in range(CONTACTS)]})
    # Messages on phones no record has: read by the backfill, counted unmatched (no Salesforce writes).
    sync.hm.load({"messages": [{"phone": f"1628555{i % 10_000:04d}", "inbox_id": 9001, "direction": "inbound",
                                "text": f"load message {i}", "date": _at(60 + i * 0.2)}
                               for i in range(MESSAGES)]})
    sync.write_config(lambda c: c.update(auto_create="none"))


def _connection(monkeypatch: pytest.MonkeyPatch, base_url: str, backend: str) -> None:
    extra: dict[str, object] = {"requests_per_minute": PACED, "rate_limit_period_seconds": WINDOW,
                                "rate_limit_backend": backend}
    if backend == "redis":
        extra["rate_limit_redis_url"] = REDIS_URL
    monkeypatch.setenv("AIRFLOW_CONN_HEYMARKET_DEFAULT", json.dumps({
        "conn_type": "heymarket", "host": base_url, "password": credentials.HEYMARKET_API_KEY, "extra": extra}))


def _run_both(messages, workers: tuple[Zygote, Zygote], tmp_path: Path) -> tuple[ChildRun, ChildRun, float]:  # noqa: ANN001
    """Start the sync on one worker and the backfill on the other at once; wait for both; wall seconds."""
    sync = messages.sync
    started = time.monotonic()
    sync_run = workers[0].start_run(
        log_path=tmp_path / "sync.log", config_path=sync.config_path,
        conf={"mode": "full", "objects": ["Contact", "Lead"], "record_ids": [], "dry_run": False,
              "allow_mass_delete": False})
    # dag.test() writes the DAGs' rows into the metadata DB first; two doing that at once on a fresh DB race
    # (UNIQUE dag.dag_id), a thing a real scheduler does once. So the backfill starts when the sync's first
    # task does: both read Heymarket at the same time from then on (the sync's full read takes ~10 s alone).
    sync_run.wait_for(r"\[DAG TEST\] starting task_id=preflight", timeout=120)
    backfill = workers[1].start_run(
        log_path=tmp_path / "backfill.log", config_path=sync.config_path, dag_id="heymarket_messages",
        conf={"mode": "backfill", "start": (dt.date.today() - dt.timedelta(days=3)).isoformat(), "end": None,
              "dry_run": False})
    for child in (sync_run, backfill):
        assert child.wait(timeout=600) == 0, child.log_text()[-3000:]
    return sync_run, backfill, time.monotonic() - started


def _run_both_limited(messages, workers: tuple[Zygote, Zygote], heymarket_emulator,  # noqa: ANN001
                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: str) -> tuple[ChildRun, ChildRun, float]:
    """Both runs on seeded data, the hooks' limit kept in *backend*, the emulator limited to LIMIT per WINDOW."""
    _seed(messages.sync)
    _connection(monkeypatch, heymarket_emulator.base_url, backend)
    messages.sync.hm.faults(rate_limit_per_minute=LIMIT, rate_limit_window_seconds=WINDOW)
    messages.sync.hm.reset_stats()
    return _run_both(messages, workers, tmp_path)


def _finished_state(child: ChildRun) -> str:
    return child.wait_for(r"KILLABLE finished run \S+ state (\S+)", timeout=5).group(1)


@pytest.mark.parametrize("state_backend", ["postgres"], indirect=True)
def test_sync_and_backfill_on_two_workers_share_the_limit_and_no_429_reaches_a_task(
    messages, workers: tuple[Zygote, Zygote], heymarket_emulator, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    sync = messages.sync
    sync_run, backfill, wall = _run_both_limited(messages, workers, heymarket_emulator, monkeypatch, tmp_path,
                                                 backend="redis")

    stats = sync.hm.stats()
    assert stats["by_status"].get("429", 0) == 0, stats["by_status"]  # none sent, so none reached a task
    assert _finished_state(sync_run) == "success", sync_run.log_text()[-3000:]
    assert _finished_state(backfill) == "success", backfill.log_text()[-3000:]
    pages = stats["by_endpoint"]
    assert pages.get("POST /v1/contacts", 0) >= CONTACTS // 100, pages
    assert pages.get("POST /v1/messages/all", 0) >= MESSAGES // 100, pages
    # Both runs' calls went through one log: the total could not be sent faster than 18 per 6 s.
    assert wall >= (stats["total"] - PACED) / PACED * WINDOW, (wall, stats["total"])
    runs = {row["dag_id"]: row for row in sync.store().list_runs(limit=10)}
    assert runs["heymarket_sync"]["status"] == "success" and runs["heymarket_messages"]["status"] == "success"
    print(f"shared redis: {stats['total']} Heymarket calls in {wall:.1f} s, 429s {stats['by_status']}")


@pytest.mark.parametrize("state_backend", ["postgres"], indirect=True)
def test_without_the_shared_log_the_same_two_runs_get_429s(
    messages, workers: tuple[Zygote, Zygote], heymarket_emulator, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    sync = messages.sync
    sync_run, backfill, _ = _run_both_limited(messages, workers, heymarket_emulator, monkeypatch, tmp_path,
                                              backend="memory")

    stats = sync.hm.stats()
    sent_429 = stats["by_status"].get("429", 0)
    assert sent_429 > 0, stats["by_status"]
    # The hooks met them: each 429 is a retry warning in a task log (the hook's own backoff then retried it).
    retried = sum(child.log_text().count("HTTP 429 (attempt") for child in (sync_run, backfill))
    assert retried == sent_429, (retried, sent_429)
    states = (_finished_state(sync_run), _finished_state(backfill))
    print(f"memory: {stats['total']} Heymarket calls, 429s sent {sent_429}, runs {states}")
