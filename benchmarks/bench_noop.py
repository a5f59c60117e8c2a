"""No-op benchmark: the API calls of an incremental ``heymarket_sync`` run that has nothing to do, per endpoint.

Run it from the repository root (a script, not a test; about a minute)::

    .venv/bin/python -m benchmarks.bench_noop [--size 200] [--out bench-noop.json]

What it does, all on this machine: starts both emulators as real processes, loads the demo data (``size``
records), runs the real DAG with ``dag.test()`` three times to settle (a full run, then an incremental one
that sees the first run's own writes), then measures two incremental runs that change nothing:

- **warm**: the cached describes, limits, inboxes and contact fields are valid (the usual case: a run within
  15 minutes of the last one for the limits, an hour for Heymarket's metadata, a day for describes);
- **daily**: the describes and Heymarket's metadata made two days old first, the budget as the last run's
  extract left it (from the ``Sforce-Limit-Info`` header: no call) - the first incremental run of a day;
- **budget**: only the cached budget expired (a scheduled run every 30 minutes without a watcher-started run in
  between): preflight logs in and reads ``/limits``;
- **paused**: every cached answer two days old, the budget too (the first run of a day after a pause): the
  budget is read from the describes' ``Sforce-Limit-Info`` header, no ``/limits`` call.

The calls are counted by the emulators themselves (``/__admin/stats``), logins included, and compared with
the run's own summary (``record_run``'s ``api_calls``). Issue 14's budget: at most 10 calls per no-op run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_apply import (
    REPO,
    _quiet,
    emulators,
    load_bench_dag,
    prepare_airflow,
    set_connections,
    write_config,
)

if str(REPO / "plugins") not in sys.path:
    sys.path.insert(0, str(REPO / "plugins"))

from emulators.common.client import AdminClient  # noqa: E402

BUDGET = 10
CONF = {"mode": "incremental", "objects": ["Contact", "Lead"], "record_ids": [], "dry_run": False,
        "allow_mass_delete": False}


def run(dag: object, conf: dict[str, object], log_path: Path) -> tuple[str, dict[str, object]]:
    """One run; its state and ``record_run``'s result."""
    with _quiet(log_path):
        dag_run = dag.test(run_conf=conf)  # type: ignore[attr-defined]
    ti = dag_run.get_task_instance("record_run")
    return str(dag_run.state), dict((ti.xcom_pull(task_ids="record_run") if ti is not None else None) or {})


def measured(dag: object, hm: AdminClient, sf: AdminClient, log_path: Path) -> dict[str, object]:
    """One no-op incremental run, counted by the emulators (per endpoint) and by the run itself."""
    hm.reset_stats()
    sf.reset_stats()
    state, record = run(dag, CONF, log_path)
    by_endpoint = {**{f"heymarket {k}": v for k, v in hm.stats()["by_endpoint"].items()},
                   **{f"salesforce {k}": v for k, v in sf.stats()["by_endpoint"].items()}}
    own = record.get("api_calls") or {}
    return {"state": state, "status": record.get("status"), "total": sum(by_endpoint.values()),
            "by_endpoint": dict(sorted(by_endpoint.items())),
            "own_count": sum(sum(v.values()) for v in own.values()) if isinstance(own, dict) else None}


def expire_cache(state_url: str, keys: list[str]) -> None:
    """These cached API answers as if read two days ago."""
    from sync_engine.state import StateStore

    current = StateStore(state_url)
    old_clock = lambda: dt.datetime.now(dt.UTC) - dt.timedelta(days=2)  # noqa: E731
    with current, StateStore(state_url, clock=old_clock) as old:
        for key in keys:
            cached = current.get_cached(key)
            if cached is not None:
                old.put_cached(key, cached[0])


def metadata_keys() -> list[str]:
    from sync_engine import api_cache

    return [api_cache.INBOXES_KEY, api_cache.CONTACT_FIELDS_KEY, api_cache.describe_key("Contact"),
            api_cache.describe_key("Lead")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200, help="demo records (default 200)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-noop-") as tmp:
        workdir = Path(tmp)
        prepare_airflow(workdir)
        with emulators(workdir) as (sf_proc, hm_proc):
            from emulators.demo_data import generate

            sf = AdminClient(sf_proc.base_url, verify=str(sf_proc.tls_cert))
            hm = AdminClient(hm_proc.base_url)
            state_url = f"sqlite:///{workdir / 'state.db'}"
            set_connections(sf_proc, hm_proc, state_url, pacing=None)
            config_path = write_config(workdir)
            demo = generate(size=args.size, seed=7)
            sf.load(demo.salesforce)
            hm.load(demo.heymarket)
            log_path = workdir / "airflow.log"
            dag = load_bench_dag("heymarket_sync", config_path, log_path)
            for conf in ({**CONF, "mode": "full"}, CONF):
                state, _ = run(dag, conf, log_path)
                if state != "success":
                    print(f"settling run ended {state}; see the task logs (LOG_LEVEL=INFO)", file=sys.stderr)
                    return 1
            report = {"warm": measured(dag, hm, sf, log_path)}
            from sync_engine.api_cache import LIMITS_KEY

            expire_cache(state_url, metadata_keys())
            report["daily"] = measured(dag, hm, sf, log_path)
            expire_cache(state_url, [LIMITS_KEY])
            report["budget"] = measured(dag, hm, sf, log_path)
            expire_cache(state_url, [*metadata_keys(), LIMITS_KEY])
            report["paused"] = measured(dag, hm, sf, log_path)
    for name, figures in report.items():
        print(f"{name}: {figures['total']} calls (the run's own count: {figures['own_count']}), "
              f"run {figures['status']}, budget {BUDGET}")
        for endpoint, n in figures["by_endpoint"].items():  # type: ignore[union-attr]
            print(f"  {n:3d}  {endpoint}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0 if all(int(figures["total"]) <= BUDGET for figures in report.values()) else 1  # type: ignore[call-overload]


if __name__ == "__main__":
    sys.exit(main())
