"""Manual runs on the production-shaped stack (api-server, scheduler, dag-processor, triggerer, Celery worker),
triggered through the REST API the way an admin script or the Salesforce "Heymarket Sync" button would.

With ``heymarket_sync`` paused (production off):

1. a dry run of ``heymarket_sync_manual`` completes, writes nothing to either system, and leaves
   ``heymarket_sync`` paused with no run of its own;
2. ``{"dryrun": true}`` (a typo of ``dry_run``) is accepted by Airflow's API, as it accepts any unknown key,
   and refused by preflight before anything is read or written: the run ends failed, ``record_run`` (the
   teardown) is green, and the run's note carries the "did you mean" hint, set by the scheduler;
3. a value of the wrong type is refused by the API itself (HTTP 400 naming the param); no run is created.
"""

from __future__ import annotations

import pytest

from tests.deploy.stack import AirflowStack, RunOutcome, airflow_stack, wait_for  # noqa: F401 - fixture

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SCHEDULED = "heymarket_sync"
MANUAL = "heymarket_sync_manual"
RUN_TIMEOUT = 180.0


def data_of(dump: dict) -> dict:
    """An emulator dump without its bookkeeping (API usage, sessions): only the records."""
    return {k: v for k, v in dump.items() if k not in {"limits", "sessions"}}


def dumps(stack: AirflowStack) -> tuple[dict, dict]:
    return data_of(stack.sf_admin().dump()), data_of(stack.hm_admin().dump())


def run_ids(stack: AirflowStack, dag_id: str) -> set[str]:
    return {str(r["dag_run_id"]) for r in stack.dag_runs(dag_id)}


@pytest.fixture(scope="module")
def stack(airflow_stack: AirflowStack) -> AirflowStack:  # noqa: F811 - the imported fixture
    return airflow_stack


@pytest.fixture(scope="module")
def prepared(stack: AirflowStack) -> dict[str, object]:
    """Both DAGs parsed, production paused, demo data in both emulators."""
    dags = {dag_id: stack.wait_dag(dag_id) for dag_id in (SCHEDULED, MANUAL)}
    if not dags[SCHEDULED]["is_paused"]:  # another module of this session switched it on: off again
        stack.set_paused(SCHEDULED, True)
    wait_for(lambda: not [r for r in stack.dag_runs(SCHEDULED) if r["state"] in ("queued", "running")], 240,
             "no heymarket_sync run going on", interval=2.0)
    stack.load_demo(size=50, seed=21)
    return {"dags": dags, "scheduled_runs": run_ids(stack, SCHEDULED)}


@pytest.fixture(scope="module")
def dry_run(stack: AirflowStack, prepared: dict[str, object]) -> tuple[RunOutcome, tuple[dict, dict], tuple[dict, dict]]:
    before = dumps(stack)
    outcome = stack.run_outcome(MANUAL, stack.trigger(MANUAL, {"dry_run": True, "mode": "full"}), RUN_TIMEOUT)
    return outcome, before, dumps(stack)


def test_the_manual_dag_is_created_unpaused_and_the_scheduled_one_paused(prepared: dict[str, object]) -> None:
    dags = prepared["dags"]
    assert dags[MANUAL]["is_paused"] is False, "a REST-triggered run of a paused DAG would wait forever"
    assert dags[MANUAL]["timetable_summary"] in (None, "None")


def test_a_dry_run_of_the_manual_dag_completes_writes_nothing_and_leaves_production_paused(
    stack: AirflowStack, prepared: dict[str, object], dry_run: tuple[RunOutcome, tuple, tuple],
) -> None:
    outcome, before, after = dry_run
    assert outcome.state == "success", str(outcome)
    assert after == before, "a dry run wrote to Salesforce or Heymarket"
    assert stack.api_json("GET", f"/api/v2/dags/{SCHEDULED}")["is_paused"] is True
    assert run_ids(stack, SCHEDULED) == prepared["scheduled_runs"], "the dry run started a heymarket_sync run"
    states = stack.task_states(MANUAL, outcome.run_id)
    assert set(states.values()) == {"success"}, states
    # the run really planned the data (so "wrote nothing" means something)
    record = stack.task_log(MANUAL, outcome.run_id, "record_run")
    assert ": DRY_RUN" in record and "would create" in record, record[-3000:]


def test_an_unknown_param_is_refused_with_a_hint_and_writes_nothing(
    stack: AirflowStack, prepared: dict[str, object], dry_run: tuple[RunOutcome, tuple, tuple],
) -> None:
    before = dumps(stack)
    sf, hm = stack.sf_admin(), stack.hm_admin()
    sf.reset_stats()
    hm.reset_stats()

    run_id = stack.trigger(MANUAL, {"dryrun": True})  # Airflow accepts unknown keys: the run is created
    state = stack.wait_run(MANUAL, run_id, RUN_TIMEOUT)

    assert state == "failed"
    states = stack.task_states(MANUAL, run_id)
    assert states["preflight"] == "failed", states
    assert states["record_run"] == "success", states  # the teardown recorded the refusal; the run stays failed
    log = stack.task_log(MANUAL, run_id, "preflight")
    assert "unknown param 'dryrun'; did you mean 'dry_run'?" in log, log[-3000:]
    assert dumps(stack) == before
    assert sf.stats()["total"] == 0 and hm.stats()["total"] == 0, "preflight read before refusing the params"
    note = wait_for(lambda: stack.api_json("GET", f"/api/v2/dags/{MANUAL}/dagRuns/{run_id}").get("note"), 30,
                    "the run's note", interval=1.0)
    assert str(note).startswith("Why: The run's params were refused") and "did you mean 'dry_run'?" in str(note)
    assert stack.api_json("GET", f"/api/v2/dags/{SCHEDULED}")["is_paused"] is True


def test_a_wrong_type_is_refused_by_the_api_and_no_run_is_created(
    stack: AirflowStack, prepared: dict[str, object],
) -> None:
    before = run_ids(stack, MANUAL)
    resp = stack.api("POST", f"/api/v2/dags/{MANUAL}/dagRuns",
                     json={"logical_date": None, "conf": {"dry_run": "yes"}})
    assert resp.status_code == 400, resp.text[:1000]
    assert "dry_run" in resp.text
    assert run_ids(stack, MANUAL) == before
