"""Which run folders go (``sync_engine.run_folders``), and the local run folders themselves
(``sync_operators.runtime.DagRunFolders``, the port ``record_run`` prunes through) on a real disk."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync_engine.run_folders import FolderPruning, folders_to_remove
from sync_operators.runtime import DagRunFolders, RunFolder

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_old_folders_go_except_the_current_run_and_runs_failed_since_the_last_success() -> None:
    written = {"a": NOW - 8 * DAY, "b": NOW - 8 * DAY, "c": NOW - 6 * DAY, "current": NOW - 9 * DAY}
    assert folders_to_remove(written, keep_days=7, now=NOW, current="current", failed={"b", "c"}) == FolderPruning(
        remove=("a",), kept_failed=("b",))
    with pytest.raises(ValueError, match="at least one day"):
        folders_to_remove(written, keep_days=0, now=NOW, current="current", failed=())


def _age(folder: Path, days: float) -> None:
    stamp = (NOW - timedelta(days=days)).timestamp()
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (stamp, stamp))


def test_local_run_folders_are_dated_by_their_newest_file_and_removed_whole(tmp_path: Path) -> None:
    for run_id, days in (("scheduled__2026-02-01T00:00:00+00:00", 28), ("manual__2026-02-27", 2)):
        folder = RunFolder(str(tmp_path), "heymarket_sync", run_id)
        folder.write_text("plan/plan.json", "{}")
        folder.write_text("salesforce.parquet", "x")
        _age(Path(folder.url), days)
    (tmp_path / "heymarket_sync" / "stray.txt").write_text("not a run folder")
    folders = DagRunFolders(str(tmp_path), "heymarket_sync")
    old = folders.name_of("scheduled__2026-02-01T00:00:00+00:00")
    assert Path(RunFolder(str(tmp_path), "heymarket_sync", "scheduled__2026-02-01T00:00:00+00:00").url).name == old
    written = folders.written()
    assert sorted(written) == sorted([old, "manual__2026-02-27"])
    assert abs(written[old] - (NOW - 28 * DAY)) < timedelta(seconds=1)
    folders.remove(old)
    assert sorted(p.name for p in (tmp_path / "heymarket_sync").iterdir()) == ["manual__2026-02-27", "stray.txt"]
    assert DagRunFolders(str(tmp_path), "another_dag").written() == {}
