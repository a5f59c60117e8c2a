"""Run status and history counts from what the tasks report."""

from __future__ import annotations

import pytest

from sync_engine.history import REASON_CHARS, history_counts, run_note, run_status, summary_table

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


def test_held_back_writes_are_counted_and_storable() -> None:
    """Writes waiting for their retry are counted per run (nothing stops syncing silently)."""
    from sync_engine.state.runs import flatten_counts

    counts = history_counts({"Contact": {"update_heymarket": 1, "waiting_retry": 2}, "Lead": {"waiting_retry": 1}},
                            [{"counts": {"Contact": {"update_heymarket": {"ok": 1}}}}, {}])
    assert counts == {"Contact": {"to_heymarket": {"updated": 1}, "state": {"waiting_retry": 2}},
                      "Lead": {"state": {"waiting_retry": 1}}}
    assert {r["action"] for r in flatten_counts(counts)} == {"updated", "waiting_retry"}


def test_history_counts_of_a_dry_run_are_planned() -> None:
    counts = history_counts({"Lead": {"update_salesforce": 5}}, [{"dry_run": True}, {"dry_run": True}],
                            planned=True)
    assert counts == {"Lead": {"to_salesforce": {"updated": 5}}}


def test_history_counts_of_a_run_stopped_before_its_apply_hold_no_writes() -> None:
    """A guard-stopped run deleted nothing: its history must not say "deleted 40"."""
    counts = history_counts({"Contact": {"delete_heymarket": 40, "invalid_phone": 2}}, [{}, {}])
    assert counts == {"Contact": {"to_heymarket": {"invalid": 2}}}


def test_summary_table_lists_every_count_and_api_calls() -> None:
    text = summary_table("manual__1", "success", {"Contact": {"to_heymarket": {"created": 12}}},
                         {"heymarket": 3, "salesforce": 5})
    assert "SUCCESS" in text
    assert "Contact   to_heymarket   created                    12" in text
    assert "API calls: heymarket 3, salesforce 5" in text
    assert "(no changes)" in summary_table("r", "success", {}, {"heymarket": 1})


def test_run_note_says_which_task_failed_why_and_what_did_not_run() -> None:
    states = {**OK, "preflight": "failed", "plan": "upstream_failed", "apply_heymarket": "upstream_failed"}
    reasons = {"preflight": "Preflight failed:\n- Heymarket connection 'heymarket_default': HTTP 401"}
    assert run_note(states, reasons, {}) == (
        "preflight failed: Preflight failed: - Heymarket connection 'heymarket_default': HTTP 401; "
        "not run because of it: apply_heymarket, plan")
    # a task that failed without leaving a message (killed) is still named; long messages are cut
    long = run_note({**OK, "plan": "failed"}, {"plan": "x" * 5000}, {})
    assert long is not None and long.startswith("plan failed: xxx") and len(long) == len("plan failed: ") + REASON_CHARS
    assert run_note({**OK, "validate": "failed"}, {}, {}) == "validate failed"


def test_run_note_of_a_partial_run_says_why_it_wrote_less() -> None:
    applies = {"apply_heymarket": {"failed": 2},
               "apply_salesforce": {"stopped": True, "stop_reason": "Salesforce daily API budget reserve reached"}}
    assert run_note(OK, {}, applies) == (
        "apply_salesforce stopped: Salesforce daily API budget reserve reached; "
        "2 record(s) rejected: see hm_sync_record_error; they are retried on later runs")
    assert run_note(OK, {}, {"apply_heymarket": {"failed": 0}, "apply_salesforce": {}}) is None


def test_summary_table_ends_with_the_reason() -> None:
    text = summary_table("r", "failed", {}, {"heymarket": 1}, "preflight failed: bad key")
    assert text.endswith("\n\nWhy: preflight failed: bad key")


def test_summary_table_gives_the_drift_lines_of_their_own() -> None:
    """The drift after the run is not something the run did: not in the table, a line per object under it."""
    counts = {"Contact": {"to_heymarket": {"created": 2, "duplicate": 1},
                          "state": {"linked": 2, "in_sync": 120, "out_of_sync": 2, "held_duplicate": 1}},
              "Lead": {"state": {"in_sync": 0, "out_of_sync": 0}},
              "(heymarket)": {"state": {"held_invalid": 4}}}
    text = summary_table("r", "success", counts, {"heymarket": 1})
    table, _, after = text.partition("After the run")
    assert "in_sync" not in table and "held_" not in table and "Contact   state          linked" in table
    assert after.splitlines()[1:4] == ["  Contact: 120 in sync, 2 out of sync, held back 1 (duplicate 1)",
                                       "  Lead: 0 in sync, 0 out of sync, held back 0",
                                       "  (heymarket): held back 4 (invalid phone 4)"]
    only_drift = summary_table("r", "success", {"Lead": {"state": {"in_sync": 3, "out_of_sync": 0}}}, {})
    assert "(no changes)" in only_drift and "  Lead: 3 in sync, 0 out of sync, held back 0" in only_drift
    assert "After the run" not in summary_table("r", "success", {"Lead": {"state": {"linked": 1}}}, {})
