"""docs/analytics.md is true: its table reference is the models' comments, and every ```sql block runs on SQLite
and PostgreSQL against a seeded store and gives the expected rows.

A block names itself (``-- name: ...``); a ``-- dialect: postgresql|sqlite`` line runs it on that database only
(the weekly query needs each database's week function). Every name is expected here, with its rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from scripts.analytics_reference import BEGIN, END, reference
from sync_engine.state import RecordOutcome, StateStore
from sync_engine.state.models import Base
from tests.unit import test_state_store as backends
from tests.unit.test_state_store import FakeClock

pg_database, new_pg_url, new_url = backends.pg_database, backends.new_pg_url, backends.new_url
clock = backends.clock

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
C = {i: f"003Dn00000Aaa0{i}AAA" for i in range(1, 10)}
L1 = "00QDn00000Lll01AAA"
RUNS = {  # run id -> (started, status, counts)
    "scheduled__2026-03-02T10:00:00+00:00": (datetime(2026, 3, 2, 10, tzinfo=UTC), "success", {
        "Contact": {"to_heymarket": {"created": 5, "updated": 2, "duplicate": 1},
                    "to_salesforce": {"created": 1, "failed": 1}, "state": {"linked": 3, "in_sync": 40}}}),
    "scheduled__2026-03-02T14:00:00+00:00": (datetime(2026, 3, 2, 14, tzinfo=UTC), "partial", {
        "Contact": {"to_heymarket": {"updated": 3, "failed": 1}}, "Lead": {"to_heymarket": {"created": 2}}}),
    "scheduled__2026-03-04T10:00:00+00:00": (datetime(2026, 3, 4, 10, tzinfo=UTC), "success", {
        "Lead": {"to_salesforce": {"updated": 4}}}),
    "scheduled__2026-03-09T10:00:00+00:00": (datetime(2026, 3, 9, 10, tzinfo=UTC), "failed", {
        "Contact": {"to_heymarket": {"created": 1, "failed": 3}}}),
    "manual__2026-03-10T08:00:00+00:00": (datetime(2026, 3, 10, 8, tzinfo=UTC), "dry_run", {
        "Contact": {"to_heymarket": {"created": 50}}}),
}
R1, R2, R3, R4, DRY = RUNS
OUTCOMES = {  # run id -> its outcome rows (recorded at the run's start)
    R1: [RecordOutcome("Contact", "duplicate", C[1], None, None, "phone_taken"),
         RecordOutcome("Contact", "failed", C[2], 11, "to_salesforce", "INVALID_EMAIL_ADDRESS", ("email",)),
         RecordOutcome("Contact", "created", C[3], 13, "to_heymarket", "no_match", ("first", "last", "phone"))],
    R2: [RecordOutcome("Contact", "duplicate", C[1], None, None, "phone_taken"),
         RecordOutcome("Contact", "failed", C[4], 14, "to_heymarket", "REJECTED", ("first",)),
         RecordOutcome("Contact", "updated", C[3], 13, "to_heymarket", None, ("email",)),
         RecordOutcome("Contact", "duplicate", C[5], None, None, "phone_taken"),
         RecordOutcome("Contact", "invalid", C[6], None, None, "not_possible")],
    R3: [RecordOutcome("Contact", "duplicate", C[1], None, None, "phone_taken"),
         RecordOutcome("Contact", "created", C[5], 15, "to_heymarket", "no_match", ("phone",)),
         RecordOutcome("Lead", "updated", L1, 21, "to_salesforce", None, ("last",))],
    R4: [RecordOutcome("Contact", "duplicate", C[1], None, None, "phone_taken"),
         RecordOutcome("Contact", "failed", C[2], 11, "to_salesforce", "INVALID_EMAIL_ADDRESS", ("email",)),
         RecordOutcome("Contact", "failed", C[8], 18, "to_salesforce", "INVALID_EMAIL_ADDRESS", ("email",)),
         RecordOutcome("(heymarket)", "failed", None, 31, "to_salesforce", "STRING_TOO_LONG", ("phone",))],
    DRY: [RecordOutcome("Contact", "duplicate", C[9], None, None, "phone_taken"),
          RecordOutcome("Contact", "failed", C[9], None, "to_heymarket", "REJECTED")],
}
EXPECTED = {
    "daily_writes": [
        ("2026-03-02", "to_heymarket", "created", 7), ("2026-03-02", "to_heymarket", "updated", 5),
        ("2026-03-02", "to_salesforce", "created", 1), ("2026-03-04", "to_salesforce", "updated", 4),
        ("2026-03-09", "to_heymarket", "created", 1)],
    # week of 2 March: 9 + 6 + 4 writes tried, 2 failed; week of 9 March: 4 tried, 3 failed (the dry run: out)
    "weekly_failure_rate": [("2026-03-02", 2, 19, 10.53), ("2026-03-09", 3, 4, 75.0)],
    "top_rejection_reasons": [("to_salesforce", "INVALID_EMAIL_ADDRESS", 3, 2), ("to_heymarket", "REJECTED", 1, 1),
                              ("to_salesforce", "STRING_TOO_LONG", 1, 1)],
    "hold_back_reasons": [("duplicate", "phone_taken", 2), ("invalid", "not_possible", 1)],
    # C1 is a duplicate in every run; C5 was one, then created (not stuck); C9 only in the dry run
    "stuck_duplicates": [("Contact", C[1], 4, "2026-03-02", "2026-03-09")],
    "record_history": [(R4, "failed", "to_salesforce", "INVALID_EMAIL_ADDRESS", "email"),
                       (R1, "failed", "to_salesforce", "INVALID_EMAIL_ADDRESS", "email")],
    "run_records": [("Contact", C[1], None, "duplicate", None, "phone_taken", None),
                    ("Contact", C[5], None, "duplicate", None, "phone_taken", None),
                    ("Contact", C[4], 14, "failed", "to_heymarket", "REJECTED", "first"),
                    ("Contact", C[6], None, "invalid", None, "not_possible", None),
                    ("Contact", C[3], 13, "updated", "to_heymarket", None, "email")],
}


def sql_blocks() -> list[tuple[str, str | None, str]]:
    """(name, dialect or None, SQL) of every ```sql block of the document."""
    blocks = []
    for body in re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL):
        name = re.search(r"^-- name: (\w+)$", body, flags=re.MULTILINE)
        dialect = re.search(r"^-- dialect: (\w+)$", body, flags=re.MULTILINE)
        assert name, f"a ```sql block of {DOC.name} has no '-- name:' line:\n{body}"
        blocks.append((name.group(1), dialect.group(1) if dialect else None, body))
    return blocks


