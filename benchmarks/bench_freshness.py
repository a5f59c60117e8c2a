"""Freshness benchmark (issue 14): edit-to-other-side latency on the real stack, and the idle cost of the watchers.

Run it from the repository root (needs PostgreSQL and Redis like ``make test``; it starts the whole stack of
``tests/deploy/stack.py``: api-server, scheduler, dag-processor, triggerer, Celery worker, both emulators)::

    .venv/bin/python -m benchmarks.bench_freshness --edits 20 --idle-minutes 10   # the issue's measure (25-45 min)
    .venv/bin/python -m benchmarks.bench_freshness --edits 2 --idle-minutes 0     # a quick try

1. loads demo data on both sides, unpauses ``heymarket_sync`` and waits until its first runs are over;
2. makes ``--edits`` edits, alternating sides (a new Salesforce Contact, a new Heymarket contact, each with a
   fresh phone), one at a time, and measures the seconds until the record is on the other side; prints each,
   the median and the 95th percentile (target: p95 <= 120 s);
3. kills the triggerer (SIGKILL) right after a watcher's poll, makes one edit per side while it is down, starts
   it again and checks on the emulators that both edits are synced and none is written twice
   (``tests.deploy.test_freshness.triggerer_restart_scenario``; ``--no-restart`` skips it);
4. leaves both systems alone for ``--idle-minutes`` and counts the runs started meanwhile (target: none) and
   the calls each emulator answered per minute (target: at most 2 per system). The idle window is placed
   between two :00/:30 cron slots (it waits for a slot to pass when the window would contain one): a cron run
   is the schedule working, not a watcher's doing, and its calls would hide the watchers' own.

Each edit also prints the 1-minute load average when it was made (the machine may be shared) and the types of
the runs that started between the edit and its arrival (``asset_triggered``: a watcher's; ``scheduled``: cron).
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from tests.deploy.test_freshness import DAG_ID, active_runs, triggerer_restart_scenario, wait_quiet  # noqa: E402

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


def run_ids(stack: AirflowStack) -> set[str]:
    return {str(r["dag_run_id"]) for r in stack.dag_runs(DAG_ID)}


def run_types_since(stack: AirflowStack, before: set[str]) -> list[str]:
    return sorted(str(r["run_type"]) for r in stack.dag_runs(DAG_ID) if str(r["dag_run_id"]) not in before)


def seconds_to_cron_slot(now: dt.datetime | None = None) -> float:
    """Seconds until the next :00 or :30 (``heymarket_sync``'s cron, UTC)."""
    now = now or dt.datetime.now(dt.UTC)
    return (30 - now.minute % 30) * 60 - now.second - now.microsecond / 1e6


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
    """Runs started and calls per minute per system while nothing changes (between two cron slots)."""
    waited = 0.0
    if seconds_to_cron_slot() < minutes * 60 + 30:
        waited = seconds_to_cron_slot() + 5
        print(f"idle: waiting {waited:.0f} s for the cron slot to pass first", flush=True)
        time.sleep(waited)  # a wall-clock slot, not a synchronisation: the run it starts is awaited next
        wait_quiet(stack)
    runs_before = run_ids(stack)
    sf, hm = stack.sf_admin(), stack.hm_admin()
    sf.reset_stats()
    hm.reset_stats()
    started = time.monotonic()
    load_start = os.getloadavg()[0]
    time.sleep(minutes * 60)  # the measure is "nothing happens for this long"
    elapsed_minutes = (time.monotonic() - started) / 60
    sf_stats, hm_stats = sf.stats()["by_endpoint"], hm.stats()["by_endpoint"]
    new_runs = [f"{r['run_type']}:{r['dag_run_id']}" for r in stack.dag_runs(DAG_ID)
                if str(r["dag_run_id"]) not in runs_before]
    calls = {"salesforce": sum(sf_stats.values()), "heymarket": sum(hm_stats.values())}
    return {"minutes": round(elapsed_minutes, 2), "runs_started": new_runs,
            "calls_per_minute": {k: round(v / elapsed_minutes, 2) for k, v in calls.items()}, "calls": calls,
            "by_endpoint": {"salesforce": sf_stats, "heymarket": hm_stats},
            "load_average_1min": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
            "waited_for_cron_slot_s": round(waited)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--idle-minutes", type=float, default=10.0)
    parser.add_argument("--no-restart", action="store_true", help="skip the triggerer restart")
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
        print(f"stack up: {stack.timings}; started {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", flush=True)
        latencies: list[tuple[str, float]] = []
        edits: list[dict[str, object]] = []
        for index in range(args.edits):
            before, load = run_ids(stack), os.getloadavg()[0]
            direction, seconds = one_edit(stack, index)
            types = run_types_since(stack, before)
            latencies.append((direction, seconds))
            edits.append({"direction": direction, "seconds": round(seconds, 1), "load_1min": round(load, 2),
                          "runs": types})
            print(f"edit {index + 1:2d} {direction}: {seconds:6.1f} s  (load {load:.2f}; runs {types})", flush=True)
            wait_quiet(stack)
        report: dict[str, object] = {"edits": edits}
        if latencies:
            values = [s for _, s in latencies]
            report.update(median=round(statistics.median(values), 1), p95=round(percentile(values, 0.95), 1))
            print(f"median {report['median']} s, p95 {report['p95']} s (target <= {TARGET_P95:.0f} s)")
        restart_ok = True
        if not args.no_restart:
            try:
                report["triggerer_restart"] = triggerer_restart_scenario(stack)
            except AssertionError as exc:
                restart_ok = False
                report["triggerer_restart"] = {"failed": str(exc)}
            print(f"triggerer restart: {json.dumps(report['triggerer_restart'])}", flush=True)
            wait_quiet(stack)
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
    return 0 if ok and restart_ok and not still else 1


if __name__ == "__main__":
    sys.exit(main())
