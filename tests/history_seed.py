"""A run history to test the Sync history page against: runs spread over days, of every status and trigger.

Shared by the page's unit tests (SQLite and PostgreSQL) and its browser tests (the stack's state store). The
runs are written the way preflight and ``record_run`` write them (``start_run`` / ``finish_run``), with
record-level outcomes for some, so the page reads exactly what a deployment would hold. What each run is
follows from its index alone (:func:`plan_run`), so a test computes what the page must show from the same
numbers, never from the page.

Personal data is planted where a run can leave it (run params, a failure message, record errors, the link
table's phones); :data:`PLANTED` lists it for the tests that assert none of it reaches a page or an export.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sync_engine.state import LinkRow, RecordOutcome, StateStore, WriteRejection

#: The one run that created 2,655 records (issue 13's example of a run that flattened every other bar).
BIG_CREATES = 2_655
#: Planted personal data: a phone, an e-mail and a name that must never reach a page or an export.
PLANTED = {"phone": "+14155550199", "phone_human": "(415) 555-0199", "email": "zelda.quixote@example.org",
           "name": "Zelda Quixote"}


@dataclass(frozen=True)
class SeedRun:
    """One run of the seeded history."""

    run_id: str
    dag_id: str
    trigger: str
    objects: tuple[str, ...]
    status: str
    dry_run: bool
    started_at: dt.datetime
    seconds: float
    counts: dict[str, dict[str, dict[str, int]]]
    api_calls: dict[str, dict[str, int]]
    note: str | None


def plan_run(i: int, n: int, end: dt.datetime, days: int, prefix: str) -> SeedRun:
    """Run ``i`` of ``n``: started ``days`` * (n - 1 - i) / n days before ``end`` (run 0 is the oldest)."""
    started = end - dt.timedelta(days=days) * ((n - 1 - i) / n)
    started = started.replace(microsecond=0)
    status = ("failed" if i % 50 == 7 else "cancelled" if i % 97 == 3 else "dry_run" if i % 23 == 5
              else "partial" if i % 13 == 4 else "success")
    trigger = "manual" if i % 5 == 0 else "scheduled"
    if trigger == "manual" and i % 10 == 5:
        trigger = "DagRunType.MANUAL"  # how older rows stored it
    objects = ("Contact",) if i % 7 == 0 else ("Contact", "Lead")
    created = BIG_CREATES if i == n // 2 else i % 9
    contact = {"to_heymarket": {"created": created, "updated": i % 6, "deleted": i % 3 == 0 and 1 or 0,
                                "failed": 1 if i % 11 == 0 else 0, "invalid": i % 4, "duplicate": i % 3,
                                "skipped": i % 2},
               "to_salesforce": {"created": i % 4, "updated": i % 5},
               "state": {"in_sync": 100 + i % 17, "out_of_sync": i % 3, "held_duplicate": i % 3,
                         "held_invalid": i % 4, "held_no_phone": i % 2}}
    # consent writes (issue 15) are among the updates of their direction: an opt-out written is also its update
    if i % 6 and i % 4 == 1:
        contact["to_heymarket"]["opted_out"] = 1
    if i % 5 >= 2:
        contact["to_salesforce"]["opted_out"] = i % 5 - 1
        contact["to_salesforce"]["opted_in"] = 1 if i % 8 == 0 else 0
    counts = {"Contact": contact}
    if "Lead" in objects:
        counts["Lead"] = {"to_heymarket": {"created": 1, "invalid": 1}, "to_salesforce": {"created": 2},
                          "state": {"in_sync": 40, "out_of_sync": 0, "held_invalid": 1}}
    seconds = 30.0 + i % 200
    note = None
    if status == "failed":
        # half of the failed runs failed before preflight opened their row: their duration is not known
        seconds = 0.2 if i % 100 == 7 else seconds
        counts = {} if i % 100 == 7 else counts
        note = (f"preflight failed: Salesforce refused the login for {PLANTED['email']} "
                f"(call {PLANTED['phone_human']})")
    elif status == "cancelled":
        note = "cancelled: the run was marked failed; apply_heymarket stopped before its next batch"
    elif status == "partial":
        note = "apply_salesforce stopped: Salesforce daily API budget reserve reached"
    return SeedRun(run_id=f"{prefix}{i:04d}", dag_id="heymarket_sync_manual" if trigger != "scheduled"
                   else "heymarket_sync", trigger=trigger, objects=objects, status=status,
                   dry_run=status == "dry_run", started_at=started, seconds=seconds, counts=counts,
                   api_calls={"salesforce": {"query": 3 + i % 5, "composite": i % 3},
                              "heymarket": {"contacts": 10 + i % 40}}, note=note)


def plan_history(n: int = 500, *, days: int = 30, end: dt.datetime, prefix: str = "seed__") -> list[SeedRun]:
    """``n`` runs spread evenly over ``days`` days up to ``end``, oldest first."""
    return [plan_run(i, n, end, days, prefix) for i in range(n)]


def outcomes_of(run: SeedRun) -> list[RecordOutcome]:
    """The run's record-level outcomes: one row per created, failed and held-back Contact (ids only)."""
    rows: list[RecordOutcome] = []
    contact = run.counts.get("Contact", {})
    serial = int(run.run_id[-4:])
    for k in range(contact.get("to_heymarket", {}).get("created", 0)):
        rows.append(RecordOutcome("Contact", "created", sf_id(serial, k), 10_000 + k, "to_heymarket", "no_match",
                                  ("first", "last", "phone")))
    for k in range(contact.get("to_heymarket", {}).get("failed", 0)):
        rows.append(RecordOutcome("Contact", "failed", sf_id(serial, 9_000 + k), None, "to_heymarket",
                                  "INVALID_EMAIL_ADDRESS", ("email",)))
    for k in range(contact.get("to_heymarket", {}).get("duplicate", 0)):
        rows.append(RecordOutcome("Contact", "duplicate", sf_id(serial, 8_000 + k), None, None, "phone_taken"))
    for k in range(contact.get("to_heymarket", {}).get("invalid", 0)):
        rows.append(RecordOutcome("Contact", "invalid", sf_id(serial, 7_000 + k), None, None, "not_possible"))
    return rows