@pytest.fixture
def seeded(new_url, clock: FakeClock) -> Iterator[StateStore]:  # noqa: ANN001 - a URL factory
    """A migrated store holding the runs, counts and outcomes above."""
    with StateStore(new_url(), clock=clock) as store:
        store.migrate()
        for run_id, (started, status, counts) in RUNS.items():
            clock.now = started
            dag_id = "heymarket_sync_manual" if run_id.startswith("manual") else "heymarket_sync"
            store.start_run(run_id, dag_id, trigger=run_id.split("__")[0], mode="incremental",
                            objects=["Contact", "Lead"], dry_run=status == "dry_run", started_at=started)
            store.write_record_outcomes(run_id, OUTCOMES[run_id], planned=status == "dry_run")
            store.finish_run(run_id, status, counts, ended_at=started)
        yield store


def _plain(value: object) -> object:
    """A result cell as the same plain value on both databases (dates as ISO text, decimals as floats)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()[:10]
    if isinstance(value, float):
        return round(value, 2)
    return value


def test_every_example_query_runs_and_gives_the_expected_rows(seeded: StateStore) -> None:
    blocks = sql_blocks()
    assert {name for name, _, _ in blocks} == set(EXPECTED)  # every query is checked, every check has a query
    ran = 0
    with seeded.engine.connect() as conn:
        if seeded.backend == "postgresql":
            conn.execute(text("SET TIME ZONE 'UTC'"))  # as the document says
        for name, dialect, sql in blocks:
            if dialect not in (None, seeded.backend):
                continue
            rows = [tuple(_plain(v) for v in row) for row in conn.execute(text(sql))]
            assert rows == EXPECTED[name], name
            ran += 1
    assert ran == len([b for b in blocks if b[1] in (None, seeded.backend)]) >= 7


def test_the_week_query_exists_for_both_databases() -> None:
    dialects = {dialect for name, dialect, _ in sql_blocks() if name == "weekly_failure_rate"}
    assert dialects == {"postgresql", "sqlite"}


def test_the_table_reference_is_the_models_comments_and_lists_every_column() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert BEGIN in doc and END in doc
    assert doc.split(BEGIN, 1)[1].split(END, 1)[0].strip() == reference().strip(), (
        "docs/analytics.md is out of date: paste the output of `python -m scripts.analytics_reference`")
    for table in Base.metadata.tables.values():
        section = doc.split(f"### `{table.name}`", 1)[1].split("\n### ", 1)[0]
        missing = [c.name for c in table.columns if f"| `{c.name}` |" not in section]
        assert missing == [], f"{table.name}: {missing}"
