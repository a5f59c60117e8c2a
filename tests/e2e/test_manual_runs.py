"""Runs by hand (``dag.test()``, the path ``make sync`` takes) against both emulators: params refused before
anything is read or written, record ids checked one by one, failures that heal or fail at once, a green
``record_run`` for a recorded failure, and the run's note.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from emulators.demo_data import generate
from salesforce_access.ids import normalise_record_id
from tests.e2e.conftest import _point_operators_at

pytestmark = pytest.mark.e2e

DEMO = generate(size=30, seed=9)


def data_of(dump: dict) -> dict:
    """An emulator dump without its bookkeeping (API usage, sessions): only the records."""
    return {k: v for k, v in dump.items() if k not in {"limits", "sessions"}}


def run_note(dag_run) -> str | None:  # noqa: ANN001
    """The Airflow run's note as stored in the metadata DB (the object dag.test() returns is detached)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        stored = session.scalar(select(DagRun).where(DagRun.dag_id == dag_run.dag_id,
                                                     DagRun.run_id == dag_run.run_id))
        return stored.note if stored is not None else None


def state(dag_run, task_id: str) -> str:  # noqa: ANN001
    return str(dag_run.get_task_instance(task_id).state)


def failure(dag_run, task_id: str) -> str:  # noqa: ANN001
    return str(dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id, key="failure") or "")


@pytest.fixture
def loaded(sync):  # noqa: ANN001, ANN201
    sync.sf.load(DEMO.salesforce)
    sync.hm.load(DEMO.heymarket)
    return sync


def test_unknown_param_is_refused_with_a_hint_before_anything_is_read_or_written(loaded) -> None:  # noqa: ANN001
    sync = loaded
    before_sf, before_hm = data_of(sync.sf.dump()), data_of(sync.hm.dump())
    sync.sf.reset_stats()
    sync.hm.reset_stats()

    dag_run = sync.dag.test(run_conf={"dryrun": True})

    assert str(dag_run.state) == "failed"
    assert state(dag_run, "preflight") == "failed"
    assert "unknown param 'dryrun'; did you mean 'dry_run'?" in failure(dag_run, "preflight")
    # record_run (the teardown) is green: it looked, found the refusal, and recorded nothing
    assert state(dag_run, "record_run") == "success"
    result = sync.result(dag_run)
    assert result["status"] == "refused"
    assert result["summary"].endswith("did you mean 'dry_run'?; the sync takes only: mode, objects, record_ids, "
                                      "dry_run, allow_mass_delete (e.g. {\"dry_run\": true, \"objects\": "
                                      "[\"Contact\"], \"mode\": \"full\"})")  # what `make sync` prints
    # nothing read, nothing written: no API call at all, no state database, no run folder
    assert sync.sf.stats()["total"] == 0 and sync.hm.stats()["total"] == 0
    assert data_of(sync.sf.dump()) == before_sf and data_of(sync.hm.dump()) == before_hm
    assert not Path(sync.state_url.removeprefix("sqlite:///")).exists()
    assert not (sync.config_path.parent / "runs").exists()
    note = run_note(dag_run)
    assert note is not None and note.startswith("Why: The run's params were refused"), note
    assert "did you mean 'dry_run'?" in note


def test_a_wrong_type_is_refused_when_the_run_is_created(loaded) -> None:  # noqa: ANN001
    from airflow.sdk.exceptions import ParamValidationError

    sync = loaded
    sync.sf.reset_stats()
    sync.hm.reset_stats()
    with pytest.raises(ParamValidationError, match="dry_run"):
        sync.dag.test(run_conf={"dry_run": "yes"})
    assert sync.sf.stats()["total"] == 0 and sync.hm.stats()["total"] == 0


def test_record_ids_a_bad_one_and_an_unknown_one_are_reported_while_the_good_one_syncs(loaded) -> None:  # noqa: ANN001
    sync = loaded
    first = sync.run(mode="full")
    assert str(first.state) == "success", sync.result(first)
    linked = sync.store().load_links()
    good = str(linked[(linked["object"] == "Contact") & (linked["status"] == "active")]["sf_id"].iloc[0])
    hm_id = int(linked[linked["sf_id"] == good]["hm_id"].iloc[0])
    sync.salesforce_api().Contact.update(good, {"FirstName": "Renamed"})
    wrong_checksum = good[:15] + "AA9"  # the shape of an id, a suffix no id can have
    unknown = "0035g00000ZzZzZ"  # a well-formed Contact id that no record has
    account = "0015g00000AbCdEAAV"  # an Account id

    single = sync.run(record_ids=[good.lower(), wrong_checksum, unknown, account])

    assert str(single.state) == "success", sync.result(single)
    assert state(single, "record_run") == "success"
    assert next(c for c in sync.hm_contacts() if int(c["id"]) == hm_id)["first"] == "Renamed"
    row = sync.history(single)
    assert row["status"] == "partial"
    why = str(row["error_summary"])
    assert why.startswith("3 of the requested record ids not synced (the others were): "), why
    assert f"'{wrong_checksum}' is not a valid 18-character id" in why
    assert f"'{normalise_record_id(unknown)}' was not found in Salesforce" in why
    assert f"'{account}' is not a Contact or Lead id" in why
    assert good not in why and good.lower() not in why
    assert run_note(single) == f"Why: {why}"


