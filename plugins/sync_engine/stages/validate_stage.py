"""The validate stage: the Great Expectations suite over the plan, then the guards; a failing plan writes nothing.

The stage writes its report (``validation.json``: every expectation's outcome and every tripped guard) before it
answers, whether the plan passed or not: ``record_run`` reads it to tell a guard stop (an alert of its own) from
an ordinary failure. The stage does not raise on a failing plan; it returns the failures and the operator fails
the task, so the decision is tested here without Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sync_engine.stages.plan_stage import LINKS_FILE, describe_file, extracted_file

if TYPE_CHECKING:
    from sync_engine.config import SyncConfig
    from sync_engine.stages.ports import ReportFiles, RunFiles
    from sync_engine.stages.results import PlanResult, SalesforceExtractResult
    from sync_engine.vocabulary import ObjectName

#: The stage's report in the run folder (``record_run`` reads its ``guards``, the apply stages its ``consent_only``).
VALIDATION_FILE = "validation.json"
#: ``validation.json``'s key of a plan held back by guards alone that still has opt-out changes to write: the
#: apply stages write those and nothing else (``sync_engine.apply.consent_only``), and the last one fails the run.
CONSENT_ONLY = "consent_only"


@dataclass(frozen=True)
class ValidateRequest:
    """What the validate stage needs to know of the run (from preflight's run info)."""

    objects: tuple[ObjectName, ...]
    allow_mass_delete: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class ValidateResult:
    """The plan's verdict: how many expectations passed, and every failure (expectations, then guards).

    :param guard_trips: how many of *failures* are tripped guards (the rest are failed expectations).
    :param consent_writes: a plan held back by guards alone (its expectations passed, not a dry run): the
        opt-out changes the apply tasks still write (0: the run writes nothing).
    """

    expectations: int
    failures: tuple[str, ...] = ()
    guard_trips: int = 0
    consent_writes: int = 0

    @property
    def success(self) -> bool:
        return not self.failures

    @property
    def consent_only(self) -> bool:
        """The plan failed on guards alone and has opt-out changes: the applies write those, nothing else."""
        return bool(self.failures) and self.consent_writes > 0

    def message(self) -> str:
        """Why the plan was not applied (one line per failure), for the task's exception or log."""
        head = ("The plan was not applied (nothing was written)" if not self.consent_only else
                f"The plan was not applied: only its {self.consent_writes} opt-out change(s) are written (never "
                "held back by a guard), nothing else")
        return head + ":\n" + "\n".join(f"- {m}" for m in self.failures)

    def to_xcom(self) -> dict[str, object]:
        return {"success": self.success, "expectations": self.expectations,
                **({CONSENT_ONLY: self.consent_writes} if self.consent_only else {})}


def run_validate_stage(request: ValidateRequest, plan: PlanResult, extracts: Sequence[SalesforceExtractResult],
                       config: SyncConfig, files: ReportFiles, *, progress: Callable[[str], None] = lambda _: None) -> ValidateResult:
    """Check the plan against the suite and the guards, write ``validation.json``, say whether it may be applied.

    :param plan: the plan stage's result (the plan is read from its folder).
    :param extracts: the Salesforce extract results (the guards count in-scope records per object).
    :param progress: called with what passed, and in a dry run the plan's summary (the task log).
    """
    import pandas as pd

    from sync_engine.apply import consent_only
    from sync_engine.config import required_create_columns
    from sync_engine.guards import check_guards
    from sync_engine.plan import Plan
    from sync_engine.settings import guard_inputs
    from sync_engine.validate import validate_plan

    written = Plan.from_dir(plan.path)
    links = files.read_frame(LINKS_FILE)
    required: dict[str, tuple[str, ...]] = {}
    if config.auto_create != "none" and files.exists(describe_file(config.auto_create)):
        describe = json.loads(files.read_text(describe_file(config.auto_create)))
        required[config.auto_create] = required_create_columns(config, config.auto_create, describe)
    outcome = validate_plan(written.actions, required_create_columns=required, objects=list(request.objects))
    salesforce = pd.concat([files.read_frame(extracted_file(extracts, name)) for name in request.objects],
                           ignore_index=True)
    counts, linked, in_scope, invalid = guard_inputs(written, links, salesforce)
    trips = check_guards(counts, linked, in_scope, invalid, config.guards, allow_mass_delete=request.allow_mass_delete)
    # Guards never hold back an opt-out (issue 15): a plan stopped by guards alone still writes those. A plan that
    # broke an expectation is not trusted with any write; a dry run writes nothing anyway.
    consent = 0
    if trips and outcome.success and not request.dry_run:
        consent = sum(len(frame) for frame in consent_only(written.actions, links).values())
    report: dict[str, object] = {"expectations": outcome.as_dict(), "guards": [trip.as_dict() for trip in trips]}
    if consent:
        report[CONSENT_ONLY] = {"writes": consent}
    files.write_text(VALIDATION_FILE, json.dumps(report, indent=2, default=str))
    statistics = outcome.results.get("statistics")
    passed = statistics.get("successful_expectations", 0) if isinstance(statistics, dict) else 0
    result = ValidateResult(expectations=passed if isinstance(passed, int) else 0,
                            failures=(*outcome.failures, *(trip.message for trip in trips)), guard_trips=len(trips),
                            consent_writes=consent)
    if result.success:
        progress(f"Plan valid: {result.expectations} expectations passed, no guard tripped")
        if request.dry_run:
            progress(f"Dry run: the apply tasks will write nothing.\n{written.summary_text()}")
    elif result.consent_only:
        progress(result.message())
    return result


def guard_hold(files: RunFiles) -> tuple[str, ...] | None:
    """The guard messages of a plan validate held back but for its opt-out changes (``None``: not such a run).

    Read by the apply stages from ``validation.json``: they then write the opt-out changes alone.
    """
    if not files.exists(VALIDATION_FILE):
        return None
    report = json.loads(files.read_text(VALIDATION_FILE))
    if not report.get(CONSENT_ONLY):
        return None
    return tuple(str(guard.get("message", guard.get("guard", ""))) for guard in report.get("guards") or [])
