"""``make sync``: one ``heymarket_sync`` run against whatever ``.sandbox/env`` points at.

Prints the run's summary and exits non-zero if the run failed, so acceptance tests can rely on it.
``CONF='{"dry_run": true}'`` passes the run's params (mode, objects, record_ids, dry_run,
allow_mass_delete).
"""

from __future__ import annotations

import argparse
import json
import sys

from scripts.airflow_env import ensure_metadata_db, load_dag, prepare_environment


def run_sync(conf: dict[str, object]) -> tuple[str, dict[str, object]]:
    """Run the DAG once in-process; return (dag run state, record_run's result)."""
    ensure_metadata_db()
    dag = load_dag("heymarket_sync")
    dag_run = dag.test(run_conf=conf)
    record = dag_run.get_task_instance("record_run")
    result = record.xcom_pull(task_ids="record_run") if record is not None else None
    if not result and record is not None:  # a failed run: record_run failed too, after leaving its summary
        summary = record.xcom_pull(task_ids="record_run", key="summary")
        result = {"summary": summary} if summary else None
    return str(dag_run.state), dict(result or {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make sync", description=__doc__)
    parser.add_argument("--conf", default="", help="JSON object with the run's params")
    args = parser.parse_args(argv)
    try:
        conf = json.loads(args.conf) if args.conf.strip() else {}
    except json.JSONDecodeError as exc:
        print(f"make sync: CONF is not valid JSON ({exc}); example: CONF='{{\"dry_run\": true}}'", file=sys.stderr)
        return 2
    if not isinstance(conf, dict):
        print("make sync: CONF must be a JSON object, e.g. CONF='{\"mode\": \"full\"}'", file=sys.stderr)
        return 2
    prepare_environment()
    state, result = run_sync(conf)
    print()
    print(result.get("summary") or f"The run ended {state} before recording a summary; see the task logs above.")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
