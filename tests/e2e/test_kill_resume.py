"""Kill or cancel ``heymarket_sync`` mid-apply, for real, and prove that the next run finishes the job.

Every killed run is a real process (a child forked by ``killable.Zygote`` running ``dag.test()``) that dies
by SIGKILL at a chosen point: from the outside when its log shows a stage, or by its own hand at the one point
no timing can hit (the API answered a batch, its state commit has not happened). Afterwards the run is
marked failed in Airflow's metadata DB with the function the REST API's "mark failed" uses (it is what the
user does, and what the scheduler does to a task whose worker was lost once its retries are spent).

Then the next run is an ordinary ``dag.test()`` in this process, and the emulators' dumps must equal the
dumps of an uninterrupted sync of the same data: no duplicate, nothing missing, the same field values. A
further run must write nothing. The cancel test follows Airflow's own sequence (run marked failed, SIGTERM,
SIGKILL 5 s later) and the retry tests Airflow's other path after a kill (the task is retried in the same
run, with the same plan).
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulators.demo_data import generate
from tests.e2e.killable import ChildRun, Zygote

pytestmark = pytest.mark.e2e

DAG_ID = "heymarket_sync"
DEMO = generate(size=50, seed=7)
HM_BATCH = 5
SF_BATCH = 4
#: The stale-lock grace in tests; production waits the supervisor's worst case (15 s).
LOCK_GRACE = 1.0
#: What Airflow's supervisor allows between SIGTERM and SIGKILL.
SIGKILL_AFTER = 5.0
#: Write endpoints of the emulators (a converged sync calls none of them).
HM_WRITES = ("POST /v2/contacts", "DELETE /v2/contacts", "PUT /v2/contact", "POST /v2/contact")
WRITE_ACTIONS = ("create_heymarket", "update_heymarket", "delete_heymarket", "create_salesforce",
                 "update_salesforce", "link", "unlink")
_GOLDEN: dict[str, object] = {}


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def zygote(airflow_db: Path, salesforce_emulator, heymarket_emulator,  # noqa: ANN001
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    import os

    zygote = Zygote(dict(os.environ), tmp_path_factory.mktemp("zygote") / "zygote.log")
    yield zygote
    zygote.close()


@dataclass
class KillHarness:
    """A ``SyncHarness`` (tests/e2e/conftest.py) with the demo data loaded, small batches, and the zygote."""

    sync: object
    zygote: Zygote
    tmp_path: Path
    initial: dict[str, object]

    def start(self, name: str, **kwargs: object) -> ChildRun:
        kwargs.setdefault("conf", {"mode": "full"})
        return self.zygote.start_run(log_path=self.tmp_path / f"{name}.log", config_path=self.sync.config_path,
                                     sf_batch_size=SF_BATCH, lock_grace=LOCK_GRACE, **kwargs)

    def lock_holder(self) -> str | None:
        from sync_engine.state import SYNC_LOCK

        holder = self.sync.store().lock_holder(SYNC_LOCK)
        return holder.holder_run_id if holder else None

    def hm_created(self) -> int:
        return len(self.sync.hm_contacts()) - len(DEMO.heymarket["contacts"])

    def sf_created(self) -> int:
        return len(self.sync.sf_records("Contact")) - self.initial["Contact"]

    def recorded_creates(self) -> tuple[int, int]:
        """Links made by creates: (Heymarket contacts created, Salesforce records created) and recorded."""
        links = self.sync.store().load_links()
        hm = sum(1 for h in links["hm_id"] if int(h) not in self.initial["hm_ids"])
        sf = sum(1 for s in links["sf_id"] if s not in self.initial["sf_ids"])
        return hm, sf


@pytest.fixture
def kill(sync, zygote: Zygote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KillHarness:  # noqa: ANN001
    golden = _golden(sync, monkeypatch, tmp_path)
    sync.sf.load(DEMO.salesforce)
    sync.hm.load(DEMO.heymarket)
    sync.write_config(lambda c: c.setdefault("heymarket", {}).update(batch_size=HM_BATCH))
    monkeypatch.setattr(sync.dag.task_dict["preflight"], "stale_lock_grace_seconds", LOCK_GRACE)
    monkeypatch.setattr(sync.dag.task_dict["apply_salesforce"], "batch_size", SF_BATCH)
    initial = {
        "Contact": len(sync.sf_records("Contact")),
        "hm_ids": {int(c["id"]) for c in sync.hm_contacts()},
        "sf_ids": {r["Id"] for obj in ("Contact", "Lead") for r in sync.sf_records(obj)},
        "golden": golden,
    }
    return KillHarness(sync, zygote, tmp_path, initial)


def _golden(sync, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, object]:  # noqa: ANN001
    """The end state of an uninterrupted sync of the demo data (computed once, by whichever test is first)."""
    if not _GOLDEN:
        with monkeypatch.context() as patch:
            url = f"sqlite:///{tmp_path / 'golden_state.db'}"
            patch.setenv("AIRFLOW_CONN_HEYMARKET_SYNC_STATE", json.dumps({"conn_type": "generic",
                                                                          "extra": {"url": url}}))
            sync.sf.load(DEMO.salesforce)
            sync.hm.load(DEMO.heymarket)
            dag_run = sync.run(mode="full")
            assert str(dag_run.state) == "success", sync.result(dag_run)
            from sync_engine.state import StateStore

            _GOLDEN.update(end_state(sync, StateStore(url)))
        sync.sf.reset()
        sync.hm.reset()
        sync.hm.faults(rate_limit_per_minute=100_000)
    return _GOLDEN


# ---------------------------------------------------------------------------------------------- checks


def _row(*values: object) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in values)


def end_state(sync, store) -> dict[str, object]:  # noqa: ANN001
    """What must not depend on when a run was killed: records by their values, links by object and phone."""
    hm = sorted(_row(c.get("phone"), c.get("first"), c.get("last"), c.get("email"),
                     sorted((c.get("custom") or {}).items())) for c in sync.hm_contacts())
    sf = {obj: sorted(_row(r.get("Phone"), r.get("FirstName"), r.get("LastName"), r.get("Email"),
                           r.get("Customer_Tier__c"), r.get("Preferred_Language__c"), r.get("Company"))
                      for r in sync.sf_records(obj)) for obj in ("Contact", "Lead")}
    links = store.load_links()
    link_rows = sorted(_row(o, p, s) for o, p, s in zip(links["object"], links["phone"], links["status"],
                                                        strict=True))
    return {"heymarket": hm, "salesforce": sf, "links": link_rows}


def assert_converged(kill: KillHarness) -> None:
    """No duplicate, nothing missing: the dumps and the link table equal an uninterrupted sync's."""
    sync = kill.sync
    contacts = sync.hm_contacts()
    twice = [p for p, n in Counter(c["phone"] for c in contacts).items() if n > 1]
    assert not twice, f"{len(twice)} phones have two Heymarket contacts"
    for obj in ("Contact", "Lead"):
        created = [r["Phone"] for r in sync.sf_records(obj) if r["Id"] not in kill.initial["sf_ids"]]
        twice = [p for p, n in Counter(created).items() if n > 1]
        assert not twice, f"{len(twice)} phones have two auto-created Salesforce {obj}s"
    store = sync.store()
    state = end_state(sync, store)
    golden = kill.initial["golden"]
    assert len(state["heymarket"]) == len(golden["heymarket"]), "Heymarket contact count differs"
    assert state["heymarket"] == golden["heymarket"]
    assert state["salesforce"] == golden["salesforce"]
    assert state["links"] == golden["links"]
    # Every active link points at records that exist on both sides.
    links = store.load_links()
    active = links[links["status"] == "active"]
    hm_ids = {int(c["id"]) for c in contacts}
    sf_ids = {obj: {r["Id"] for r in sync.sf_records(obj)} for obj in ("Contact", "Lead")}
    assert {int(h) for h in active["hm_id"]} <= hm_ids, "a link points at a missing Heymarket contact"
    for obj, sf_id in zip(active["object"], active["sf_id"], strict=True):
        assert sf_id in sf_ids[obj], f"a link points at a missing Salesforce {obj}"


