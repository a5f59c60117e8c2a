"""``make setup``: one ``heymarket_setup`` run against whatever ``.sandbox/env`` points at.

Prints the setup report (``setup_report.md``, also kept in the run folder) and exits non-zero if the run
failed, i.e. when a step is ✘. ``CONF='{"apply": true}'`` makes the changes the report proposes;
``CONF='{"config_path": "..."}'`` checks another sync YAML. Same environment as ``make sync``.
"""

from __future__ import annotations

import sys

from scripts.airflow_env import ConfError, HomeBusy, prepare_environment, read_conf, start_local_run
from scripts.terminal import report_crash

PROG = "make setup"
EXAMPLE = '{"apply": true}'
DAG_ID = "heymarket_setup"


def report_text(dag, run_id: str, conf: dict[str, object]) -> str | None:  # noqa: ANN001 - airflow.sdk.DAG
    """The run's ``setup_report.md``, found where the report task wrote it; ``None`` if it wrote none."""
    import fsspec

    from sync_engine.config import ConfigError, load_config
    from sync_operators.runtime import DEFAULT_CONFIG_PATH
    from sync_operators.setup import setup_run_folder

    path = str(conf.get("config_path") or "").strip() or DEFAULT_CONFIG_PATH
    try:
        config = load_config(path)
    except ConfigError:
        config = None  # the report then went to the default runs root, as the report task does
    target = setup_run_folder(config, {"dag": dag, "run_id": run_id}).path("setup_report.md")
    try:
        with fsspec.open(target, "r", encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def run_setup(conf: dict[str, object], prog: str = PROG) -> tuple[str, str | None]:
    """Run the DAG once in-process; return (dag run state, the report's text or ``None``).

    :raises ConfError: ``conf`` does not fit the DAG's params (nothing ran).
    :raises HomeBusy: another make command uses this Airflow home (nothing ran).
    """
    dag = start_local_run(prog, DAG_ID, conf)
    dag_run = dag.test(run_conf=conf)
    return str(dag_run.state), report_text(dag, dag_run.run_id, conf)


def main() -> int:
    try:
        conf = read_conf(PROG, EXAMPLE)
        prepare_environment()
        state, report = run_setup(conf)
    except (ConfError, HomeBusy) as exc:
        print(exc, file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one line instead of a traceback, unless LOG_LEVEL=DEBUG
        return report_crash(PROG, exc)
    print()
    print(report.rstrip() if report else f"The run ended {state} without writing its report; LOG_LEVEL=INFO "
                                          "shows every task's log lines.")
    print(f"\nheymarket_setup: {state.upper()}")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
