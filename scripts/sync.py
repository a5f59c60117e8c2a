"""``make sync``: one ``heymarket_sync`` run against whatever ``.sandbox/env`` points at.

Prints the run's summary and exits non-zero if the run failed, so acceptance tests can rely on it.
``CONF='{"dry_run": true}'`` passes the run's params (mode, objects, record_ids, dry_run,
allow_mass_delete); it arrives through the environment, checked against the DAG's params before the run.
"""

from __future__ import annotations

import sys

from scripts.airflow_env import ConfError, HomeBusy, prepare_environment, read_conf, start_local_run
from scripts.terminal import report_crash

PROG = "make sync"
EXAMPLE = '{"dry_run": true}'


def run_sync(conf: dict[str, object], prog: str = PROG) -> tuple[str, dict[str, object]]:
    """Run the DAG once in-process; return (dag run state, record_run's result).

    :raises ConfError: ``conf`` does not fit the DAG's params (nothing ran).
    :raises HomeBusy: another make command uses this Airflow home (nothing ran).
    """
    dag = start_local_run(prog, "heymarket_sync", conf)
    dag_run = dag.test(run_conf=conf)
    record = dag_run.get_task_instance("record_run")
    result = record.xcom_pull(task_ids="record_run") if record is not None else None
    if not result and record is not None:  # a failed run: record_run failed too, after leaving its summary
        summary = record.xcom_pull(task_ids="record_run", key="summary")
        result = {"summary": summary} if summary else None
    return str(dag_run.state), dict(result or {})


def main() -> int:
    try:
        conf = read_conf(PROG, EXAMPLE)
        prepare_environment()
        state, result = run_sync(conf)
    except (ConfError, HomeBusy) as exc:
        print(exc, file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one line instead of a traceback, unless LOG_LEVEL=DEBUG
        return report_crash(PROG, exc)
    print()
    print(result.get("summary") or f"The run ended {state} before recording a summary; LOG_LEVEL=INFO shows "
                                   "every task's log lines.")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