def assert_next_run_writes_nothing(kill: KillHarness) -> None:
    sync = kill.sync
    sync.hm.reset_stats()
    sync.sf.reset_stats()
    dag_run = sync.run()
    assert str(dag_run.state) == "success", sync.result(dag_run)
    counts = sync.result(dag_run, "plan")["counts"]
    planned = {a: sum(kinds.get(a, 0) for kinds in counts.values()) for a in WRITE_ACTIONS}
    assert not any(planned.values()), planned
    hm_calls = sync.hm.stats()["by_endpoint"]
    assert not {k: v for k, v in hm_calls.items() if k.startswith(HM_WRITES)}, hm_calls
    sf_calls = sync.sf.stats()["by_endpoint"]
    assert not {k: v for k, v in sf_calls.items() if k.startswith(("POST", "PATCH", "DELETE"))
                and "composite/sobjects" in k}, sf_calls


def mark_run_failed(run_id: str) -> None:
    """What the UI's / REST API's "mark failed" does (and the scheduler, to a lost task with no retries)."""
    from airflow.api.common.mark_tasks import set_dag_run_state_to_failed
    from airflow.models.serialized_dag import SerializedDagModel

    set_dag_run_state_to_failed(dag=SerializedDagModel.get_dag(DAG_ID), run_id=run_id, commit=True)


