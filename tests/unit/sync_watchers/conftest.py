"""The watchers' async ``run()`` against the emulators, with a real state store and an in-memory asset state
store standing in for the triggerer's (no triggerer needed)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from sync_engine.state import StateStore

REPO = Path(__file__).resolve().parents[3]
POLL = 0.2  # seconds between polls in these tests
EVENT_WAIT = 30.0  # at most this long for an expected event: returns as soon as it comes, however busy the machine


class MemoryAssetState:
    """``AssetStateStoreAccessors`` of one asset, as the triggerer injects it, kept in a dict that outlives the
    trigger instance (as the metadata database outlives a triggerer restart)."""

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    async def aget(self, key: str, default: object = None) -> object:
        return self.values.get(key, default)

    async def aset(self, key: str, value: object) -> None:
        self.values[key] = value


@dataclass
class WatchHarness:
    config_path: Path
    state_url: str
    asset_state: dict[str, object] = field(default_factory=dict)

    def store(self) -> StateStore:
        store = StateStore(self.state_url)
        store.migrate()
        return store

    def start(self, watcher_class: type) -> tuple[object, Watching]:
        """A watcher as the triggerer runs it: its ``run()`` consumed by a task, events queued for the test."""
        watcher = watcher_class(poll_seconds=POLL, config_path=str(self.config_path))
        watcher.asset_state_store = MemoryAssetState(self.asset_state)
        return watcher, Watching(watcher.run())


class Watching:
    """A running watcher's events; ``aclose`` stops it (as a triggerer shutting down cancels it)."""

    def __init__(self, run: AsyncIterator[object]) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.task = asyncio.create_task(self._consume(run))

    async def _consume(self, run: AsyncIterator[object]) -> None:
        async for event in run:
            await self.queue.put(event)

    async def aclose(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def next_event(events: Watching, within: float) -> object | None:
    """The next event, or ``None`` when none came within *within* seconds (the watcher keeps running)."""
    try:
        return await asyncio.wait_for(events.queue.get(), timeout=within)
    except TimeoutError:
        if events.task.done() and events.task.exception() is not None:
            raise events.task.exception() from None  # type: ignore[misc]
        return None


async def quiet_through(events: Watching, polls: Callable[[], int], count: int,
                        deadline: float = EVENT_WAIT) -> object | None:
    """The first event seen while the watcher makes *count* more polls (as the emulator counts them), else ``None``.

    Counting polls rather than seconds keeps a "nothing was reported" check meaningful on a busy machine, where the
    watcher's start (imports, login) can take longer than a few poll intervals."""
    loop = asyncio.get_running_loop()
    start, until = await asyncio.to_thread(polls), loop.time() + deadline
    while loop.time() < until:
        event = await next_event(events, within=POLL)
        if event is not None:
            return event
        if await asyncio.to_thread(polls) >= start + count:
            return await next_event(events, within=POLL)  # what the last poll found
    raise AssertionError(f"the watcher made fewer than {count} polls in {deadline:.0f} s")


@pytest.fixture
def watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, salesforce_conn: str, heymarket_conn: str,
          sf_admin, hm_admin) -> Iterator[WatchHarness]:  # noqa: ANN001
    config = yaml.safe_load((REPO / "include" / "mappings" / "sync.yaml").read_text())
    config.setdefault("state", {})["runs_root"] = str(tmp_path / "runs")
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_HEYMARKET_SYNC_STATE", json.dumps({"conn_type": "generic",
                                                                         "extra": {"url": url}}))
    hm_admin.faults(rate_limit_per_minute=100_000)
    yield WatchHarness(path, url)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
