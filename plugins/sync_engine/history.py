"""Run status and counts for the history row: pure functions over what the tasks reported."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

FAILED_STATES = {"failed", "upstream_failed"}

#: plan action -> (direction, history action)
ACTION_NAMES: dict[str, tuple[str, str]] = {
    "create_heymarket": ("to_heymarket", "created"),
    "update_heymarket": ("to_heymarket", "updated"),
    "delete_heymarket": ("to_heymarket", "deleted"),
    "create_salesforce": ("to_salesforce", "created"),
    "update_salesforce": ("to_salesforce", "updated"),
    "link": ("state", "linked"),
    "unlink": ("state", "unlinked"),
}
#: plan report kind -> (direction, history action); the action names are the state store's closed set
REPORT_NAMES: dict[str, tuple[str, str]] = {
    "invalid_phone": ("to_heymarket", "invalid"),
    "no_phone": ("to_heymarket", "skipped"),
    "duplicate": ("to_heymarket", "duplicate"),
    "conflict": ("state", "conflict"),
    "unlinked": ("to_salesforce", "skipped"),  # unknown Heymarket contact, auto-create off
    "skipped": ("state", "skipped"),
    "noop": ("state", "unchanged"),
}

Counts = dict[str, dict[str, dict[str, int]]]


def run_status(task_states: Mapping[str, str | None], applies: list[Mapping[str, object]], dry_run: bool) -> str:
    """success / partial / failed / cancelled / dry_run, from task states and the apply results.

    ``cancelled`` is an apply that stopped because the run was marked failed; ``partial`` is a run that
    wrote something but left records failed or stopped on the Salesforce budget.
    """
    if any(a.get("stopped") and "cancelled" in str(a.get("stop_reason") or "") for a in applies):
        return "cancelled"
    if any(state in FAILED_STATES for task, state in task_states.items() if task != "record_run"):
        return "failed"
    if dry_run:
        return "dry_run"
    if any(a.get("stopped") or int(a.get("failed") or 0) > 0 for a in applies):
        return "partial"
    return "success"


def history_counts(plan_counts: Mapping[str, Mapping[str, int]] | None,
                   applies: list[Mapping[str, object]]) -> Counts:
    """object -> direction -> action -> n; applied results when there are any, else the plan's.

    A dry run (nothing applied) records what the plan would have done under the same names; the run's
    status ``dry_run`` says they were not written.
    """
    counts: Counts = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    applied_any = False
    for apply in applies:
        for obj, actions in dict(apply.get("counts") or {}).items():
            for action, outcome in dict(actions).items():
                direction, name = ACTION_NAMES.get(action, ("state", action))
                counts[obj][direction][name] += int(outcome.get("ok", 0))
                if outcome.get("failed"):
                    counts[obj][direction]["failed"] += int(outcome["failed"])
                applied_any = True
    for obj, actions in dict(plan_counts or {}).items():
        for action, n in dict(actions).items():
            if action in REPORT_NAMES:
                direction, name = REPORT_NAMES[action]
                counts[obj][direction][name] += int(n)
            elif not applied_any and action in ACTION_NAMES:
                direction, name = ACTION_NAMES[action]
                counts[obj][direction][name] += int(n)
    return {o: {d: dict(a) for d, a in ds.items()} for o, ds in counts.items()}


#: Longest failure reason kept per task (the history row's ``error_summary`` is for people, not a log).
REASON_CHARS = 1500


def failure_summary(task_states: Mapping[str, str | None], reasons: Mapping[str, str | None]) -> str | None:
    """Which tasks failed and why (the exception each one ended with), and which never ran because of it.

    :param reasons: task id -> the message its failure left (see ``SyncStageOperator``), when it left one.
    """
    failed = sorted(t for t, s in task_states.items() if s == "failed" and t != "record_run")
    skipped = sorted(t for t, s in task_states.items() if s == "upstream_failed")
    parts = []
    for task in failed:
        reason = " ".join(str(reasons.get(task) or "").split())
        if len(reason) > REASON_CHARS:
            reason = reason[: REASON_CHARS - 3] + "..."
        parts.append(f"{task} failed: {reason}" if reason else f"{task} failed")
    if skipped:
        parts.append(f"not run because of it: {', '.join(skipped)}")
    return "; ".join(parts) or None


def run_note(task_states: Mapping[str, str | None], reasons: Mapping[str, str | None],
             applies: Mapping[str, Mapping[str, object]]) -> str | None:
    """The history row's ``error_summary``: why the run failed, or why it wrote less than planned.

    :param applies: apply task id -> its result (``stopped``, ``stop_reason``, ``failed``).
    """
    failure = failure_summary(task_states, reasons)
    if failure:
        return failure
    notes = [f"{task} stopped: {a.get('stop_reason')}" for task, a in applies.items() if a.get("stopped")]
    rejected = sum(int(a.get("failed") or 0) for a in applies.values())
    if rejected:
        notes.append(f"{rejected} record(s) rejected: see hm_sync_record_error; they are retried on later runs")
    return "; ".join(notes) or None


def summary_table(run_id: str, status: str, counts: Counts, api_calls: Mapping[str, int],
                  error_summary: str | None = None) -> str:
    """The human summary that ends the record_run log (and ``make sync``'s output)."""
    lines = [f"Run {run_id}: {status.upper()}", ""]
    header = f"{'object':<9} {'direction':<14} {'action':<20} {'count':>8}"
    lines += [header, "-" * len(header)]
    for obj in sorted(counts):
        for direction in sorted(counts[obj]):
            for action, n in sorted(counts[obj][direction].items()):
                lines.append(f"{obj:<9} {direction:<14} {action:<20} {n:>8}")
    if len(lines) == 4:
        lines.append("(no changes)")
    lines.append("")
    lines.append("API calls: " + ", ".join(f"{system} {n}" for system, n in sorted(api_calls.items())))
    if error_summary:
        lines += ["", f"Why: {error_summary}"]
    return "\n".join(lines)