def history(kill: KillHarness, run_id: str) -> dict[str, object]:
    row = kill.sync.store().get_run(run_id)
    assert row is not None, f"no history row for {run_id}"
    return row


# ---------------------------------------------------------------------------------------------- kill tests


@dataclass(frozen=True)
class KillPoint:
    """Where a run dies: by its own SIGKILL after a write call (``die_after``) or ours on a log line."""

    name: str
    die_after: str | None = None
    log_line: str | None = None
    hm_latency_ms: int = 0
    sf_latency_ms: int = 0


KILL_POINTS = [
    # The 2nd Heymarket answer arrives, its links are never recorded.
    KillPoint("heymarket_batch_unrecorded", die_after="heymarket:2"),
    # From outside, while the 4th batch is on the wire (each call takes 300 ms).
    KillPoint("heymarket_midway", log_line=r"Heymarket creates/updates: 15/", hm_latency_ms=300),
    # apply_heymarket done, apply_salesforce starting (its Salesforce calls take 1 s: none gets through).
    KillPoint("between_applies", log_line=r"starting task_id=apply_salesforce", sf_latency_ms=1000),
    # The 1st batch of auto-created Salesforce Contacts exists, its links never recorded.
    KillPoint("salesforce_batch_unrecorded", die_after="salesforce:1"),
    # From outside, while the 3rd Salesforce create batch is on the wire.
    KillPoint("salesforce_midway", log_line=r"Salesforce Contact creates: 8/", sf_latency_ms=300),
]


def kill_run(kill: KillHarness, point: KillPoint) -> str:
    """Start a full sync in a child, SIGKILL it at ``point``; returns the killed run's id."""
    if point.hm_latency_ms:
        kill.sync.hm.faults(latency_ms=point.hm_latency_ms)
    if point.sf_latency_ms:
        kill.sync.sf.faults(latency_ms=point.sf_latency_ms)
    child = kill.start(point.name, die_after=point.die_after)
    if point.log_line:
        child.wait_for(point.log_line)
        child.signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL, f"the child was not killed; see {child.log_path}"
    kill.sync.hm.faults(latency_ms=0)
    kill.sync.sf.faults(latency_ms=0)
    run_id = kill.lock_holder()
    assert run_id is not None, "the killed run should have left its lock behind"
    assert history(kill, run_id)["status"] == "running"
    return run_id


