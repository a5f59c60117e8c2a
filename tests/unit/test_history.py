"""Run status and history counts from what the tasks report."""

from __future__ import annotations

import pytest

from sync_engine.history import history_counts, run_status, summary_table

OK = {"preflight": "success", "plan": "success", "apply_heymarket": "success", "record_run": "running"}


@pytest.mark.parametrize(
    ("states", "applies", "dry_run", "expected"),
    [
        (OK, [{"failed": 0}, {"failed": 0}], False, "success"),
        (OK, [{"failed": 2}, {"failed": 0}], False, "partial"),
        (OK, [{"stopped": True, "stop_reason": "Salesforce daily API budget reserve reached"}, {}], False,
         "partial"),
        (OK, [{"stopped": True, "stop_reason": "the run was cancelled (marked failed)"}, {}], False, "cancelled"),
        ({**OK, "validate": "failed", "apply_heymarket": "upstream_failed"}, [{}, {}], False, "failed"),
        ({**OK, "preflight": "failed"}, [], True, "failed"),
        (OK, [{"dry_run": True}, {"dry_run": True}], True, "dry_run"),
    ],
)
def test_run_status(states, applies, dry_run, expected) -> None:
    assert run_status(states, applies, dry_run) == expected


def test_history_counts_prefer_applied_results_and_keep_report_kinds() -> None:
    plan_counts = {"Contact": {"create_heymarket": 3, "invalid_phone": 2, "duplicate": 1}}
    applies = [{"counts": {"Contact": {"create_heymarket": {"ok": 2, "failed": 1}, "link": {"ok": 4}}}}, {}]
    counts = history_counts(plan_counts, applies)
    assert counts["Contact"]["state"] == {"linked": 4}
    assert counts["Contact"]["to_heymarket"] == {"created": 2, "failed": 1, "invalid": 2, "duplicate": 1}


def test_history_counts_of_a_dry_run_are_planned() -> None:
    counts = history_counts({"Lead": {"update_salesforce": 5}}, [{"dry_run": True}, {"dry_run": True}])
    assert counts == {"Lead": {"to_salesforce": {"updated": 5}}}


def test_summary_table_lists_every_count_and_api_calls() -> None:
    text = summary_table("manual__1", "success", {"Contact": {"to_heymarket": {"created": 12}}},
                         {"heymarket": 3, "salesforce": 5})
    assert "SUCCESS" in text
    assert "Contact   to_heymarket   created                    12" in text
    assert "API calls: heymarket 3, salesforce 5" in text
    assert "(no changes)" in summary_table("r", "success", {}, {"heymarket": 1})
