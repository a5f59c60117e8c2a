"""Issue 14 on the real stack (api-server, scheduler, dag-processor, triggerer, Celery worker; ``stack.py``):
a record created on either side reaches the other through an asset-triggered run started by a change watcher,
not by the 30-minute cron.

One edit per side, with its edit-to-other-side latency printed; then, on the same stack, the Salesforce budget
guard (the watcher backs off, counted on the emulator, and the triggerer's log says so). The 20-edit latency
benchmark, the 10-minute idle measure and the triggerer restart (:func:`triggerer_restart_scenario`, about 140 s
of Airflow's own waits) are in ``benchmarks/bench_freshness.py``, figures in docs/freshness.md.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.stack import AirflowStack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

DAG_ID = "heymarket_sync"
#: Issue 14's target for one edit (p95 over 20 edits): two minutes.
LATENCY_TARGET = 120.0
SF_PHONE, HM_PHONE = "14152319901", "14152319902"
#: Made while the triggerer is down (test of the restart).
SF_DOWN_PHONE, HM_DOWN_PHONE = "14152319903", "14152319904"
#: The watchers' one call per poll, as the emulators name them.
HM_POLL = "POST /v1/contacts"
SF_POLL = "GET /services/data/v{version}/queryAll"
#: Polls of each watcher on this stack (the default is 30 s; benchmarks/bench_freshness.py measures latency and
#: idle cost at the default). 10 s keeps this module's waits for polls short without changing what it shows.
POLL_SECONDS = 10
#: Heymarket calls that create a contact; with every PUT, PATCH and DELETE, the calls that write one.
HM_CREATES = ("POST /v1/contact", "POST /v1/batch/contacts", "POST /v2/contacts")
#: Salesforce calls that write a record (the sync writes through the composite sObject collections).
SF_WRITE_PREFIXES = ("POST /services/data/v{version}/composite", "PATCH ", "DELETE ")


def heymarket_writes(stats: dict[str, int]) -> dict[str, int]:
    return {e: n for e, n in stats.items() if e in HM_CREATES or e.split(" ")[0] in ("PUT", "PATCH", "DELETE")}


def salesforce_writes(stats: dict[str, int]) -> dict[str, int]:
    return {e: n for e, n in stats.items() if e.startswith(SF_WRITE_PREFIXES)}


@pytest.fixture(scope="module")
def stack() -> Iterator[AirflowStack]:
    """A stack of its own with the watchers on (the compose default); the shared one has them off."""
    workdir = Path(tempfile.mkdtemp(prefix="hm-freshness-stack-"))
    print(f"\nstack work folder (logs kept): {workdir}")
    with AirflowStack(workdir, env_overrides={"HEYMARKET_SYNC_WATCHERS": "on",
                                              "HEYMARKET_SYNC_POLL_SECONDS": str(POLL_SECONDS)}) as stack:
        yield stack
        print(f"\nstack timings: {stack.timings}")


def active_runs(stack: AirflowStack) -> list[dict[str, object]]:
    return [r for r in stack.dag_runs(DAG_ID) if r["state"] in ("queued", "running")]


def wait_quiet(stack: AirflowStack, timeout: float = 400.0) -> None:
    """No run queued or running, twice 10 s apart (the first syncs and their echo runs are over)."""
    quiet_since: list[float] = []

    def check() -> bool:
        if active_runs(stack):
            quiet_since.clear()
            return False
        quiet_since.append(time.monotonic())
        return quiet_since[-1] - quiet_since[0] >= 10

    wait_for(check, timeout, "no heymarket_sync run queued or running", interval=2.0, on_timeout=stack.logs)


@pytest.fixture(scope="module")
def synced(stack: AirflowStack) -> Iterator[AirflowStack]:
    """Demo data on both sides, the scheduled DAG switched on, its first runs over."""
    stack.wait_dag(DAG_ID)
    stack.load_demo(size=20, seed=5)
    stack.set_paused(DAG_ID, False)
    wait_for(lambda: stack.dag_runs(DAG_ID), 90, "a first heymarket_sync run", interval=2.0)
    wait_quiet(stack)
    saved = {k: os.environ.get(k) for k in ("AIRFLOW_CONN_SALESFORCE_DEFAULT", "REQUESTS_CA_BUNDLE")}
    os.environ.update({k: stack.env[k] for k in saved})  # this process edits Salesforce as a user would
    try:
        yield stack
    finally:
        stack.set_paused(DAG_ID, True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def clear_of_the_cron(stack: AirflowStack, needed: float = LATENCY_TARGET + 30) -> None:
    """Edit only when the next :00 or :30 cron run is further away than *needed* seconds.

    A cron run starting between the edit and an asset-triggered run would sync the edit itself (the asset run
    then waits its turn: one run at a time) and the test could not tell the watcher did its job. Near a
    slot, wait for it to pass and for its run to end.
    """
    now = dt.datetime.now(dt.UTC)
    to_slot = (30 - now.minute % 30) * 60 - now.second - now.microsecond / 1e6
    if to_slot <= needed:
        time.sleep(to_slot + 5)  # a wall-clock slot, not a synchronisation: its run is awaited next
        wait_quiet(stack)


def asset_triggered_since(stack: AirflowStack, before: set[str]) -> list[str]:
    return [str(r["dag_run_id"]) for r in stack.dag_runs(DAG_ID)
            if r["run_type"] == "asset_triggered" and str(r["dag_run_id"]) not in before]


def test_a_contact_created_in_salesforce_reaches_heymarket_through_a_watcher(synced: AirflowStack) -> None:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    stack = synced
    clear_of_the_cron(stack)
    before = {str(r["dag_run_id"]) for r in stack.dag_runs(DAG_ID)}
    start = time.monotonic()
    SalesforceHook(salesforce_conn_id="salesforce_default").get_conn().Contact.create(
        {"FirstName": "Fresh", "LastName": "Salesforce", "Phone": f"+{SF_PHONE}"})

    def reached() -> bool:
        return any(str(c.get("phone")) == SF_PHONE for c in stack.hm_admin().dump().get("contacts", []))

    wait_for(reached, 300, "the new Contact in Heymarket", interval=2.0, on_timeout=stack.logs)
    latency = time.monotonic() - start
    print(f"\nSalesforce -> Heymarket: {latency:.1f} s")
    assert asset_triggered_since(stack, before), "synced, but not by an asset-triggered run"
    assert latency <= LATENCY_TARGET
    wait_quiet(stack)


def salesforce_contacts(stack: AirflowStack, last_name: str) -> list[dict[str, object]]:
    dump = stack.sf_admin().dump()
    contacts = dump["records"]["Contact"] if "records" in dump else dump["Contact"]
    return [c for c in contacts if str(c.get("LastName")) == last_name]


def heymarket_contacts(stack: AirflowStack, phone: str) -> list[dict[str, object]]:
    return [c for c in stack.hm_admin().dump().get("contacts", []) if str(c.get("phone")) == phone]


def test_a_contact_created_in_heymarket_reaches_salesforce_through_a_watcher(synced: AirflowStack) -> None:
    from tests.e2e.conftest import HeymarketUser

    stack = synced
    clear_of_the_cron(stack)
    before = {str(r["dag_run_id"]) for r in stack.dag_runs(DAG_ID)}
    start = time.monotonic()
    HeymarketUser(stack.hm_admin().base_url).create(phone=HM_PHONE, first="Fresh", last="Heymarket")

    def reached() -> bool:
        dump = stack.sf_admin().dump()
        contacts = dump["records"]["Contact"] if "records" in dump else dump["Contact"]
        return any(str(c.get("LastName")) == "Heymarket" for c in contacts)

    wait_for(reached, 300, "the new Heymarket contact in Salesforce", interval=2.0, on_timeout=stack.logs)
    latency = time.monotonic() - start
    print(f"\nHeymarket -> Salesforce: {latency:.1f} s")
    assert asset_triggered_since(stack, before), "synced, but not by an asset-triggered run"
    assert latency <= LATENCY_TARGET


def triggerer_restart_scenario(stack: AirflowStack) -> dict[str, object]:
    """Issue 14's triggerer restart, run by ``benchmarks/bench_freshness.py`` (not collected by pytest: about
    140 s, most of it waits Airflow needs by design; see below). Raises AssertionError when a change is lost or
    written twice; returns what it saw.

    The triggerer is SIGKILLed right after a watcher's poll reached Heymarket; a Contact is created in
    Salesforce and a contact in Heymarket while it is down; it is started again (compose: ``restart: always``).

    Oracle from the emulators only: each record is on the other side exactly once; the Heymarket contact the sync
    created was written once (its ``rev``) and Heymarket saw one contact create; after the runs that synced the
    two edits (and the echo of their own writes) are over, two more polls of each watcher start nothing that
    writes: both records on both sides (``rev``, ``SystemModstamp``) and the emulators' write counts unchanged.

    Where the time goes: the echo run of the previous edit must be over first (else it would sync the edits made
    while the triggerer is down), the dead triggerer's watchers move to the new one only once its heartbeat is
    stale (about 30 s), then the run, its echo run, and two more polls of each watcher.
    """
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    from tests.e2e.conftest import HeymarketUser

    wait_quiet(stack)
    # a dead triggerer's watchers move to the new one once its heartbeat is stale (about 30 s), then a poll
    clear_of_the_cron(stack, needed=LATENCY_TARGET + 120)
    sf, hm = stack.sf_admin(), stack.hm_admin()
    hm.reset_stats()
    wait_for(lambda: hm.stats()["by_endpoint"].get(HM_POLL, 0) >= 1, 120, "a Heymarket watcher poll",
             interval=0.2, on_timeout=stack.logs)
    stack.kill_service("airflow-triggerer")
    killed = time.monotonic()
    before = {str(r["dag_run_id"]) for r in stack.dag_runs(DAG_ID)}
    SalesforceHook(salesforce_conn_id="salesforce_default").get_conn().Contact.create(
        {"FirstName": "Down", "LastName": "WhileSalesforce", "Phone": f"+{SF_DOWN_PHONE}"})
    HeymarketUser(hm.base_url).create(phone=HM_DOWN_PHONE, first="Down", last="WhileHeymarket")
    sf.reset_stats()
    hm.reset_stats()  # from here on, every Heymarket contact write is the sync's
    stack.restart_service("airflow-triggerer")

    wait_for(lambda: heymarket_contacts(stack, SF_DOWN_PHONE) and salesforce_contacts(stack, "WhileHeymarket"),
             300, "both edits made while the triggerer was down, on the other side", interval=2.0,
             on_timeout=stack.logs)
    synced_after = time.monotonic() - killed
    runs = asset_triggered_since(stack, before)
    assert runs, "synced, but not by an asset-triggered run after the restart"
    wait_quiet(stack)  # the run that synced them and the echo run of its own writes are over

    def snapshot() -> dict[str, object]:
        return {"heymarket, created": heymarket_contacts(stack, SF_DOWN_PHONE),
                "heymarket, edited": heymarket_contacts(stack, HM_DOWN_PHONE),
                "salesforce, created": salesforce_contacts(stack, "WhileHeymarket"),
                "salesforce, edited": salesforce_contacts(stack, "WhileSalesforce"),
                "heymarket writes": heymarket_writes(hm.stats()["by_endpoint"]),
                "salesforce writes": salesforce_writes(sf.stats()["by_endpoint"])}

    synced_state = snapshot()
    # a change reported twice would start one more run: two more polls of each watcher, then any run is over
    polls = (hm.stats()["by_endpoint"].get(HM_POLL, 0), sf.stats()["by_endpoint"].get(SF_POLL, 0))
    wait_for(lambda: hm.stats()["by_endpoint"].get(HM_POLL, 0) >= polls[0] + 2
             and sf.stats()["by_endpoint"].get(SF_POLL, 0) >= polls[1] + 2, 300, "two more polls of each watcher",
             interval=1.0, on_timeout=stack.logs)
    wait_quiet(stack)
    final = snapshot()
    hm_created, sf_created = list(final["heymarket, created"]), list(final["salesforce, created"])
    hm_writes = dict(final["heymarket writes"])
    seen = {"seconds_from_kill_to_both_synced": round(synced_after, 1),
            "asset_triggered_runs_after_restart": len(asset_triggered_since(stack, before)),
            "heymarket_contacts_at_the_salesforce_edit_phone": len(hm_created),
            "rev_of_that_heymarket_contact": hm_created[0]["rev"] if hm_created else None,
            "salesforce_contacts_for_the_heymarket_edit": len(sf_created),
            "writes_since_the_edits": {"heymarket": hm_writes, "salesforce": final["salesforce writes"]},
            "written_again_after_the_sync": final != synced_state}
    print(f"\nafter the triggerer restart: {seen}")
    assert len(hm_created) == 1 and len(sf_created) == 1, (len(hm_created), len(sf_created))
    assert hm_created[0]["rev"] == 1, f"the Heymarket contact was written {hm_created[0]['rev']} times"
    assert sum(n for e, n in hm_writes.items() if e in HM_CREATES) == 1, hm_writes
    assert final == synced_state, "a record was written again after the runs that synced both edits"
    return seen


def test_with_the_salesforce_budget_nearly_spent_the_watcher_backs_off_and_says_so(synced: AirflowStack) -> None:
    """1,500 of 3,000 calls left: above the shipped reserve (1,000; runs still start) but under twice it, so the
    Salesforce watcher polls every 15 minutes instead of every poll interval, and its line in the triggerer's log
    says why. Backing off is counted on the emulators: after that line, Heymarket's watcher polls three more times
    (at least two poll intervals) while Salesforce sees no query. Last in this module: the watcher then sleeps for
    15 minutes."""
    stack = synced
    wait_quiet(stack)  # the echo run of the last edit queries Salesforce too
    log_path = stack.components["airflow-triggerer"].log_path
    seen = log_path.stat().st_size
    sf, hm = stack.sf_admin(), stack.hm_admin()
    sf.faults(daily_api_budget=3000, daily_api_used=1500)

    def backoff_line() -> str | None:
        with log_path.open("rb") as handle:
            handle.seek(seen)
            lines = [line for line in handle.read().decode(errors="replace").splitlines()
                     if "budget nearly spent" in line]
        return lines[0] if lines else None

    line = str(wait_for(backoff_line, 180, "the watcher's budget line in the triggerer's log", interval=1.0,
                        on_timeout=stack.logs))
    print(f"\ntriggerer: {line.strip()}")
    assert "salesforce watcher" in line and "of 3000 calls left" in line and "polls every 900 s" in line, line

    def salesforce_queries_in_a_window_without_runs() -> int | None:
        """Salesforce queries while Heymarket's watcher polls three more times; None when a sync run (whose
        extracts query both systems too) started or ran in that window, so the count is not the watcher's."""
        runs = {str(r["dag_run_id"]) for r in stack.dag_runs(DAG_ID)}
        sf_polls, hm_polls = sf.stats()["by_endpoint"].get(SF_POLL, 0), hm.stats()["by_endpoint"].get(HM_POLL, 0)
        wait_for(lambda: hm.stats()["by_endpoint"].get(HM_POLL, 0) >= hm_polls + 3, 240,
                 "three more Heymarket watcher polls", interval=2.0, on_timeout=stack.logs)
        queries = sf.stats()["by_endpoint"].get(SF_POLL, 0) - sf_polls
        if active_runs(stack) or {str(r["dag_run_id"]) for r in stack.dag_runs(DAG_ID)} != runs:
            print(f"a sync run overlapped the window ({queries} Salesforce queries): measuring again")
            wait_quiet(stack)
            return None
        return queries

    for _ in range(3):
        queries = salesforce_queries_in_a_window_without_runs()
        if queries is not None:
            break
    assert queries is not None, "three windows in a row overlapped a sync run"
    assert queries == 0, f"the Salesforce watcher polled again: {queries} queries in a window without runs"
