"""The setup report: a mark per step, a fix per problem, JSON that round-trips; the step registry."""

from __future__ import annotations

import copy
import json

import pytest

from sync_engine.setup.config_file import config_step
from sync_engine.setup.default_inbox import default_inbox_step
from sync_engine.setup.report import SetupReport
from sync_engine.setup.results import StepResult
from tests.unit.setup.data import INBOXES


def test_report_reads_top_to_bottom_with_a_mark_per_step_and_a_fix_per_problem() -> None:
    steps = (
        config_step("sync.yaml", []),
        StepResult.build("credentials", "Working connections: Heymarket.", []),
        default_inbox_step("Marketing", INBOXES),
        StepResult.skipped("user_mapping", "the Salesforce connection failed", "fix step 1 and re-run"),
    )
    report = SetupReport(
        steps, apply=False, run_id="manual__1", config_path="sync.yaml", generated_at="2026-11-24"
    )
    text = report.to_markdown()
    assert not report.ok
    assert report.headline() == "✘ 2 of 4 steps need attention: Default inbox, User mapping"
    headers = [line for line in text.splitlines() if line.startswith("## ")]
    assert headers == [
        "## ✔ 0. Configuration file",
        "## ✔ 1. Credentials",
        "## ✘ 2. Default inbox",
        "## ✘ 3. User mapping",
    ]
    assert "- ✘ Heymarket has no inbox 'Marketing' (by name or id) (`default_inbox`)" in text
    assert "  - **Fix:** set default_inbox to one of: Sales (9001), Support (9002)" in text
    assert "- ✘ not checked: the Salesforce connection failed" in text
    assert "report only (apply=false): nothing was changed" in text


def test_report_json_round_trips_every_step() -> None:
    steps = (default_inbox_step("sales", INBOXES), StepResult.skipped("phone_fields", "x", "y"))
    report = SetupReport(steps, apply=True, run_id="r", config_path="c", generated_at="t")
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["apply"] is True
    assert [StepResult.from_dict(s) for s in data["steps"]] == list(steps)
    assert [s["title"] for s in data["steps"]] == ["Default inbox", "Phone fields"]


def test_warnings_do_not_fail_but_show_in_the_headline() -> None:
    report = SetupReport(
        (default_inbox_step(None, INBOXES),), apply=False, run_id="r", config_path="c", generated_at="t"
    )
    assert report.ok
    assert report.headline() == "✔ all 1 steps passed (1 warning(s) worth a look)"


def test_step_results_refuse_unknown_states_read_back_from_files() -> None:
    raw = copy.deepcopy(StepResult.build("credentials", "s", []).as_dict())
    raw["status"] = "great"
    with pytest.raises(ValueError, match="'great' is not one of ok, failed, skipped"):
        StepResult.from_dict(raw)
