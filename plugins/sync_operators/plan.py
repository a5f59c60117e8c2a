"""plan: the three-way diff of the extracted frames against the link table, written to the run folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg


class PlanOperator(SyncStageOperator):
    """Loads both extract frames and the links, runs the planner, stores the plan and the phone cache.

    The stage itself is :func:`sync_engine.stages.plan_stage.run_plan_stage`: writes whose rejected attempt
    waits in the retry queue and is not due yet are held back (reported ``waiting_retry``), in every
    direction; a single-record run (the "Heymarket Sync" button) holds nothing. Queued retries the plan shows
    to be moot are settled (not in dry runs and single-record runs, which only look).

    :param salesforce_extracts: the Salesforce extract tasks' outputs (templated; ``[extract.output, ...]``).
    :param heymarket_extract: the Heymarket extract task's output (templated).
    """

    template_fields: Sequence[str] = (*SyncStageOperator.template_fields, "salesforce_extracts", "heymarket_extract")

    def __init__(self, *, salesforce_extracts: Sequence[Mapping[str, object] | XComArg],
                 heymarket_extract: Mapping[str, object] | XComArg, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.salesforce_extracts = salesforce_extracts
        self.heymarket_extract = heymarket_extract

    def execute(self, context: Context) -> dict[str, object]:
        from sync_engine.stages.plan_stage import PlanInputs, PlanRequest, run_plan_stage
        from sync_engine.stages.results import HeymarketExtractResult, SalesforceExtractResult
        from sync_operators.runtime import open_state_store

        info = self.run_info()
        config = self.load_config()
        request = PlanRequest(run_id=info.run_id, objects=info.objects, sf_mode=info.sf_mode, hm_mode=info.hm_mode,
                              record_ids=info.record_ids, dry_run=info.dry_run)
        extracts = PlanInputs(
            salesforce=tuple(SalesforceExtractResult.from_xcom(self.xcom_value(r)) for r in self.salesforce_extracts),
            heymarket=HeymarketExtractResult.from_xcom(self.xcom_value(self.heymarket_extract)))
        result = run_plan_stage(request, extracts, config, self.run_folder(), open_state_store(config.state.conn_id),
                                progress=self.log.info)
        return result.to_xcom()
