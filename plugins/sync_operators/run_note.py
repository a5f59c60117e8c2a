"""The run's "Why" on the Airflow run itself: a listener copies ``record_run``'s note onto the DagRun's note.

Why a listener and not the task: in Airflow 3.3 a task cannot set its run's note. The Task SDK reads the
note (``DagRun.note``) but has no call to change it; the Execution API that tasks talk to takes a note only
when it *creates* a run (``POST /execution/dag-runs/{dag_id}/{run_id}``, used by TriggerDagRunOperator) and
has no route that updates one; the public REST API (``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}``,
``update_mask=note``) needs a user's token, which a task does not have (its token is for the Execution API
only) and which we would have to store as a secret. A listener (``on_dag_run_success`` / ``..._failed``, a
documented plugin interface) runs where Airflow decides the run's state, with the metadata DB session that
holds the run: in the scheduler, and in the process running ``dag.test()``.

``record_run`` leaves the Why text in XCom (key ``run_note``); when the run ends, the listener reads it in the
same session and sets ``dag_run.note``. A note someone already wrote on the run is kept, and the Why is added
below it. Runs of other DAGs are not touched.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow.listeners import hookimpl

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun

log = logging.getLogger(__name__)

#: The DAGs whose runs get the note (both are built by ``dags/heymarket_sync.py``).
SYNC_DAG_IDS = frozenset({"heymarket_sync", "heymarket_sync_manual"})
#: ``dag_run_note.content`` holds at most 1000 characters.
NOTE_CHARS = 1000
PREFIX = "Why: "


@hookimpl
def on_dag_run_success(dag_run: DagRun, msg: str) -> None:
    copy_note(dag_run)


@hookimpl
def on_dag_run_failed(dag_run: DagRun, msg: str) -> None:
    copy_note(dag_run)


def merged_note(existing: str | None, why: str) -> str:
    """The note to store: *why* (prefixed ``Why: ``) under what a person already wrote, at most 1000 chars."""
    text = PREFIX + " ".join(str(why).split())
    if existing and existing.strip():
        if text in existing:
            return existing
        text = f"{existing.rstrip()}\n\n{text}"
    return text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 1] + "…"


def copy_note(dag_run: DagRun) -> None:
    """Set the run's note from ``record_run``'s ``run_note`` XCom, in the session that holds the run.

    In the scheduler the run belongs to the scheduler's session, which commits the note with the run's new
    state. Under ``dag.test()`` the run object has been detached (the in-process Execution API closes the
    thread's session); the thread's session (``settings.Session()``, the one ``dag.test()`` commits right
    after) is used instead. On PostgreSQL a savepoint keeps a failure here (logged) from spoiling the caller's
    transaction.
    """
    if dag_run.dag_id not in SYNC_DAG_IDS:
        return
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from sqlalchemy.orm import object_session

    from sync_operators.record import NOTE_XCOM_KEY

    try:
        session = object_session(dag_run)
        target: DagRun | None = dag_run
        if session is None:
            from airflow import settings

            if settings.Session is None:
                raise RuntimeError("Airflow's database session is not configured")
            session = settings.Session()
            target = session.get(DagRun, dag_run.id)
        if target is None:
            return
        # No savepoint and no commit: the scheduler forbids commits inside its loop ("UNEXPECTED COMMIT -
        # THIS WILL BREAK HA LOCKS!"); the note is written with the run's new state when the caller commits.
        query = XComModel.get_many(run_id=dag_run.run_id, key=NOTE_XCOM_KEY, task_ids="record_run",
                                   dag_ids=dag_run.dag_id, limit=1)
        row = session.scalars(query).first()
        why = XComModel.deserialize_value(row) if row is not None else None
        if why:
            target.note = merged_note(target.note, str(why))
    except Exception:  # noqa: BLE001 - a note must never break the scheduler's loop
        log.exception("Run %s: could not set its note", dag_run.run_id)
