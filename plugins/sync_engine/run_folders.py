"""Which run folders to delete: the personal data a run leaves on disk is kept only as long as it is useful.

A run folder (``<runs_root>/<dag_id>/<run_id>/``) holds the run's Parquet extracts and plan: phones, e-mails
and names. They are needed while the run is looked into, not afterwards. So ``record_run`` deletes the
folders older than ``history.run_folder_days`` (default 7), except:

- the current run's folder (its files may still be read, e.g. by the page or an admin right after the run);
- the folders of runs that failed (or ended partial or cancelled) since the last successful run: they are
  what explains the failure, and are deleted by the first run that succeeds once they are old enough.

A folder's age is the time its newest file was written. Pure Python: the folders are reached through the
:class:`~sync_engine.stages.ports.RunFolders` port.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class FolderPruning:
    """What :func:`folders_to_remove` decided: folder names to delete, and old ones kept for a failed run."""

    remove: tuple[str, ...]
    kept_failed: tuple[str, ...]


def folders_to_remove(folders: Mapping[str, datetime], *, keep_days: int, now: datetime, current: str,
                      failed: Collection[str]) -> FolderPruning:
    """The folders to delete among *folders* (name -> when its newest file was written).

    :param current: the running run's folder name (never deleted).
    :param failed: folder names of runs that failed since the last successful run (kept until one succeeds).
    """
    if keep_days < 1:
        raise ValueError(f"run folders must be kept at least one day, got {keep_days}")
    cutoff = now - timedelta(days=keep_days)
    old = sorted(name for name, written in folders.items() if written < cutoff and name != current)
    return FolderPruning(remove=tuple(n for n in old if n not in failed),
                         kept_failed=tuple(n for n in old if n in failed))
