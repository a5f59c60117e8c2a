"""validate: Great Expectations on the plan, then the guards; a failing run writes nothing."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class ValidatePlanOperator(SyncStageOperator):
    """Fails the run before any write when the plan breaks an expectation or trips a guard."""

    def execute(self, context: Context) -> dict[str, object]:
        from airflow.sdk.exceptions import AirflowFailException

        from sync_engine.guards import check_guards
        from sync_engine.plan import Plan
        from sync_engine.settings import guard_inputs, required_create_fields
        from sync_engine.validate import validate_plan

        info = self.run_info()
        config = self.load_config()
        folder = self.run_folder()
        plan = Plan.from_dir(folder.path("plan"))
        links = folder.read_frame("links.parquet")
        outcome = validate_plan(plan.actions, required_fields=required_create_fields(config))
        counts, linked, in_scope, invalid = guard_inputs(plan, links, folder)
        trips = check_guards(counts, linked, in_scope, invalid, config.guards,
                             allow_mass_delete=bool(info["allow_mass_delete"]))
        report = {
            "expectations": outcome.as_dict(),
            "guards": [trip.as_dict() for trip in trips],
        }
        folder.write_text("validation.json", json.dumps(report, indent=2, default=str))
        failures = list(outcome.messages) + [trip.message for trip in trips]
        if failures:
            raise AirflowFailException(
                "The plan was not applied (nothing was written):\n" + "\n".join(f"- {m}" for m in failures)
            )
        self.log.info("Plan valid: %d expectations passed, no guard tripped", outcome.passed)
        if info["dry_run"]:
            self.log.info("Dry run: the apply tasks will write nothing.\n%s", plan.summary_text())
        return {"success": True, "expectations": outcome.passed}
