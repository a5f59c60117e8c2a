"""Both sync DAGs: one wiring, the same params and pools; the scheduled one starts paused, the manual one never
strands a run; the trigger form marks nothing required; the pools exist in the deployment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SYNC_DAGS = ("heymarket_sync", "heymarket_sync_manual")
API_TASKS = {
    "extract_salesforce_contact": "salesforce_api",
    "extract_salesforce_lead": "salesforce_api",
    "apply_salesforce": "salesforce_api",
    "extract_heymarket": "heymarket_api",
    "apply_heymarket": "heymarket_api",
}


@pytest.fixture(scope="module")
def dags():  # noqa: ANN201
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return {dag_id: bag.dags[dag_id] for dag_id in SYNC_DAGS}


def shape(dag) -> dict[str, tuple[str, list[str], str, str, int, bool]]:  # noqa: ANN001
    """Per task: operator class, upstream ids, trigger rule, pool, retries, teardown."""
    return {t.task_id: (type(t).__name__, sorted(t.upstream_task_ids), str(t.trigger_rule), t.pool, t.retries,
                        t.is_teardown) for t in dag.tasks}


def test_both_dags_have_the_same_tasks_operators_wiring_retries_and_pools(dags) -> None:  # noqa: ANN001
    scheduled, manual = dags["heymarket_sync"], dags["heymarket_sync_manual"]
    assert shape(scheduled) == shape(manual)
    assert len(scheduled.tasks) == 10
    assert scheduled.default_args == manual.default_args
    assert scheduled.max_active_runs == manual.max_active_runs == 1
    assert scheduled.fileloc == manual.fileloc  # one file, one wiring function
    for dag in dags.values():
        assert set(dag.tags) == {"heymarket", "salesforce", "sync"}


def test_both_dags_take_the_same_params(dags) -> None:  # noqa: ANN001
    from sync_operators.params import PARAM_NAMES

    scheduled, manual = dags["heymarket_sync"], dags["heymarket_sync_manual"]
    assert tuple(scheduled.params) == tuple(manual.params) == PARAM_NAMES
    for name in PARAM_NAMES:
        assert scheduled.params.get_param(name).schema == manual.params.get_param(name).schema
        assert scheduled.params[name] == manual.params[name]


def test_schedules_and_paused_at_creation(dags) -> None:  # noqa: ANN001
    from airflow.sdk import AssetOrTimeSchedule

    scheduled, manual = dags["heymarket_sync"], dags["heymarket_sync_manual"]
    # the cron (periodic run, daily full comparison) or a change seen by either watcher
    assert isinstance(scheduled.timetable, AssetOrTimeSchedule)
    assert scheduled.timetable.timetable.expression == "*/30 * * * *"
    assets = {asset.name: asset for asset in scheduled.timetable.asset_condition.objects}
    assert set(assets) == {"heymarket_sync/salesforce_changes", "heymarket_sync/heymarket_changes"}
    triggers = {type(w.trigger).__name__: w.trigger for a in assets.values() for w in a.watchers}
    assert set(triggers) == {"SalesforceChangeWatcher", "HeymarketChangeWatcher"}
    for trigger in triggers.values():  # stable identity: only the poll interval in the kwargs
        assert trigger.serialize()[1] == {"poll_seconds": 30.0}
    assert scheduled.max_active_runs == 1  # a burst of edits during a run: one follow-up run
    # switching production on is a person's decision, whatever the deployment's default
    assert scheduled.is_paused_upon_creation is True
    # nothing to schedule; paused, a run triggered through the REST API would wait in "queued" forever
    assert manual.timetable.can_be_scheduled is False
    assert manual.is_paused_upon_creation is False


def test_every_param_is_optional_in_the_trigger_form(dags) -> None:  # noqa: ANN001
    """The 3.3 form marks a typed field required unless its type allows null (empty field = default)."""
    for dag in dags.values():
        for name, param in dag.params.items():
            types = param.schema.get("type")
            assert isinstance(types, list) and "null" in types, f"{dag.dag_id}.{name} would be required"
            param.resolve(None)  # an emptied field is valid


def test_objects_is_a_multi_select_and_record_ids_a_plain_list(dags) -> None:  # noqa: ANN001
    params = dags["heymarket_sync_manual"].params
    objects = params.get_param("objects").schema
    # the form shows a multi-select for type array with examples (an items enum alone gives a text list)
    assert "array" in objects["type"] and objects["examples"] == ["Contact", "Lead"]
    record_ids = params.get_param("record_ids").schema
    assert record_ids["items"] == {"type": "string"}, "a pattern would reach a UI user only as 'Bad Request'"
    assert "e.g. 0035g00000AbCdEAAV" in params.get_param("record_ids").description
    mode = params.get_param("mode").schema
    assert mode["enum"] == ["incremental", "full", None] and None in mode["values_display"]


def test_api_bound_tasks_use_the_pools_the_deployment_creates(dags) -> None:  # noqa: ANN001
    for dag in dags.values():
        pools = {t.task_id: t.pool for t in dag.tasks}
        for task_id, pool in API_TASKS.items():
            assert pools[task_id] == pool, (dag.dag_id, task_id, pools[task_id])
        assert {pools[t] for t in pools if t not in API_TASKS} == {"default_pool"}
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    init = "\n".join(compose["services"]["airflow-init"]["command"])
    created = dict(re.findall(r"airflow pools set (\w+) (\d+) ", init))
    assert set(API_TASKS.values()) <= set(created), created
    assert int(created["heymarket_api"]) == 1  # one Heymarket writer at a time (500 requests/minute per key)
    assert int(created["salesforce_api"]) >= 1


def test_record_run_runs_whatever_happened_and_the_run_state_comes_from_sync_ok(dags) -> None:  # noqa: ANN001
    """record_run is green when it recorded a failed run; the last task, sync_ok, needs every stage and
    record_run to succeed, so the run still ends failed. No teardown: a run marked failed by a person would
    wait for a pending teardown and then end success (its remaining stages skipped)."""
    for dag in dags.values():
        record_run, sync_ok = dag.get_task("record_run"), dag.get_task("sync_ok")
        assert record_run.trigger_rule == "all_done" and not record_run.is_teardown
        assert not any(t.is_teardown or t.is_setup for t in dag.tasks)
        assert sync_ok.trigger_rule == "all_success"
        assert sync_ok.upstream_task_ids == {"apply_salesforce", "record_run"}
        assert type(sync_ok).__name__ == "EmptyOperator"  # never sent to a worker
        assert dag.leaves == [sync_ok]


def test_both_doc_mds_explain_manual_runs(dags) -> None:  # noqa: ANN001
    scheduled, manual = dags["heymarket_sync"], dags["heymarket_sync_manual"]
    assert "heymarket_sync_manual" in scheduled.doc_md and "unpauses it by default" in scheduled.doc_md
    assert "No schedule" in manual.doc_md and "Keep this DAG unpaused" in manual.doc_md
    for dag in dags.values():
        assert "did you mean" in dag.doc_md and "note" in dag.doc_md


def wired(value: object) -> object:
    """The task ids behind a wired operator argument (an ``XComArg``, or lists and dicts of them)."""
    from airflow.sdk import XComArg

    if isinstance(value, XComArg):
        return value.operator.task_id  # type: ignore[attr-defined]
    if isinstance(value, dict):
        return {k: wired(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wired(v) for v in value]
    return value


def test_task_results_are_wired_explicitly_to_the_tasks_the_code_names(dags) -> None:  # noqa: ANN001
    """Each stage receives the results it reads as ``<task>.output`` (the graph shows the data flow), and every
    task id the code still names (task states, the vocabulary's apply tasks) is a task of the DAG: a rename on
    one side only fails here."""
    from sync_engine.vocabulary import APPLY_TASK_ACTIONS
    from sync_operators.record import APPLY_TASKS, EXTRACT_TASKS, RUN_STATE_TASK

    for dag in dags.values():
        task = dag.get_task
        assert set(EXTRACT_TASKS) | set(APPLY_TASKS) | set(APPLY_TASK_ACTIONS) | {RUN_STATE_TASK} <= set(dag.task_ids)
        assert {"preflight", "plan", "validate", "record_run"} <= set(dag.task_ids)  # names record_run reads
        for t in dag.tasks:
            if hasattr(t, "run") and t.task_id != "preflight":
                assert wired(t.run) == "preflight", t.task_id
                assert t.preflight_task_id == "preflight", t.task_id  # where its other XComs are pulled from
        plan = task("plan")
        assert wired(plan.salesforce_extracts) == ["extract_salesforce_contact", "extract_salesforce_lead"]
        assert wired(plan.heymarket_extract) == "extract_heymarket"
        assert wired(task("validate").plan) == "plan"
        assert wired(task("validate").salesforce_extracts) == ["extract_salesforce_contact", "extract_salesforce_lead"]
        assert wired(task("apply_heymarket").plan) == wired(task("apply_salesforce").plan) == "plan"
        assert wired(task("apply_heymarket").heymarket_extract) == "extract_heymarket"
        # what a cancelled apply writes into the history row comes through the wiring too
        assert wired(task("apply_heymarket").extracts) == wired(task("apply_salesforce").extracts) == {
            t: t for t in EXTRACT_TASKS}
        assert wired(task("apply_heymarket").applied_before) == {}
        assert wired(task("apply_salesforce").applied_before) == {"apply_heymarket": "apply_heymarket"}
        record_run = task("record_run")
        assert wired(record_run.extracts) == {t: t for t in EXTRACT_TASKS}
        assert wired(record_run.applies) == {t: t for t in APPLY_TASKS}
        assert wired(record_run.plan) == "plan"
        # the wiring is the dependency: every stage waits for the tasks whose results it reads
        assert plan.upstream_task_ids == {"preflight", *EXTRACT_TASKS}
        assert record_run.upstream_task_ids == {"preflight", "plan", *EXTRACT_TASKS, *APPLY_TASKS}


def test_record_run_refuses_a_wiring_that_misses_a_task() -> None:
    from sync_operators.record import RecordRunOperator

    with pytest.raises(ValueError, match="must be the outputs of the tasks"):
        RecordRunOperator(task_id="record_run", extracts={"extract_heymarket": {}}, plan={},
                          applies={"apply_heymarket": {}, "apply_salesforce": {}})


def test_the_watchers_can_be_switched_off_and_the_poll_interval_set_by_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Read at parse time from the environment only: no Variable (a database read on every parse)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import AssetOrTimeSchedule
    from sync_watchers.schedule import ScheduleSettingError, poll_seconds, sync_schedule

    monkeypatch.setenv("HEYMARKET_SYNC_WATCHERS", "off")
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    off = bag.dags["heymarket_sync"]
    assert not isinstance(off.timetable, AssetOrTimeSchedule)
    assert off.timetable.expression == "*/30 * * * *"  # the pure cron schedule, as before

    on = sync_schedule("*/30 * * * *", {"HEYMARKET_SYNC_POLL_SECONDS": "60"})
    assert isinstance(on, AssetOrTimeSchedule)
    assert {w.trigger.serialize()[1]["poll_seconds"] for a in on.asset_condition.objects
            for w in a.watchers} == {60.0}
    for bad in ({"HEYMARKET_SYNC_POLL_SECONDS": "2"}, {"HEYMARKET_SYNC_POLL_SECONDS": "soon"}):
        with pytest.raises(ScheduleSettingError):
            poll_seconds(bad)
    with pytest.raises(ScheduleSettingError, match="use on or off"):
        sync_schedule("*/30 * * * *", {"HEYMARKET_SYNC_WATCHERS": "maybe"})
