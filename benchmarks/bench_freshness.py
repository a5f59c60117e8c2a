"""Freshness benchmark (issue 14): edit-to-other-side latency on the real stack, and the idle cost of the watchers.

Run it from the repository root (needs PostgreSQL and Redis like ``make test``; it starts the whole stack of
``tests/deploy/stack.py``: api-server, scheduler, dag-processor, triggerer, Celery worker, both emulators)::

    .venv/bin/python -m benchmarks.bench_freshness --edits 20 --idle-minutes 10   # the issue's measure (~25 min)
    .venv/bin/python -m benchmarks.bench_freshness --edits 2 --idle-minutes 0     # a quick try

1. loads demo data on both sides, unpauses ``heymarket_sync`` and waits until its first runs are over;
2. makes ``--edits`` edits, alternating sides (a new Salesforce Contact, a new Heymarket contact, each with a
   fresh phone), one at a time, and measures the seconds until the record is on the other side; prints each,
   the median and the 95th percentile (target: p95 <= 120 s);
3. leaves both systems alone for ``--idle-minutes`` and counts the runs started meanwhile (target: none) and
   the calls each emulator answered per minute (target: at most 2 per system).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _path in (str(REPO), str(REPO / "plugins")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tests.deploy.stack import AirflowStack, wait_for  # noqa: E402
from tests.deploy.test_freshness import DAG_ID, active_runs, wait_quiet  # noqa: E402

TARGET_P95 = 120.0
IDLE_CALLS_PER_MINUTE = 2.0


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def salesforce_edit(index: int) -> tuple[str, str]:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    last = f"Bench{index}"
    SalesforceHook(salesforce_conn_id="salesforce_default").get_conn().Contact.create(
        {"FirstName": "Fresh", "LastName": last, "Phone": f"+1415232{index:04d}"})
    return "salesforce", f"1415232{index:04d}"


def reached_heymarket(stack: AirflowStack, phone: str) -> bool:
    return any(str(c.get("phone")) == phone for c in stack.hm_admin().dump().get("contacts", []))


def reached_salesforce(stack: AirflowStack, last: str) -> bool:
    dump = stack.sf_admin().dump()
    contacts = dump["records"]["Contact"] if "records" in dump else dump["Contact"]
    return any(str(c.get("LastName")) == last for c in contacts)


def one_edit(stack: AirflowStack, index: int) -> tuple[str, float]:
    """One edit on alternating sides; (direction, seconds until it is on the other side)."""
    from tests.e2e.conftest import HeymarketUser

    start = time.monotonic()
    if index % 2 == 0:
        _, phone = salesforce_edit(index)
        wait_for(lambda: reached_heymarket(stack, phone), 600, f"edit {index} in Heymarket", interval=1.0)
        direction = "salesforce->heymarket"
    else:
        last = f"Bench{index}"
        HeymarketUser(stack.hm_admin().base_url).create(phone=f"1415233{index:04d}", first="Fresh", last=last)
        wait_for(lambda: reached_salesforce(stack, last), 600, f"edit {index} in Salesforce", interval=1.0)
        direction = "heymarket->salesforce"
    return direction, time.monotonic() - start


def idle(stack: AirflowStack, minutes: float) -> dict[str, object]:
    """Runs started and calls per minute per system while nothing changes."""
    runs_before = {str(r["dag_run_id"]) for r in stack.dag_runs(DAG_ID)}
    sf, hm = stack.sf_admin(), stack.hm_admin()
    sf.reset_stats()
    hm.reset_stats()
    time.sleep(minutes * 60)
    new_runs = [str(r["dag_run_id"]) for r in stack.dag_runs(DAG_ID) if str(r["dag_run_id"]) not in runs_before]
    calls = {"salesforce": sum(sf.stats()["by_endpoint"].values()),
             "heymarket": sum(hm.stats()["by_endpoint"].values())}
    return {"minutes": minutes, "runs_started": new_runs,
            "calls_per_minute": {k: round(v / minutes, 2) for k, v in calls.items()}, "calls": calls}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--idle-minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    from emulators.demo_data import generate

    with AirflowStack(Path(tempfile.mkdtemp(prefix="bench-freshness-"))) as stack:
        stack.wait_dag(DAG_ID)
        demo = generate(size=50, seed=5)
        stack.sf_admin().load(demo.salesforce)
        stack.hm_admin().load(demo.heymarket)
        stack.set_paused(DAG_ID, False)
        wait_for(lambda: stack.dag_runs(DAG_ID), 90, "a first run", interval=2.0)
        wait_quiet(stack)
        os.environ.update({k: stack.env[k] for k in ("AIRFLOW_CONN_SALESFORCE_DEFAULT", "REQUESTS_CA_BUNDLE")})
        latencies: list[tuple[str, float]] = []
        for index in range(args.edits):
            direction, seconds = one_edit(stack, index)
            latencies.append((direction, seconds))
            print(f"edit {index + 1:2d} {direction}: {seconds:6.1f} s", flush=True)
            wait_quiet(stack)
        report: dict[str, object] = {"edits": [{"direction": d, "seconds": round(s, 1)} for d, s in latencies]}
        if latencies:
            values = [s for _, s in latencies]
            report.update(median=round(statistics.median(values), 1), p95=round(percentile(values, 0.95), 1))
            print(f"median {report['median']} s, p95 {report['p95']} s (target <= {TARGET_P95:.0f} s)")
        if args.idle_minutes > 0:
            report["idle"] = idle(stack, args.idle_minutes)
            print(f"idle: {json.dumps(report['idle'])}")
        still = active_runs(stack)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    ok = not latencies or float(report["p95"]) <= TARGET_P95  # type: ignore[arg-type]
    idle_report = report.get("idle")
    if isinstance(idle_report, dict):
        ok = ok and not idle_report["runs_started"] and all(
            v <= IDLE_CALLS_PER_MINUTE for v in idle_report["calls_per_minute"].values())
    return 0 if ok and not still else 1


if __name__ == "__main__":
    sys.exit(main())
