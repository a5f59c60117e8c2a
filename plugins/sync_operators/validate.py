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

        from sync_engine.config import required_create_columns
        from sync_engine.guards import check_guards
        from sync_engine.plan import Plan
        from sync_engine.settings import guard_inputs
        from sync_engine.validate import validate_plan

        info = self.run_info()
        config = self.load_config()
        folder = self.run_folder()
        plan = Plan.from_dir(folder.path("plan"))
        links = folder.read_frame("links.parquet")
        required: dict[str, tuple[str, ...]] = {}
        if config.auto_create != "none" and folder.exists(f"describe_{config.auto_create}.json"):
            describe = json.loads(folder.read_text(f"describe_{config.auto_create}.json"))
            required[config.auto_create] = required_create_columns(config, config.auto_create, describe)
        outcome = validate_plan(plan.actions, required_create_columns=required, objects=list(info["objects"]))
        import pandas as pd

        salesforce = pd.concat([folder.read_frame(f"salesforce_{name}.parquet") for name in info["objects"]],
                               ignore_index=True)
        counts, linked, in_scope, invalid = guard_inputs(plan, links, salesforce)
        trips = check_guards(counts, linked, in_scope, invalid, config.guards,
                             allow_mass_delete=bool(info["allow_mass_delete"]))
        report = {
            "expectations": outcome.as_dict(),
            "guards": [trip.as_dict() for trip in trips],
        }
        folder.write_text("validation.json", json.dumps(report, indent=2, default=str))
        failures = list(outcome.failures) + [trip.message for trip in trips]
        if failures:
            raise AirflowFailException(
                "The plan was not applied (nothing was written):\n" + "\n".join(f"- {m}" for m in failures)
            )
        statistics = outcome.results.get("statistics")
        passed = statistics.get("successful_expectations", 0) if isinstance(statistics, dict) else 0
        self.log.info("Plan valid: %s expectations passed, no guard tripped", passed)
        if info["dry_run"]:
            self.log.info("Dry run: the apply tasks will write nothing.\n%s", plan.summary_text())
        return {"success": True, "expectations": passed}
