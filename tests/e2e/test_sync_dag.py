"""The ``heymarket_sync`` DAG end to end against both emulators (dag.test, real sockets, real state DB)."""

from __future__ import annotations

import pytest

from emulators.demo_data import generate

pytestmark = pytest.mark.e2e

DEMO = generate(size=50, seed=7)


def load_demo(sync) -> None:  # noqa: ANN001
    sync.sf.load(DEMO.salesforce)
    sync.hm.load(DEMO.heymarket)


def data_of(dump: dict) -> dict:
    """An emulator dump without its bookkeeping (API usage, sessions): only the records."""
    return {k: v for k, v in dump.items() if k not in {"limits", "sessions"}}


def plan_counts(sync, dag_run) -> dict[str, dict[str, int]]:  # noqa: ANN001
    return sync.result(dag_run, "plan")["counts"]


def total(counts: dict[str, dict[str, int]], key: str) -> int:
    return sum(kinds.get(key, 0) for kinds in counts.values())


def test_dry_run_plans_the_seeded_data_and_writes_nothing(sync) -> None:  # noqa: ANN001
    load_demo(sync)
    before_sf, before_hm = data_of(sync.sf.dump()), data_of(sync.hm.dump())

    dag_run = sync.run(dry_run=True, mode="full")

    assert str(dag_run.state) == "success"
    counts = plan_counts(sync, dag_run)
    exp = DEMO.expected
    losers = exp["duplicate_phone_numbers"]  # each duplicated number is on two records: one loses
    assert total(counts, "invalid_phone") == exp["Contact"]["invalid_phone"] + exp["Lead"]["invalid_phone"]
    assert total(counts, "no_phone") == exp["Contact"]["no_phone"] + exp["Lead"]["no_phone"]
    assert total(counts, "duplicate") == losers
    assert total(counts, "link") == exp["heymarket"]["overlap"]
    valid = exp["Contact"]["valid_phone"] + exp["Lead"]["valid_phone"]
    assert total(counts, "create_heymarket") + total(counts, "link") == valid - losers
    created_in_sf = total(counts, "create_salesforce")
    skipped = total(counts, "skipped")
    assert created_in_sf + skipped == exp["heymarket"]["only_heymarket"]
    record = sync.result(dag_run)
    assert record["status"] == "dry_run"
    # nothing written anywhere
    assert data_of(sync.sf.dump()) == before_sf
    assert data_of(sync.hm.dump()) == before_hm
    assert sync.store().load_links().empty


def test_full_sync_converges_and_second_run_changes_nothing(sync) -> None:  # noqa: ANN001
    load_demo(sync)

    first = sync.run(mode="full")
    assert str(first.state) == "success", sync.result(first)
    summary = sync.result(first)
    assert summary["status"] == "success"

    # Converged: every winning Salesforce record with a valid phone has exactly one Heymarket contact.
    contacts = sync.hm_contacts()
    phones = [c["phone"] for c in contacts]
    assert len(phones) == len(set(phones)), "a phone appears twice in Heymarket"
    links = sync.store().load_links()
    assert len(links) == len(links["hm_id"].unique())
    exp = DEMO.expected
    valid = exp["Contact"]["valid_phone"] + exp["Lead"]["valid_phone"]
    assert len(links[links["status"] == "active"]) >= valid - exp["duplicate_phone_numbers"]

    sync.hm.reset_stats()
    sync.sf.reset_stats()
    second = sync.run(mode="full")
    assert str(second.state) == "success"
    counts = plan_counts(sync, second)
    for action in ("create_heymarket", "update_heymarket", "delete_heymarket", "create_salesforce",
                   "update_salesforce", "link", "unlink"):
        assert total(counts, action) == 0, (action, counts)
    hm_writes = {k: v for k, v in sync.hm.stats()["by_endpoint"].items() if not k.startswith(("GET", "POST /v1/contacts"))}
    assert hm_writes.get("POST /v2/contacts", 0) == 0
