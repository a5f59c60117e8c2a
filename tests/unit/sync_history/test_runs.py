"""A history row reduced to what the page shows (``sync_history.runs.summarise``): per-direction writes,
data-quality findings, API use set against the limits, and durations that are known."""

from __future__ import annotations

import datetime as dt

from sync_history.runs import summarise

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
COUNTS = {
    "Contact": {"to_heymarket": {"created": 5, "updated": 2, "failed": 1, "invalid": 3, "duplicate": 2, "skipped": 4,
                                 "opted_out": 1},
                "to_salesforce": {"created": 7, "updated": 1, "skipped": 9, "opted_in": 1},
                "state": {"linked": 5, "in_sync": 50, "out_of_sync": 1, "held_invalid": 3}},
    "Lead": {"to_heymarket": {"created": 1, "invalid": 1}, "to_salesforce": {"created": 2},
             "state": {"in_sync": 10, "held_no_phone": 2}},
    "(heymarket)": {"to_heymarket": {"invalid": 6}, "state": {"held_invalid": 6}},
}


def row(status: str = "success", seconds: float = 120.0, dry_run: bool = False, **extra: object) -> dict[str, object]:
    return {"run_id": "r1", "dag_id": "heymarket_sync", "trigger": "scheduled", "mode": "incremental",
            "objects": ["Contact", "Lead"], "dry_run": dry_run, "started_at": T0,
            "ended_at": T0 + dt.timedelta(seconds=seconds), "status": status, "counts": COUNTS,
            "api_calls": {"salesforce": {"query": 30, "composite": 15}, "heymarket": {"contacts": 400}},
            "error_summary": None, **extra}


def test_writes_are_counted_per_direction_not_mixed() -> None:
    run = summarise(row())
    assert run.by_direction == {"to_heymarket": {"created": 6, "updated": 2, "deleted": 0, "failed": 1, "opted_out": 1},
                                "to_salesforce": {"created": 9, "updated": 1, "failed": 0, "opted_out": 0,
                                                  "opted_in": 1}}
    assert run.planned_by_direction == {}
    assert run.counts["Contact"]["created"] == 12  # the first version's mixed figure stays in the JSON


def test_a_dry_run_plans_per_direction_and_writes_nothing() -> None:
    run = summarise(row(status="dry_run", dry_run=True))
    assert run.by_direction == {} and run.planned_by_direction["to_salesforce"]["created"] == 9


def test_data_quality_counts_invalid_duplicate_and_no_phone_of_every_bucket() -> None:
    run = summarise(row())
    # invalid: Contact 3, Lead 1, Heymarket-only contacts 6; no phone is to_heymarket/skipped only
    assert run.quality == {"invalid": 10, "duplicate": 2, "no_phone": 4}
    assert run.held_back == 11 and run.held_back_reasons == {"invalid_phone": 9, "no_phone": 2}


def test_the_object_filter_counts_only_that_object() -> None:
    run = summarise(row(), objects=("Lead",))
    assert run.by_direction["to_heymarket"]["created"] == 1 and run.by_direction["to_salesforce"]["created"] == 2
    assert run.quality == {"invalid": 1, "duplicate": 0, "no_phone": 0}
    assert (run.in_sync, run.held_back, set(run.drift)) == (10, 2, {"Lead"})


def test_api_calls_against_the_daily_budget_and_the_heymarket_rate() -> None:
    run = summarise(row(seconds=120.0), salesforce_budget=15_000)
    assert run.api_calls == {"salesforce": 45, "heymarket": 400}
    assert run.salesforce_daily_budget == 15_000 and run.salesforce_budget_share == 45 / 15_000
    assert run.heymarket_calls_per_minute == 200.0  # 400 calls in 2 minutes
    unknown = summarise(row())
    assert unknown.salesforce_daily_budget is None and unknown.salesforce_budget_share is None


def test_a_failed_run_shows_its_duration_when_known_and_never_zero() -> None:
    assert summarise(row(status="failed", seconds=95.0)).duration_seconds == 95.0
    # opened by record_run when preflight had failed: start and end are the recording instant
    opened_late = summarise(row(status="failed", seconds=0.3))
    assert opened_late.duration_seconds is None and opened_late.heymarket_calls_per_minute is None
    assert summarise(row(status="success", seconds=0.3)).duration_seconds == 0.3


def test_consent_counts_are_shown_per_direction_but_never_added_to_the_records_written() -> None:
    """An opt-out written is also its update (issue 15): the page shows ``opted_out`` / ``opted_in`` per
    direction next to the writes, and the "written" chart does not count the record twice."""
    from sync_history.render import _written

    run = summarise(row())
    assert run.by_direction["to_heymarket"]["opted_out"] == 1 and run.by_direction["to_salesforce"]["opted_in"] == 1
    assert _written("to_heymarket").value(run) == 6 + 2 + 0  # created, updated, deleted: not the opt-out again
    assert _written("to_salesforce").value(run) == 9 + 1
    planned = summarise(row(status="dry_run", dry_run=True))
    assert planned.planned_by_direction["to_heymarket"]["opted_out"] == 1 and planned.by_direction == {}