def test_only_bad_record_ids_fail_at_once_with_a_plain_message(loaded) -> None:  # noqa: ANN001
    sync = loaded
    sync.dag.task_dict["preflight"].retries = 1  # would retry if the failure were treated as passing
    dag_run = sync.run(record_ids=["003 not an id!"])
    assert str(dag_run.state) == "failed"
    assert dag_run.get_task_instance("preflight").try_number == 1
    message = failure(dag_run, "preflight")
    assert message.startswith("None of the record ids can be synced, so nothing was read or written: ")
    assert "e.g. 0035g00000AbCdEAAV" in message and "Bad Request" not in message


def test_a_failed_run_ends_failed_with_a_green_record_run_and_its_why_as_the_note(sync, monkeypatch) -> None:  # noqa: ANN001
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_HEYMARKET_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_HEYMARKET_DEFAULT", json.dumps({**conn, "password": "hm-wrong-key-0000"}))
    sync.dag.task_dict["preflight"].retries = 1  # bad credentials must not be retried

    dag_run = sync.run()

    assert str(dag_run.state) == "failed"
    assert state(dag_run, "preflight") == "failed"
    assert dag_run.get_task_instance("preflight").try_number == 1
    assert state(dag_run, "record_run") == "success"
    row = sync.history(dag_run)
    assert row["status"] == "failed"
    assert str(row["error_summary"]).startswith("preflight failed: Preflight failed: - Heymarket connection "
                                                "'heymarket_default': ")
    # the same text (Airflow's secrets masker may blank out parts of the copy that travelled through XCom)
    note = str(run_note(dag_run))
    assert note.startswith("Why: preflight failed: Preflight failed: - Heymarket connection 'heymarket_default': ")
    assert note.endswith("not run because of it: apply_heymarket, apply_salesforce, extract_heymarket, "
                         "extract_salesforce_contact, extract_salesforce_lead, plan, validate"), note


def test_a_briefly_unreachable_connection_goes_through_the_dags_retries(loaded) -> None:  # noqa: ANN001
    sync = loaded
    preflight = sync.dag.task_dict["preflight"]
    preflight.retries = 1
    preflight.retry_delay = dt.timedelta(seconds=1)
    # Heymarket answers 503 to the inbox list until the hook's own retries are used up (6 tries)
    sync.hm.faults(fail_next=[503] * 6, path_prefixes=["/v1/inboxes"])

    dag_run = sync.run(dry_run=True)

    assert str(dag_run.state) == "success", sync.result(dag_run)
    assert dag_run.get_task_instance("preflight").try_number == 2
    assert sync.hm.stats()["injected_failures"] == {"503": 6}
    assert sync.history(dag_run)["status"] == "dry_run"


def test_a_default_inbox_that_does_not_exist_fails_at_once_naming_it(loaded) -> None:  # noqa: ANN001
    sync = loaded
    sync.write_config(lambda c: c.update({"default_inbox": "Marketing"}))
    sync.dag.task_dict["preflight"].retries = 1

    dag_run = sync.run(dry_run=True)

    assert str(dag_run.state) == "failed"
    assert dag_run.get_task_instance("preflight").try_number == 1
    message = failure(dag_run, "preflight")
    assert "default_inbox 'Marketing'" in message
    assert "Sales (id 9001), Support (id 9002)" in message and "heymarket_setup" in message

    sync.write_config(lambda c: c.update({"default_inbox": "9002"}))
    assert str(sync.run(dry_run=True).state) == "success"


@pytest.fixture
def manual(sync, dagbag):  # noqa: ANN001, ANN201
    """``heymarket_sync_manual`` aimed at the test's config, like the harness aims ``heymarket_sync``."""
    dag = dagbag.dags["heymarket_sync_manual"]
    _point_operators_at(dag, sync.config_path)
    return dag


def test_the_manual_dag_shares_the_sync_lock_and_the_history(loaded, manual) -> None:  # noqa: ANN001
    from sync_engine.state import SYNC_LOCK

    sync = loaded
    conf = {"mode": "full", "objects": ["Contact"], "record_ids": [], "dry_run": True, "allow_mass_delete": False}
    before_sf, before_hm = data_of(sync.sf.dump()), data_of(sync.hm.dump())
    dry = manual.test(run_conf=conf)
    assert str(dry.state) == "success"
    assert data_of(sync.sf.dump()) == before_sf and data_of(sync.hm.dump()) == before_hm
    row = sync.history(dry)
    assert (row["dag_id"], row["status"], row["objects"]) == ("heymarket_sync_manual", "dry_run", ["Contact"])

    # a run of the other DAG holds the lock (Airflow does not know it here): the manual run waits for it
    # through its retries instead of failing at once
    store = sync.store()
    store.acquire_lock(SYNC_LOCK, "scheduled__2026-12-07T10:00:00+00:00", 900)
    preflight = manual.task_dict["preflight"]
    preflight.retries = 1
    preflight.retry_delay = dt.timedelta(seconds=1)
    try:
        blocked = manual.test(run_conf=conf)
    finally:
        store.break_lock(SYNC_LOCK)
    assert str(blocked.state) == "failed"
    assert blocked.get_task_instance("preflight").try_number == 2
    assert "is held by run 'scheduled__2026-12-07T10:00:00+00:00'" in failure(blocked, "preflight")
    assert "retried" in failure(blocked, "preflight")
