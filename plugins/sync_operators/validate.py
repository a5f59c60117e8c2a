"""validate: Great Expectations on the plan, then the guards; a failing run writes nothing but its opt-outs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg


class ValidatePlanOperator(SyncStageOperator):
    """Fails the run before any write when the plan breaks an expectation or trips a guard.

    One exception (issue 15: an opt-out is never held back by a guard): a plan that passed every expectation but
    tripped a guard, and has opt-out changes of linked pairs, goes on to the apply tasks, which write those
    changes alone; ``apply_salesforce`` then fails the run with the guards' messages.

    The stage itself is :func:`sync_engine.stages.validate_stage.run_validate_stage`.

    :param plan: the plan task's output (templated; ``plan.output``).
    :param salesforce_extracts: the Salesforce extract tasks' outputs (templated): the frames the guards count.
    """

    template_fields: Sequence[str] = (*SyncStageOperator.template_fields, "plan", "salesforce_extracts")

    def __init__(self, *, plan: Mapping[str, object] | XComArg,
                 salesforce_extracts: Sequence[Mapping[str, object] | XComArg], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.salesforce_extracts = salesforce_extracts

    def execute(self, context: Context) -> dict[str, object]:
        from airflow.sdk.exceptions import AirflowFailException

        from sync_engine.stages.results import PlanResult
        from sync_engine.stages.validate_stage import ValidateRequest, run_validate_stage

        info = self.run_info()
        request = ValidateRequest(objects=info.objects, allow_mass_delete=info.allow_mass_delete, dry_run=info.dry_run)
        result = run_validate_stage(request, PlanResult.from_xcom(self.xcom_value(self.plan)),
                                    self.salesforce_results(self.salesforce_extracts), self.load_config(),
                                    self.run_folder(), progress=self.log.info)
        if not result.success and not result.consent_only:
            raise AirflowFailException(result.message())
        return result.to_xcom()
