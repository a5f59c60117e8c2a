"""Record-level outcomes and personal-data hygiene after a real ``heymarket_sync`` run (issue 13).

Planted names, phones and e-mails; a duplicate phone, an invalid phone, a record without one, and two writes
Salesforce rejects with ``STRING_TOO_LONG`` (which quotes the value's first 40 characters). After the run,
``hm_sync_record_outcome`` holds the right action for each record, and no outcome row and no error message
holds a planted phone, e-mail or name (or the echoed prefix of one). Old run folders are gone, a recent one
and the failed run's are kept.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.e2e

OLD = "2026-01-05T10:00:00.000+0000"
OLD_HM = "2026-01-05T10:00:00Z"
LANGUAGE = "2"
FIELDS = [{"id": 1, "title": "Customer Tier"}, {"id": 2, "title": "Preferred Language"}]
# Longer than the 40 characters Salesforce echoes, with a planted name in the echoed part.
LONG_VALUE = "Quenby Thistlewood-Marchbanks speaks Brazilian Portuguese at home"

PLANTED_NAMES = ["Zebulon", "Farnsworth-Quixote", "Ottoline", "Vandersloot", "Peregrine", "Abernethy",
                 "Ignatius", "Cholmondeley", "Philippa", "Umberfield", "Quenby", "Thistlewood-Marchbanks",
                 "Wilhelmina", "Drinkwater"]
PLANTED_EMAILS = ["zebulon.fq@planted.example", "ottoline.v@planted.example", "peregrine.a@planted.example",
                  "ignatius.c@planted.example", "quenby.tm@planted.example"]
PLANTED_PHONES = ["14152310301", "14152310302", "14152310303", "12124140301"]


def stamped(record: dict) -> dict:
    return {"CreatedDate": OLD, "LastModifiedDate": OLD, "SystemModstamp": OLD, **record}


SALESFORCE = {
    # the org's language field holds 10 characters: filling the long value in is rejected
    "FieldDefinition": [{"sobject": "Contact", "name": "Preferred_Language__c", "type": "string",
                         "label": "Preferred Language", "length": 10}],
    "Contact": [
        stamped({"FirstName": "Zebulon", "LastName": "Farnsworth-Quixote", "Email": "zebulon.fq@planted.example",
                 "Phone": "(415) 231-0301"}),  # new: created in Heymarket
        stamped({"FirstName": "Ottoline", "LastName": "Vandersloot", "Email": "ottoline.v@planted.example",
                 "Phone": "+1 415 231 0302"}),  # two records, one phone: a duplicate
        {"FirstName": "Peregrine", "LastName": "Abernethy", "Email": "peregrine.a@planted.example",
         "Phone": "415.231.0302"},
        stamped({"FirstName": "Ignatius", "LastName": "Cholmondeley", "Email": "ignatius.c@planted.example",
                 "Phone": "12"}),  # invalid phone
        stamped({"FirstName": "Philippa", "LastName": "Umberfield"}),  # no phone
        stamped({"FirstName": "Quenby", "LastName": "Thistlewood-Marchbanks", "Email": "quenby.tm@planted.example",
                 "Phone": "+1 415 231 0303"}),  # linked; its language update is rejected
    ],
}
HEYMARKET = {
    "fields": FIELDS,
    "contacts": [
        {"phone": "14152310303", "first": "Quenby", "last": "Thistlewood-Marchbanks",
         "custom": {LANGUAGE: LONG_VALUE}, "updated": OLD_HM, "created": OLD_HM},
        # Heymarket-only: its auto-created Contact is rejected the same way
        {"phone": "12124140301", "first": "Wilhelmina", "last": "Drinkwater", "custom": {LANGUAGE: LONG_VALUE},
         "updated": OLD_HM, "created": OLD_HM},
    ],
}


def _outcomes(sync, run_id: str) -> list[dict]:  # noqa: ANN001
    with sync.store().engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM hm_sync_record_outcome WHERE run_id = :r"),
                                              {"r": run_id}).mappings()]


def _planted_in(texts: list[str]) -> list[str]:
    """Every planted value, or echoed prefix of one, found in *texts* (case-insensitive)."""
    haystack = "\n".join(texts).casefold()
    needles = [*PLANTED_NAMES, *PLANTED_EMAILS, *PLANTED_PHONES, LONG_VALUE[:40], LONG_VALUE[:12],
               "231 0301", "231-0302", "0303"]
    return [n for n in needles if n.casefold() in haystack]


def _old_folder(root: Path, name: str, days: float) -> Path:
    folder = root / "heymarket_sync" / name
    (folder / "plan").mkdir(parents=True)
    (folder / "salesforce.parquet").write_text("stand-in for an old extract")
    stamp = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).timestamp()
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (stamp, stamp))
    return folder


def test_a_run_records_each_records_outcome_and_keeps_no_planted_personal_data(sync, tmp_path: Path) -> None:  # noqa: ANN001
    sync.sf.load(SALESFORCE)
    sync.hm.load(HEYMARKET)
    # earlier runs: a success 20 days ago, then a failure 10 days ago (its files explain it; no run succeeded
    # since), and a recent dry run
    store = sync.store()
    store.migrate()
    now = dt.datetime.now(dt.UTC)
    for run_id, days, status in (("scheduled__old_success", 20, "success"), ("scheduled__old_failed", 10, "failed"),
                                 ("manual__recent", 2, "dry_run")):
        store.start_run(run_id, "heymarket_sync", trigger="scheduled", mode="incremental", objects=["Contact"],
                        started_at=now - dt.timedelta(days=days))
        store.finish_run(run_id, status, {}, ended_at=now - dt.timedelta(days=days))
    runs = tmp_path / "runs"
    old_success = _old_folder(runs, "scheduled__old_success", 20)
    old_failed = _old_folder(runs, "scheduled__old_failed", 10)
    recent = _old_folder(runs, "manual__recent", 2)

    dag_run = sync.run(mode="full")

    assert str(dag_run.state) == "success"
    assert sync.history(dag_run)["status"] == "partial"  # two writes were rejected
    rows = _outcomes(sync, dag_run.run_id)
    by_action: dict[str, list[dict]] = {}
    for row in rows:
        by_action.setdefault(row["action"], []).append(row)
    contacts = {r["LastName"]: r["Id"] for r in sync.sf_records("Contact")}
    hm = sync.hm_by_phone()

    created = {r["sf_id"]: r for r in by_action["created"] if r["direction"] == "to_heymarket"}
    [duplicate] = by_action["duplicate"]
    winner = ({contacts["Vandersloot"], contacts["Abernethy"]} - {duplicate["sf_id"]}).pop()
    assert sorted(created) == sorted([contacts["Farnsworth-Quixote"], winner])  # the duplicate's winner too
    first = created[contacts["Farnsworth-Quixote"]]
    assert (first["hm_id"], first["reason"]) == (hm["14152310301"]["id"], "no_match")
    assert "phone" in first["fields"].split(",") and created[winner]["hm_id"] == hm["14152310302"]["id"]
    assert duplicate["reason"] == "phone_taken" and duplicate["direction"] is None
    [invalid] = by_action["invalid"]
    assert (invalid["sf_id"], invalid["reason"]) == (contacts["Cholmondeley"], "not_possible")
    [no_phone] = by_action["no_phone"]
    assert no_phone["sf_id"] == contacts["Umberfield"]
    failed = {(r["direction"], r["reason"]) for r in by_action["failed"]}
    assert failed == {("to_salesforce", "STRING_TOO_LONG")}
    assert len(by_action["failed"]) == 2  # the update of Quenby and the auto-create for Wilhelmina
    assert {r["hm_id"] for r in by_action["failed"]} == {hm["14152310303"]["id"], hm["12124140301"]["id"]}
    assert any(r["sf_id"] == contacts["Thistlewood-Marchbanks"] for r in by_action["linked"])
    assert not any(r["planned"] for r in rows)
    # one row per record and action, never an unchanged one
    assert len({(r["object"], r["sf_id"], r["hm_id"], r["action"]) for r in rows}) == len(rows)

    # no planted phone, e-mail or name in any outcome row or error message
    errors = store.load_errors()
    assert set(errors["error_code"]) == {"STRING_TOO_LONG"} and len(errors) == 2
    assert all("data value too large" in m for m in errors["message"])  # the message is kept, scrubbed
    with store.engine.connect() as conn:
        every_outcome = [str(v) for r in conn.execute(text("SELECT * FROM hm_sync_record_outcome")) for v in r]
        every_message = [str(m) for m in conn.execute(text("SELECT message FROM hm_sync_record_error")).scalars()]
    assert _planted_in(every_outcome) == []
    assert _planted_in(every_message) == [], every_message
    assert _planted_in([LONG_VALUE]) != []  # the check finds what it looks for

    # run folders: older than 7 days gone, unless its run failed since the last success; recent ones kept
    assert not old_success.exists()
    assert old_failed.exists() and recent.exists()
    assert Path(sync.result(dag_run, "preflight")["run_dir"]).exists()
