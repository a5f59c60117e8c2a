"""Run status and counts for the history row: pure functions over what the tasks reported."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sync_engine.drift import DRIFT_ACTIONS, drift_from_counts, drift_lines
from sync_engine.vocabulary import CONSENT_COUNTS, CountAction, CountDirection, Counts

#: A task's XCom return value as it comes back (JSON); each reader names the keys it uses.
TaskResult = Mapping[str, Any]

FAILED_STATES = {"failed", "upstream_failed"}

#: plan action -> (direction, history action)
ACTION_NAMES: dict[str, tuple[CountDirection, CountAction]] = {
    "create_heymarket": ("to_heymarket", "created"),
    "update_heymarket": ("to_heymarket", "updated"),
    "delete_heymarket": ("to_heymarket", "deleted"),
    "create_salesforce": ("to_salesforce", "created"),
    "update_salesforce": ("to_salesforce", "updated"),
    "link": ("state", "linked"),  # also a takeover (a record taking over a contact at its number)
    "unlink": ("state", "unlinked"),  # also a release (the record moved to another number)
}
#: plan report kind -> (direction, history action); the action names are the state store's closed set
REPORT_NAMES: dict[str, tuple[CountDirection, CountAction]] = {
    "invalid_phone": ("to_heymarket", "invalid"),
    "no_phone": ("to_heymarket", "skipped"),
    "duplicate": ("to_heymarket", "duplicate"),
    "conflict": ("state", "conflict"),
    "unlinked": ("to_salesforce", "skipped"),  # unknown Heymarket contact, auto-create off
    "skipped": ("state", "skipped"),
    "waiting_retry": ("state", "waiting_retry"),  # a write held back until its queued retry is due
    "noop": ("state", "unchanged"),
}



def run_status(task_states: Mapping[str, str | None], applies: list[TaskResult], dry_run: bool,
               unsynced_records: int = 0) -> str:
    """success / partial / failed / cancelled / dry_run, from task states and the apply results.

    ``cancelled`` is an apply that stopped because the run was marked failed; ``partial`` is a run that
    wrote something but left records failed, stopped on the Salesforce budget, or could not sync some of
    the record ids it was asked for (*unsynced_records*: mistyped, of another object, not found).
    """
    if any(a.get("stopped") and "cancelled" in str(a.get("stop_reason") or "") for a in applies):
        return "cancelled"
    if any(state in FAILED_STATES for task, state in task_states.items() if task != "record_run"):
        return "failed"
    if dry_run:
        return "dry_run"
    if unsynced_records or any(a.get("stopped") or int(a.get("failed") or 0) > 0 for a in applies):
        return "partial"
    return "success"


def history_counts(plan_counts: Mapping[str, Mapping[str, int]] | None,
                   applies: list[TaskResult], planned: bool = False) -> dict[str, dict[str, dict[str, int]]]:
    """object -> direction -> action -> n, in the history tables' vocabulary (``created``, ``linked``, ...).

    The write counts are what the apply tasks wrote, never what the plan wanted, except with *planned*
    (dry runs): then they are the plan's, under the same names, and the run's status ``dry_run`` is what
    says they were not written. A run stopped before its apply (guard, failure) therefore records no write
    at all. The plan's findings (invalid phones, duplicates, conflicts, unchanged pairs) are counted for
    every run.
    """
    counts: defaultdict[str, defaultdict[str, defaultdict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int)))
    if not planned:
        for apply in applies:
            for obj, actions in dict(apply.get("counts") or {}).items():
                for action, outcome in dict(actions).items():
                    if action in CONSENT_COUNTS:
                        # A consent write is also its create/update, whose failures are counted there.
                        direction, name = CONSENT_COUNTS[action]
                        counts[obj][direction][name] += int(outcome.get("ok", 0))
                        continue
                    direction, name = ACTION_NAMES.get(action, ("state", action))
                    counts[obj][direction][name] += int(outcome.get("ok", 0))
                    if outcome.get("failed"):
                        counts[obj][direction]["failed"] += int(outcome["failed"])
    for obj, actions in dict(plan_counts or {}).items():
        for action, n in dict(actions).items():
            if action in REPORT_NAMES:
                direction, name = REPORT_NAMES[action]
                counts[obj][direction][name] += int(n)
            elif planned and action in ACTION_NAMES:
                direction, name = ACTION_NAMES[action]
                counts[obj][direction][name] += int(n)
            elif planned and action in CONSENT_COUNTS:
                direction, name = CONSENT_COUNTS[action]
                counts[obj][direction][name] += int(n)
    return {o: {d: dict(a) for d, a in ds.items()} for o, ds in counts.items()}


#: History action name -> how a planned-but-unwritten count reads ("would create 6", never "created 6").
PLANNED_WORDS: dict[str, str] = {
    "created": "would create",
    "updated": "would update",
    "deleted": "would delete",
    "linked": "would link",
    "unlinked": "would unlink",
    "opted_out": "would opt out",
    "opted_in": "would opt in",
}


def describe_applied(applied: Mapping[str, Mapping[str, Mapping[str, int]]]) -> str:
    """One sentence of what an apply task wrote: ``Contact: created 19, updated 3, linked 6 (2 rejected)``.

    :param applied: object -> plan action -> ``{"ok": n, "failed": n}`` (``ApplyResult.as_dict()``).
    """
    names = {**ACTION_NAMES, **CONSENT_COUNTS}
    order = list(names)
    parts = []
    for obj in sorted(applied):
        items = []
        rejected = 0
        for action in sorted(applied[obj], key=lambda a: order.index(a) if a in order else 99):
            outcome = applied[obj][action]
            name = names.get(action, ("", action))[1]
            items.append(f"{name} {int(outcome.get('ok', 0))}")
            if action not in CONSENT_COUNTS:
                rejected += int(outcome.get("failed", 0))
        text = f"{obj}: {', '.join(items)}"
        if rejected:
            text += f" ({rejected} rejected: see hm_sync_record_error; retried on later runs)"
        parts.append(text)
    return "; ".join(parts) if parts else "nothing to write"


#: Longest failure reason kept per task (the history row's ``error_summary`` is for people, not a log).
REASON_CHARS = 1500
#: A query quoted in an error message is cut to this many characters: the cause must stay in view.
QUERY_CHARS = 80
_QUERY_LINE = re.compile(r"^\s*SELECT\s", re.IGNORECASE)
_CARET_LINE = re.compile(r"^\s*\^\s*$")


def readable_reason(message: str) -> str:
    """An exception's message on one line, fit for the Why line: quoted queries cut short, caret lines dropped.

    Salesforce puts the query first and the cause last ("\\nSELECT ... \\n ^\\nERROR at Row:1:Column:80\\n
    invalid ID field: ..."), so a long query pushed the cause out of sight.
    """
    lines = []
    for line in str(message or "").splitlines():
        if _CARET_LINE.match(line):
            continue
        if _QUERY_LINE.match(line) and len(line.strip()) > QUERY_CHARS:
            line = line.strip()[:QUERY_CHARS].rstrip() + " …"
        lines.append(line)
    return " ".join(" ".join(lines).split())


def failure_summary(task_states: Mapping[str, str | None], reasons: Mapping[str, str | None]) -> str | None:
    """Which tasks failed and why (the exception each one ended with), and which never ran because of it.

    :param reasons: task id -> the message its failure left (see ``SyncStageOperator``), when it left one.
    """
    failed = sorted(t for t, s in task_states.items() if s == "failed" and t != "record_run")
    skipped = sorted(t for t, s in task_states.items() if s == "upstream_failed")
    parts = []
    for task in failed:
        reason = readable_reason(str(reasons.get(task) or ""))
        if len(reason) > REASON_CHARS:
            reason = reason[: REASON_CHARS - 3] + "..."
        parts.append(f"{task} failed: {reason}" if reason else f"{task} failed")
    if skipped:
        parts.append(f"not run because of it: {', '.join(skipped)}")
    return "; ".join(parts) or None


def run_note(task_states: Mapping[str, str | None], reasons: Mapping[str, str | None],
             applies: Mapping[str, TaskResult],
             unsynced_records: Mapping[str, str] | None = None) -> str | None:
    """The history row's ``error_summary`` (and the Airflow run's note): why the run failed, or why it wrote
    less than planned.

    :param applies: apply task id -> its result (``stopped``, ``stop_reason``, ``failed``).
    :param unsynced_records: requested record id -> why it was not synced (mistyped, not found, ...).
    """
    failure = failure_summary(task_states, reasons)
    if failure:
        return failure
    notes = [f"{task} stopped: {a.get('stop_reason')}" for task, a in applies.items() if a.get("stopped")]
    rejected = sum(int(a.get("failed") or 0) for a in applies.values())
    if rejected:
        notes.append(f"{rejected} record(s) rejected: see hm_sync_record_error; they are retried on later runs")
    if unsynced_records:
        reasons_text = "; ".join(unsynced_records.values())
        notes.append(f"{len(unsynced_records)} of the requested record ids not synced (the others were): "
                     f"{reasons_text}")
    return "; ".join(notes) or None


def summary_table(run_id: str, status: str, counts: Counts, api_calls: Mapping[str, int],
                  error_summary: str | None = None, planned: bool = False) -> str:
    """The human summary that ends the record_run log (and ``make sync``'s output).

    The drift figures among the counts (``in_sync``, ``held_duplicate``..., see :mod:`sync_engine.drift`) are
    the state after the run, not things it did: they get lines of their own under the table.

    :param planned: the write counts are a plan that was not applied (a dry run, or a run stopped before its
        apply): they read "would create 6", and a line says that nothing was written.
    """
    lines = [f"Run {run_id}: {status.upper()}", ""]
    if planned:
        lines += ["Nothing was written: the counts below are what this run planned (\"would ...\").", ""]
    header = f"{'object':<9} {'direction':<14} {'action':<20} {'count':>8}"
    lines += [header, "-" * len(header)]
    rows = len(lines)
    for obj in sorted(counts):
        for direction in sorted(counts[obj]):
            for action, n in sorted(counts[obj][direction].items()):
                if action in DRIFT_ACTIONS:
                    continue
                label = PLANNED_WORDS.get(action, action) if planned else action
                lines.append(f"{obj:<9} {direction:<14} {label:<20} {n:>8}")
    if len(lines) == rows:
        lines.append("(no changes)")
    lines.append("")
    drift = drift_from_counts(counts)
    if drift:
        lines.append("After the run (linked pairs that agree on every mapped value; records held back):")
        lines += [f"  {line}" for line in drift_lines(drift)]
        lines.append("")
    lines.append("API calls: " + ", ".join(f"{system} {n}" for system, n in sorted(api_calls.items())))
    if error_summary:
        lines += ["", f"Why: {error_summary}"]
    return "\n".join(lines)