def assert_killed_where_intended(kill: KillHarness, point: KillPoint) -> None:
    """The kill landed where the test says: so each test really covers its crash point."""
    hm_recorded, sf_recorded = kill.recorded_creates()
    hm_made, sf_made = kill.hm_created(), kill.sf_created()
    if point.name == "heymarket_batch_unrecorded":
        # Two calls are on the wire at once and batch k is committed while k+1's call is out: when the 2nd
        # answer kills the process, batch 3 may already be sent too; never more than two batches unrecorded.
        assert hm_made in (2 * HM_BATCH, 3 * HM_BATCH), (hm_made, hm_recorded)
        assert hm_recorded < hm_made <= hm_recorded + 2 * HM_BATCH, (hm_made, hm_recorded)
    elif point.name == "heymarket_midway":
        # killed part-way: some batches recorded, at most two written but not recorded, not all 29 written
        assert 2 * HM_BATCH <= hm_recorded <= hm_made <= hm_recorded + 2 * HM_BATCH, (hm_made, hm_recorded)
        assert hm_made < 29, (hm_made, hm_recorded)
        assert sf_made == 0
    elif point.name == "between_applies":
        assert hm_made == hm_recorded == 29 and sf_made == 0, (hm_made, hm_recorded, sf_made)
    elif point.name == "salesforce_batch_unrecorded":
        assert hm_made == hm_recorded == 29
        assert (sf_made, sf_recorded) == (SF_BATCH, 0), "batch 1 created in Salesforce, not recorded"
    elif point.name == "salesforce_midway":
        assert 2 * SF_BATCH <= sf_recorded <= sf_made <= sf_recorded + SF_BATCH, (sf_made, sf_recorded)
        assert sf_made < len(kill.initial["golden"]["salesforce"]["Contact"]) - kill.initial["Contact"]


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.name for p in KILL_POINTS])
def test_killed_run_is_finished_by_the_next_run(kill: KillHarness, point: KillPoint) -> None:
    started = time.monotonic()
    killed = kill_run(kill, point)
    assert_killed_where_intended(kill, point)
    killed_at = time.monotonic()

    if point.name == "heymarket_batch_unrecorded":
        # While Airflow still shows the killed run as running (its worker not yet declared lost), a new run
        # must not write next to it: its preflight refuses the lock.
        refused = kill.sync.run()
        assert str(refused.get_task_instance("preflight").state) == "failed"
        assert kill.lock_holder() == killed

    mark_run_failed(killed)
    resumed = kill.sync.run()
    assert str(resumed.state) == "success", kill.sync.result(resumed)
    assert kill.sync.result(resumed)["status"] == "success"
    resumed_at = time.monotonic()

    row = history(kill, killed)
    assert row["status"] == "failed" and "took over its sync lock" in str(row["error_summary"])
    assert kill.lock_holder() is None
    assert_converged(kill)
    assert_next_run_writes_nothing(kill)
    print(f"\n[{point.name}] killed after {killed_at - started:.1f} s, resumed in {resumed_at - killed_at:.1f} s, "
          f"verified in {time.monotonic() - resumed_at:.1f} s")


# ---------------------------------------------------------------------------------------------- cancel


