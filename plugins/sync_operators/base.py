"""The base of every stage operator: config path, the run dict from preflight, a cooperative stop flag."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from airflow.sdk import BaseOperator

from sync_operators.runtime import DEFAULT_CONFIG_PATH, RunFolder, StopFlag, load_sync_config

if TYPE_CHECKING:
    from sync_engine.config import SyncConfig


class SyncStageOperator(BaseOperator):
    """Holds what all stages share; subclasses implement ``run_stage``.

    :param run: the dict returned by the preflight task (templated; pass ``preflight.output``).
    :param config_path: the sync YAML (templated; default ``include/mappings/sync.yaml`` or
        ``$HEYMARKET_SYNC_CONFIG``).
    """

    template_fields: Sequence[str] = ("run", "config_path")
    ui_color: ClassVar[str] = "#e8f4fd"

    def __init__(self, *, run: Mapping[str, object] | None = None, config_path: str = DEFAULT_CONFIG_PATH,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.run = run
        self.config_path = config_path
        self._stop = StopFlag()

    def on_kill(self) -> None:
        # SIGTERM from a run marked failed / cleared: stop between batches, keep what is checkpointed.
        self.log.warning("%s: stop requested; finishing the current batch and stopping", self.task_id)
        self._stop.set()

    def load_config(self) -> SyncConfig:
        return load_sync_config(self.config_path)

    def run_info(self) -> dict[str, object]:
        if not isinstance(self.run, Mapping):
            raise ValueError(f"{self.task_id} needs the preflight task's output as `run`, got {type(self.run)!r}")
        return dict(self.run)

    def run_folder(self) -> RunFolder:
        info = self.run_info()
        return RunFolder(str(info["runs_root"]), str(info["dag_id"]), str(info["run_id"]))
