"""The task logs of whole ``heymarket_sync`` runs read as sentences a person can act on.

Three real runs (``dag.test()`` against both emulators): a dry run, a normal run, and a run stopped by the
mass-delete guard. Their task logs (every line between ``[DAG TEST] starting task_id=...`` and ``end task``)
must not contain library noise (Great Expectations' registry and metric lines, Alembic's "Context impl"
lines), Python dict or list reprs of results, or the misleading lines operators were confused by: "Resuming"
on a normal run, "batch 1/1" per call, "created 6" for a dry run's writes that did not happen, "deleted 40"
for the deletes a guard refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

import pytest

from emulators.demo_data import generate
from tests.oracle_phones import e164_digits

pytestmark = pytest.mark.e2e

DEMO = generate(size=60, seed=5)

#: Loggers whose lines we write and must be readable (the operators' own logger names contain their module).
OURS = re.compile(r"^(?:airflow\.task\.(?:operators|hooks)\.)?(sync_operators|sync_engine|salesforce_access|"
                  r"heymarket_hook)\b")
#: A structlog console line: ``<timestamp>Z [<level>] <event> [<logger>] key=value ...``.
CONSOLE = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+)Z \[(\w+)\s*\] .*? \[([\w.]+)\](?: |$)")
START = re.compile(r"\[DAG TEST\] starting task_id=(\w+)")
END = re.compile(r"\[DAG TEST\] end task task_id=(\w+)")
LIBRARY_NOISE = [
    re.compile(r"^(great_expectations|alembic)\b"),  # matched against the logger name
    re.compile(r"Context impl \w+Impl"),
    re.compile(r"Will assume (non-)?transactional DDL"),
    re.compile(r"Skipping registering function"),
    re.compile(r"Calculating Metrics"),
    re.compile(r"ephemeral docs site"),
]
DICT_REPR = re.compile(r"\{'[^']*': ")
LIST_REPR = re.compile(r"\['[^']*'(?:, '[^']*')*\]")
DONE_WORDS = re.compile(r"\b(created|updated|deleted|linked|unlinked) \d+")
SUMMARY_ROW = re.compile(r"^(Contact|Lead)\s+(to_heymarket|to_salesforce|state)\s+(.+?)\s+(\d+)$")
WRITTEN = {"created", "updated", "deleted", "linked", "unlinked"}


@dataclass
class TaskLine:
    task: str
    logger: str
    level: str
    text: str

    @property
    def ours(self) -> bool:
        return bool(OURS.match(self.logger))


def task_lines(output: str, records: list[logging.LogRecord]) -> list[TaskLine]:
    """Every line logged while a task ran, attributed to that task.

    Under pytest, Airflow's structlog loggers (the operators' ``self.log``, the task runner) print to stdout,
    while plain ``logging`` loggers (libraries, ``salesforce_access``, the state store, and ``dag.test``'s own
    "[DAG TEST] starting/end task" markers) reach pytest's log capture. Both carry timestamps: merged on them,
    each line falls between its task's start and end markers. A multi-line message keeps its first line's
    timestamp and logger.
    """
    merged: list[tuple[dt.datetime, int, str, str, str]] = []
    stamp, logger, level = None, "", ""
    for order, raw in enumerate(output.splitlines()):
        match = CONSOLE.match(raw)
        if match is not None:
            stamp = dt.datetime.fromisoformat(match.group(1)).replace(tzinfo=dt.UTC)
            level, logger = match.group(2), match.group(3)
        if stamp is not None:
            merged.append((stamp, order, logger, level, raw))
    for order, record in enumerate(records):
        merged.append((dt.datetime.fromtimestamp(record.created, dt.UTC), order, record.name,
                       record.levelname.lower(), record.getMessage()))
    merged.sort(key=lambda item: item[0])  # stable: the lines of one message stay in order
    lines: list[TaskLine] = []
    task: str | None = None
    for _, _, logger, level, text in merged:
        for part in text.splitlines() or [""]:
            if (start := START.search(part)) is not None:
                task = start.group(1)
            elif END.search(part):
                task = None
            elif task is not None:
                lines.append(TaskLine(task, logger, level, part))
    return lines


def problems(lines: list[TaskLine]) -> list[str]:
    """Every line that is library noise or a Python repr of a result (for any run)."""
    found = []
    for line in lines:
        if LIBRARY_NOISE[0].match(line.logger) and line.level in {"debug", "info"} or any(
                p.search(line.text) for p in LIBRARY_NOISE[1:]):
            found.append(f"library noise in {line.task} ({line.logger}): {line.text[:200]}")
        elif line.ours and (DICT_REPR.search(line.text) or LIST_REPR.search(line.text)):
            found.append(f"Python repr in {line.task}: {line.text[:200]}")
    return found


def summary_rows(lines: list[TaskLine]) -> list[tuple[str, str, str, int]]:
    rows = [SUMMARY_ROW.match(line.text.strip()) for line in lines if line.task == "record_run"]
    return [(m.group(1), m.group(2), m.group(3), int(m.group(4))) for m in rows if m]


@pytest.fixture
def logs(sync, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):  # noqa: ANN001, ANN201
    """``logs(**conf)`` runs the DAG and returns (dag run, its task lines)."""
    caplog.set_level(logging.INFO)

    def run(**conf: object) -> tuple[object, list[TaskLine]]:
        capfd.readouterr()
        caplog.clear()
        dag_run = sync.run(**conf)
        out, err = capfd.readouterr()
        return dag_run, task_lines(out + err, list(caplog.records))

    return run


def phone_holders(sync) -> dict[str | None, set[str]]:  # noqa: ANN001
    """E.164 digits -> the live Salesforce records (Contacts and Leads) holding that number, from the dump."""
    holders: dict[str | None, set[str]] = {}
    for obj in ("Contact", "Lead"):
        for record in sync.sf_records(obj):
            holders.setdefault(e164_digits(record.get("Phone")), set()).add(record["Id"])
    return holders


def holders_phone(sync, sf_id: str) -> str | None:  # noqa: ANN001
    return next(e164_digits(r.get("Phone")) for r in sync.sf_records("Contact") if r["Id"] == sf_id)


def test_task_logs_of_a_dry_run_a_normal_run_and_a_guard_stopped_run_read_as_sentences(sync, logs) -> None:  # noqa: ANN001
    sync.write_config(lambda c: c.setdefault("guards", {}).update({"min_records_for_share_guards": 5}))
    sync.sf.load(DEMO.salesforce)
    sync.hm.load(DEMO.heymarket)

    # ---- dry run: the writes are planned, never "created" -------------------------------------------------
    dry, lines = logs(dry_run=True, mode="full")
    assert str(dry.state) == "success"
    assert {line.task for line in lines} >= {"preflight", "validate", "apply_heymarket", "record_run"}, \
        "the capture does not hold the task logs"
    assert problems(lines) == []
    rows = summary_rows(lines)
    assert any(action == "would create" and n > 0 for _, _, action, n in rows), rows
    assert not [r for r in rows if r[2] in WRITTEN], rows
    assert not [line.text for line in lines if line.ours and DONE_WORDS.search(line.text)]
    assert any("Nothing was written" in line.text for line in lines if line.task == "record_run")

    # ---- normal run: what was written, once; no "Resuming", no per-call "batch 1/1" ------------------------
    normal, lines = logs(mode="full")
    assert str(normal.state) == "success", sync.result(normal)
    assert problems(lines) == []
    assert not [line.text for line in lines if "Resuming" in line.text]
    assert not [line.text for line in lines if re.search(r"batch \d+/\d+", line.text)]
    applied = [line.text for line in lines if line.task == "apply_heymarket" and "Heymarket apply:" in line.text]
    assert applied and re.search(r"Contact: created \d+", applied[0]), applied
    created = [r for r in summary_rows(lines) if r[2] == "created"]
    assert created and not [r for r in summary_rows(lines) if r[2].startswith("would")]

    # ---- guard-stopped run: the refused deletes are "would delete", never "deleted" -----------------------
    sync.write_config(lambda c: c["objects"]["Contact"].update({"delete_in_heymarket": True}))
    linked = sync.store().load_links()
    contacts = linked[(linked["object"] == "Contact") & (linked["status"] == "active")]["sf_id"].tolist()
    assert len(contacts) >= 10, "the demo data should link enough Contacts for the guard"
    # Only Contacts whose number no other record holds: a live record with the same phone would take over
    # the Heymarket contact instead of letting it be deleted (the ownership rules).
    holders = phone_holders(sync)
    alone = [sf_id for sf_id in contacts if len(holders[holders_phone(sync, sf_id)]) == 1]
    deleted = alone[: len(contacts) // 2]
    assert len(deleted) == len(contacts) // 2, "the demo data should have enough Contacts with a number of their own"
    api = sync.salesforce_api()
    for sf_id in deleted:
        api.Contact.delete(sf_id)
    hm_before = len(sync.hm_contacts())

    stopped, lines = logs()
    assert str(stopped.state) == "failed"
    assert str(stopped.get_task_instance("validate").state) == "failed"
    assert str(stopped.get_task_instance("record_run").state) == "success"
    assert len(sync.hm_contacts()) == hm_before
    assert problems(lines) == []
    rows = summary_rows(lines)
    assert ("Contact", "to_heymarket", "would delete", len(deleted)) in rows, rows
    assert not [r for r in rows if r[2] in WRITTEN], rows
    assert not [line.text for line in lines if line.ours and re.search(r"\bdeleted \d+", line.text)]
    why = [line.text for line in lines if line.task == "record_run" and line.text.startswith("Why: ")]
    assert why and why[0].startswith("Why: validate failed: The plan was not applied (nothing was written)"), why
    # the history keeps only what was written: no write counts for the stopped run
    row = sync.history(stopped)
    assert row["status"] == "failed"
    assert "deleted" not in row["counts"].get("Contact", {}).get("to_heymarket", {}), row["counts"]


def test_the_checks_flag_the_lines_operators_complained_about() -> None:
    """The detectors above, on lines of the kind the old logs had: so the run test can fail."""
    old = [
        TaskLine("validate", "great_expectations._docs_decorators", "info",
                 "Skipping registering function get_context because it does not have a class"),
        TaskLine("preflight", "alembic.runtime.migration", "info", "Context impl SQLiteImpl."),
        TaskLine("apply_heymarket", "airflow.task.operators.sync_operators.apply.HeymarketApplyOperator", "info",
                 "Heymarket apply: {'Contact': {'create_heymarket': {'ok': 19}}}"),
        TaskLine("preflight", "airflow.task.operators.sync_operators.preflight.PreflightOperator", "info",
                 "Run r: mode=full, objects=['Contact', 'Lead'], record_ids=0, dry_run=True"),
    ]
    assert len(problems(old)) == len(old)
    # ... and leave alone what must stay: warnings of libraries, and our sentences
    fine = [
        TaskLine("validate", "great_expectations.core", "warning", "a deprecation the admin should see"),
        TaskLine("apply_heymarket", "airflow.task.operators.sync_operators.apply.HeymarketApplyOperator", "info",
                 "Heymarket apply: Contact: created 19, linked 6"),
    ]
    assert problems(fine) == []
    assert DONE_WORDS.search("Contact: created 19") and not DONE_WORDS.search("30 in scope, 0 deleted")
    assert SUMMARY_ROW.match("Contact   to_heymarket   would create                6").group(3) == "would create"