def sf_id(serial: int, k: int) -> str:
    """A well-formed 18-character Contact id, unique per (run, record)."""
    return f"003{serial:04d}{k:08d}AAA"


def seed(store: StateStore, runs: Iterable[SeedRun], *, outcomes_for: Iterable[str] = (),
         plant_personal_data: bool = True) -> None:
    """Write the runs (and the outcomes of the runs named in ``outcomes_for``) to a migrated store."""
    wanted = set(outcomes_for)
    for run in runs:
        params = {"mode": "incremental", "objects": list(run.objects), "dry_run": run.dry_run}
        if plant_personal_data:
            params["record_ids"] = [f"{PLANTED['name']} {PLANTED['phone']} {PLANTED['email']}"]
        store.start_run(run.run_id, run.dag_id, trigger=run.trigger, mode="incremental", objects=run.objects,
                        dry_run=run.dry_run, params=params, started_at=run.started_at)
        store.finish_run(run.run_id, run.status, run.counts, run.api_calls, run.note,
                         ended_at=run.started_at + dt.timedelta(seconds=run.seconds))
        if run.run_id in wanted:
            store.write_record_outcomes(run.run_id, outcomes_of(run), planned=run.dry_run)
            if plant_personal_data:
                plant_in_errors_and_links(store, run)


def plant_in_errors_and_links(store: StateStore, run: SeedRun) -> None:
    """A rejected write whose message echoes the name, and a link holding the phone and the name as synced."""
    serial = int(run.run_id[-4:])
    store.record_errors(run.run_id, [WriteRejection(
        target="heymarket", action="update_heymarket", error_code="STRING_TOO_LONG", object="Contact",
        sf_id=sf_id(serial, 9_999), message=f"value too long: {PLANTED['name']}")])
    store.apply_link_changes([LinkRow(object="Contact", sf_id=sf_id(serial, 9_998), hm_id=99_000 + serial,
                                      phone=PLANTED["phone"], synced={"first": "Zelda", "last": "Quixote",
                                                                      "email": PLANTED["email"]})], [], run.run_id)


def as_row(run: SeedRun) -> dict[str, object]:
    """The run as the history row ``StateStore.query_runs`` would return (for tests without a store)."""
    return {"run_id": run.run_id, "dag_id": run.dag_id, "trigger": run.trigger, "mode": "incremental",
            "objects": list(run.objects), "dry_run": run.dry_run, "started_at": run.started_at,
            "ended_at": run.started_at + dt.timedelta(seconds=run.seconds), "status": run.status,
            "counts": run.counts, "api_calls": run.api_calls, "error_summary": run.note}
