"""plan: the three-way diff of the extracted frames against the link table, written to the run folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class PlanOperator(SyncStageOperator):
    """Loads both extract frames and the links, runs the planner, stores the plan and the phone cache.

    The stage itself is :func:`sync_engine.stages.plan_stage.run_plan_stage`: writes whose rejected attempt
    waits in the retry queue and is not due yet are held back (reported ``waiting_retry``), in every
    direction; a single-record run (the "Heymarket Sync" button) holds nothing. Queued retries the plan shows
    to be moot are settled (not in dry runs and single-record runs, which only look).
    """

    def execute(self, context: Context) -> dict[str, object]:
        from sync_engine.stages.plan_stage import PlanRequest, run_plan_stage
        from sync_operators.runtime import open_state_store

        info = self.run_info()
        config = self.load_config()
        request = PlanRequest(run_id=str(info["run_id"]), objects=tuple(info["objects"]), sf_mode=info["sf_mode"],
                              hm_mode=info["hm_mode"], record_ids=tuple(info["record_ids"]),
                              dry_run=bool(info["dry_run"]))
        result = run_plan_stage(request, config, self.run_folder(), open_state_store(config.state.conn_id),
                                progress=self.log.info)
        return result.to_xcom()