def test_cancel_stops_between_batches_and_the_next_run_resumes(kill: KillHarness) -> None:
    """Airflow's cancel, step by step: run marked failed, SIGTERM to the task, SIGKILL 5 s later."""
    kill.sync.hm.faults(latency_ms=500)  # ~3 s of creates left when the cancel comes
    child = kill.start("cancel")
    child.wait_for(r"Heymarket creates/updates: 10/")
    run_id = kill.lock_holder()
    assert run_id is not None
    mark_run_failed(run_id)  # the UI's "mark failed"
    child.signal(signal.SIGTERM)  # what the supervisor sends when its next heartbeat hears the run is over
    released_in = child.wait_until(lambda: kill.lock_holder() is None, timeout=SIGKILL_AFTER)
    try:
        child.wait_until(lambda: child.exit_code_now() is not None, timeout=SIGKILL_AFTER - released_in)
    except AssertionError:
        child.signal(signal.SIGKILL)  # the supervisor's escalation; the task had 5 s
    child.wait()
    kill.sync.hm.faults(latency_ms=0)

    log = child.log_text()
    assert "stop requested; finishing the current batch" in log  # on_kill ran on SIGTERM
    assert "Stopping before the next batch" in log  # ... and the applier stopped between batches
    row = history(kill, run_id)
    assert row["status"] == "cancelled", row
    hm_made, hm_recorded = kill.hm_created(), kill.recorded_creates()[0]
    assert hm_made == hm_recorded, "every batch written before the stop is checkpointed"
    assert 2 * HM_BATCH <= hm_made < 29, "stopped mid-way"
    assert kill.sf_created() == 0, "nothing after the cancelled task ran"

    resumed = kill.sync.run()
    assert str(resumed.state) == "success", kill.sync.result(resumed)
    assert_converged(kill)
    print(f"\n[cancel] lock released {released_in:.2f} s after SIGTERM, {hm_made} of 29 creates done")


# ---------------------------------------------------------------------------------------------- retry


def run_task_again(dag, run_id: str, task_id: str) -> str:  # noqa: ANN001
    """What the scheduler and a worker do for a retry: the task's next try, run here as ``dag.test`` runs it."""
    from airflow import settings
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    def load(session):  # noqa: ANN001, ANN202
        return session.scalar(select(TaskInstance).where(
            TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id))

    session = settings.Session()
    ti = load(session)
    ti.try_number += 1
    ti.state = TaskInstanceState.SCHEDULED
    session.commit()
    _run_task(ti=ti, task=dag.task_dict[task_id])
    session.close()
    with settings.Session() as fresh:
        return str(load(fresh).state)


RETRIES = {
    "heymarket": ("heymarket:2", ("apply_heymarket", "apply_salesforce", "record_run")),
    "salesforce": ("salesforce:1", ("apply_salesforce", "record_run")),
}


@pytest.mark.parametrize("killed_in", list(RETRIES))
def test_retry_of_a_killed_apply_finishes_the_same_run(kill: KillHarness, killed_in: str) -> None:
    """A lost worker's task is retried in the same run, with the same plan: nothing may be created twice."""
    die_after, tasks = RETRIES[killed_in]
    child = kill.start(f"retry_{killed_in}", die_after=die_after)
    assert child.wait() == -signal.SIGKILL
    run_id = kill.lock_holder()
    assert run_id is not None
    hm_made, hm_recorded = kill.hm_created(), kill.recorded_creates()[0]
    sf_made, sf_recorded = kill.sf_created(), kill.recorded_creates()[1]
    assert (hm_made > hm_recorded) if killed_in == "heymarket" else (sf_made > sf_recorded == 0)

    for task_id in tasks:
        assert run_task_again(kill.sync.dag, run_id, task_id) == "success", task_id
    assert history(kill, run_id)["status"] == "success"
    assert kill.lock_holder() is None
    assert_converged(kill)
    assert_next_run_writes_nothing(kill)


def test_lock_of_a_run_airflow_does_not_know_is_kept(kill: KillHarness) -> None:
    """A holder that this Airflow has no record of (another deployment, a purged run) keeps its lease."""
    from sync_engine.state import SYNC_LOCK

    store = kill.sync.store()
    store.migrate()
    assert store.acquire_lock(SYNC_LOCK, "scheduled__elsewhere", ttl_seconds=600)
    refused = kill.sync.run(dry_run=True)
    assert str(refused.get_task_instance("preflight").state) == "failed"
    assert kill.lock_holder() == "scheduled__elsewhere"
    store.break_lock(SYNC_LOCK)  # the documented manual fix; then the same run goes through
    allowed = kill.sync.run(dry_run=True)
    assert str(allowed.get_task_instance("preflight").state) == "success"
    assert kill.lock_holder() is None
