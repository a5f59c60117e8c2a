"""Filtered, paged reads of the run history (``sync_engine.state.run_queries``), on SQLite and PostgreSQL.

The expected runs are computed from the seeded plan (``tests.history_seed``), never from the store.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from sync_engine.state import RunFilter, StateStore
from sync_engine.state.run_queries import iter_runs
from tests.history_seed import SeedRun, plan_history, seed
from tests.unit import test_state_store as backends

pg_database, new_pg_url, new_url = backends.pg_database, backends.new_pg_url, backends.new_url
clock, store = backends.clock, backends.store

END = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
N = 120


@pytest.fixture
def history(store: StateStore) -> list[SeedRun]:
    runs = plan_history(N, days=30, end=END, prefix="q__")
    seed(store, runs, plant_personal_data=False)
    return runs


def newest_first(runs: list[SeedRun]) -> list[str]:
    return [r.run_id for r in sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)]


def test_no_filter_pages_newest_first_and_counts_all(store: StateStore, history: list[SeedRun]) -> None:
    everything = RunFilter()
    assert store.count_runs(everything) == N
    pages = [store.query_runs(everything, limit=50, offset=o) for o in (0, 50, 100)]
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [r["run_id"] for p in pages for r in p] == newest_first(history)
    assert "params" not in pages[0][0]  # run parameters are never read for the page


def test_filters_by_date_range_status_trigger_and_object(store: StateStore, history: list[SeedRun]) -> None:
    start, before = END - dt.timedelta(days=20), END - dt.timedelta(days=10)
    run_filter = RunFilter(started_from=start, started_before=before, statuses=("success", "failed"),
                           triggers=("manual",), objects=("Lead",))
    expected = [r for r in history if start <= r.started_at < before and r.status in ("success", "failed")
                and r.trigger in ("manual", "DagRunType.MANUAL") and "Lead" in r.objects]
    assert expected, "the seed must give this filter something to find"
    assert store.count_runs(run_filter) == len(expected)
    assert [r["run_id"] for r in store.query_runs(run_filter, limit=500)] == newest_first(expected)


def test_an_older_row_with_the_enum_trigger_matches_its_plain_name(store: StateStore,
                                                                  history: list[SeedRun]) -> None:
    stored = [r for r in history if r.trigger == "DagRunType.MANUAL"]
    found = {r["run_id"] for r in store.query_runs(RunFilter(triggers=("manual",)), limit=500)}
    assert stored and {r.run_id for r in stored} <= found
    assert not {r.run_id for r in stored} & {r["run_id"] for r in store.query_runs(
        RunFilter(triggers=("scheduled",)), limit=500)}


def test_object_filter_is_not_fooled_by_a_prefix(store: StateStore, history: list[SeedRun]) -> None:
    contact_only = {r.run_id for r in history if r.objects == ("Contact",)}
    leads = {r["run_id"] for r in store.query_runs(RunFilter(objects=("Lead",)), limit=500)}
    assert contact_only and not contact_only & leads
    assert len(leads) == N - len(contact_only)


def test_export_walks_every_page_by_keyset_with_ties_on_started_at(store: StateStore,
                                                                  history: list[SeedRun]) -> None:
    # two more runs at the very instant of an existing one: the keyset must not skip or repeat them
    twin = history[60]
    for suffix in ("a", "b"):
        store.start_run(f"{twin.run_id}{suffix}", "heymarket_sync", trigger="scheduled", mode="incremental",
                        objects=["Contact"], started_at=twin.started_at)
    with store.engine.connect() as conn:
        walked = [r["run_id"] for r in iter_runs(conn, RunFilter(), chunk=7)]
    assert len(walked) == len(set(walked)) == N + 2
    assert walked == [r["run_id"] for r in store.query_runs(RunFilter(), limit=500)]
    failed = [r["run_id"] for r in store.iter_runs(RunFilter(statuses=("failed",)))]
    assert failed == newest_first([r for r in history if r.status == "failed"])


def explain(conn, stmt) -> str:  # noqa: ANN001 - a connection and a select
    compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
    return "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {compiled}")))


@pytest.mark.postgres
def test_postgresql_reads_the_page_through_the_started_at_index(new_pg_url) -> None:  # noqa: ANN001 - fixture
    """The page's query walks ``ix_hm_sync_run_started_at_run_id`` backwards (no sort of the table), and a
    date range is an index condition. Sequential scans are off, as the planner would choose on a large table;
    ``benchmarks/bench_history.py`` checks the same plans at 20,000 runs."""
    from sync_engine.state.run_queries import _newest_first, _select

    with StateStore(new_pg_url()) as s:
        s.migrate()
        seed(s, plan_history(40, days=5, end=END, prefix="x__"), plant_personal_data=False)
        with s.engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            page = explain(conn, _newest_first(_select(RunFilter())).limit(50).offset(50))
            ranged = explain(conn, _newest_first(_select(RunFilter(started_from=END - dt.timedelta(days=2),
                                                                   statuses=("failed",)))).limit(50))
    assert "Index Scan Backward using ix_hm_sync_run_started_at_run_id" in page and "Sort" not in page, page
    assert "ix_hm_sync_run_started_at_run_id" in ranged and "Index Cond: (started_at >=" in ranged, ranged
