"""Apply benchmark: one full initial sync of N Salesforce records into an empty Heymarket, at real rate limits.

Run it from the repository root (it is a script, not a test; it takes minutes, not seconds)::

    .venv/bin/python -m benchmarks.bench_apply --size 2000 --baseline-sample 300     # a quick try
    .venv/bin/python -m benchmarks.bench_apply --size 100000 --out bench-apply.json  # the real run

What it does, all on this machine:

1. starts both emulators as real processes (Salesforce over TLS), loads ``size`` Salesforce records
   (60% Contacts, 40% Leads, every one with a valid and distinct US phone in a human format) and an empty
   Heymarket team that has the custom fields the shipped mapping uses;
2. sets realistic latency on both (Heymarket 80 ms + 0..40 ms, Salesforce 100 ms + 0..50 ms by default)
   and Heymarket's real limit, 500 requests per 60 s window;
3. runs the real ``heymarket_sync`` DAG once, ``mode=full``, with ``dag.test()`` in this process (the
   shipped config with its runs folder moved to a temporary directory; a SQLite state store there too);
4. measures the wall time of the run and of each task, the API calls per system (the emulators' own
   counters and the run's ``record_run`` result) and where ``apply_heymarket`` spent its time (HTTP,
   pacer waits, state commits, the rest);
5. measures the naive baseline in the same process: one ``POST /v1/contact`` per record through the same
   ``HeymarketHook`` (same pacing) into a freshly reset Heymarket, on a sample, and extrapolates it to N.

The lower bound (printed with the numbers)::

    W      = ceil(creates / 100)                     Heymarket bulk writes (POST /v2/contacts, 100 per call)
    R_hm   = 2                                       Heymarket reads an empty team needs: custom fields, 1 list page
    R_sf   = ceil(contacts / 2000) + ceil(leads / 2000)   Salesforce query pages (2,000 per page)
    bound  = 60 s * (W + R_hm) / 500  +  R_sf * L_sf
             (Heymarket calls at the 500/min limit; Salesforce pages are not rate limited but each takes at
             least the injected latency L_sf)

The target is run wall time <= 1.25 x bound. The hook paces itself at 450/min by default (connection extra
``requests_per_minute``), so a pacing-bound apply is about 500/450 = 1.11 x its share of the bound.

The naive baseline's model (``c`` = measured seconds per single-record call, ``r`` = pacing per minute)::

    pacing-bound (c < 60/r):  T(n) = 60 * floor((n - 1) / r) + ((n - 1) mod r + 1) * c
    latency-bound (c >= 60/r): T(n) = n * c

The pacer is a sliding 60 s window that lets ``r`` calls through at full speed and then one more for every
one that leaves the window. The sample's own measured time is printed next to T(sample) to show how well
the model fits; the naive run estimate is the measured run with ``apply_heymarket`` replaced by T(N).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _path in (str(REPO), str(REPO / "plugins")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from emulators.common.client import AdminClient  # noqa: E402
from emulators.common.process import EmulatorProcess, free_port  # noqa: E402
from emulators.demo_data import FIRST_NAMES, LANGUAGES, LAST_NAMES, US_AREA_CODES, US_EXCHANGES  # noqa: E402

Record = dict[str, object]

HEYMARKET_LIMIT_PER_MINUTE = 500
HEYMARKET_BATCH = 100
SALESFORCE_PAGE = 2000
#: Reads an empty Heymarket team needs at least: its custom fields (to map them) and one (empty) list page.
HEYMARKET_MIN_READS = 2
CONTACT_SHARE = 0.6
TARGET_RATIO = 1.25
HEYMARKET_FIELDS = ({"id": 1, "title": "Customer Tier"}, {"id": 2, "title": "Preferred Language"})
#: Phone formats as people type them (every one parses to the same E.164 number).
PHONE_FORMATS = (
    "({a}) {e}-{l:04d}",
    "{a}.{e}.{l:04d}",
    "+1 {a} {e} {l:04d}",
    "1{a}{e}{l:04d}",
    "{a}-{e}-{l:04d}",
)
TIERS = ("Gold", "Silver", "Bronze", None)
#: Profile label prefix of an operator's ``execute`` (our code) as opposed to the Airflow task around it.
EXECUTE = "execute "
TASKS = (
    "preflight",
    "extract_salesforce_contact",
    "extract_salesforce_lead",
    "extract_heymarket",
    "plan",
    "validate",
    "apply_heymarket",
    "apply_salesforce",
    "record_run",
)


@dataclass(frozen=True)
class Latency:
    """Injected latency of one emulator: ``ms`` on every call plus a uniform ``0..jitter_ms``."""

    ms: float
    jitter_ms: float

    @property
    def mean_seconds(self) -> float:
        return (self.ms + self.jitter_ms / 2) / 1000


@dataclass
class Settings:
    size: int
    sample: int
    heymarket: Latency
    salesforce: Latency
    rate_limit: int
    pacing: int | None
    seed: int
    workdir: Path


# ------------------------------------------------------------------------------------------------------------
# data


def phone_parts(index: int) -> tuple[int, int, int]:
    """Pool index -> (area code, exchange, line): distinct for every index below 5 * 790 * 10,000."""
    line = index % 10_000
    rest = index // 10_000
    return US_AREA_CODES[rest // len(US_EXCHANGES)], int(US_EXCHANGES[rest % len(US_EXCHANGES)]), line


def salesforce_records(size: int, seed: int) -> dict[str, list[Record]]:
    """``size`` records (Contacts first, then Leads), each with a distinct valid phone; admin-load shape."""
    import numpy as np

    rng = np.random.default_rng(seed)
    firsts = rng.integers(0, len(FIRST_NAMES), size).tolist()
    lasts = rng.integers(0, len(LAST_NAMES), size).tolist()
    tiers = rng.integers(0, len(TIERS), size).tolist()
    languages = rng.integers(0, len(LANGUAGES), size).tolist()
    n_contacts = round(size * CONTACT_SHARE)
    result: dict[str, list[Record]] = {"Contact": [], "Lead": []}
    for i in range(size):
        area, exchange, line = phone_parts(i)
        first, last = FIRST_NAMES[firsts[i]], LAST_NAMES[lasts[i]]
        record: Record = {
            "FirstName": first,
            "LastName": last,
            "Email": f"{first}.{last}.{i}@bench.example.com".lower().replace("'", ""),
            "Phone": PHONE_FORMATS[i % len(PHONE_FORMATS)].format(a=area, e=exchange, l=line),
        }
        if LANGUAGES[languages[i]] is not None:
            record["Preferred_Language__c"] = LANGUAGES[languages[i]]
        if i < n_contacts:
            if TIERS[tiers[i]] is not None:
                record["Customer_Tier__c"] = TIERS[tiers[i]]
            result["Contact"].append(record)
        else:
            record.update(Company="Bench Corp", Status="Open - Not Contacted")
            result["Lead"].append(record)
    return result


def check_phones(records: dict[str, list[Record]]) -> None:
    """Fail early if a generated phone is not valid and distinct under the sync's own rules."""
    import pandas as pd

    from sync_engine.phones import normalise_phones

    raw = pd.Series([r["Phone"] for rs in records.values() for r in rs], dtype=object)
    phones = normalise_phones(raw, "US")["phone"]
    if phones.isna().any() or phones.duplicated().any():
        raise SystemExit(
            f"generated phones: {int(phones.isna().sum())} invalid, "
            f"{int(phones.duplicated().sum())} duplicated; fix phone_parts()"
        )


def heymarket_contact(record: Record) -> Record:
    """The create payload the sync would send for this record (E.164 digits, names, email, custom fields)."""
    from sync_engine.phones import normalise_phone

    phone, _ = normalise_phone(str(record["Phone"]))
    custom = {"1": record.get("Customer_Tier__c") or "", "2": record.get("Preferred_Language__c") or ""}
    return {
        "phone": phone,
        "first": record["FirstName"],
        "last": record["LastName"],
        "email": record["Email"],
        "custom": {k: v for k, v in custom.items() if v},
    }


# ------------------------------------------------------------------------------------------------------------
# environment: Airflow home, emulators, connections


def prepare_airflow(workdir: Path) -> None:
    """An Airflow home of its own (metadata DB, runs, state) in *workdir*; must run before airflow is imported."""
    from scripts.airflow_env import prepare_environment

    os.environ["AIRFLOW_HOME"] = str(workdir / "airflow")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{workdir / 'airflow' / 'airflow.db'}"
    prepare_environment(sandbox_env=workdir / "no-sandbox-env")  # never the developer's sandbox


@contextlib.contextmanager
def emulators(workdir: Path) -> Iterator[tuple[EmulatorProcess, EmulatorProcess]]:
    """Both emulators as real processes on free ports; stopped (only these two) on the way out."""
    from emulators.common.tls import ensure_certificate

    cert_dir = workdir / "certs"
    ensure_certificate(cert_dir)
    sf = EmulatorProcess(
        "salesforce",
        free_port(),
        scheme="https",
        extra_args=["--cert-dir", str(cert_dir)],
        tls_cert=cert_dir / "cert.pem",
        log_path=workdir / "salesforce.log",
    )
    hm = EmulatorProcess("heymarket", free_port(), log_path=workdir / "heymarket.log")
    os.environ["REQUESTS_CA_BUNDLE"] = str(sf.tls_cert)
    try:
        sf.start()
        hm.start()
        yield sf, hm
    finally:
        hm.stop()
        sf.stop()


def set_connections(sf: EmulatorProcess, hm: EmulatorProcess, state_url: str, pacing: int | None) -> None:
    from emulators.sandbox import heymarket_connection, salesforce_connection

    hm_conn = heymarket_connection(hm.port)
    if pacing is not None:
        hm_conn["extra"] = {"requests_per_minute": pacing}
    os.environ["AIRFLOW_CONN_SALESFORCE_DEFAULT"] = json.dumps(salesforce_connection(sf.port))
    os.environ["AIRFLOW_CONN_HEYMARKET_DEFAULT"] = json.dumps(hm_conn)
    os.environ["AIRFLOW_CONN_HEYMARKET_SYNC_STATE"] = json.dumps(
        {"conn_type": "generic", "extra": {"url": state_url}}
    )


def write_config(workdir: Path) -> Path:
    """The shipped sync.yaml with its runs folder in *workdir*."""
    import yaml

    config = yaml.safe_load((REPO / "include" / "mappings" / "sync.yaml").read_text())
    config.setdefault("state", {})["runs_root"] = str(workdir / "runs")
    path = workdir / "sync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    os.environ["HEYMARKET_SYNC_CONFIG"] = str(path)
    return path


def fresh_heymarket(admin: AdminClient, settings: Settings) -> None:
    """An empty team with the mapped custom fields, realistic latency and the real rate limit."""
    admin.reset()
    admin.load({"fields": list(HEYMARKET_FIELDS)})
    admin.faults(
        latency_ms=settings.heymarket.ms,
        latency_jitter_ms=settings.heymarket.jitter_ms,
        rate_limit_per_minute=settings.rate_limit,
        seed=settings.seed,
    )
    admin.reset_stats()


def load_salesforce(admin: AdminClient, records: dict[str, list[Record]], settings: Settings) -> None:
    admin.reset()
    chunk = 20_000
    for obj, rows in records.items():
        for start in range(0, len(rows), chunk):
            admin.load({obj: rows[start : start + chunk]})
    admin.faults(
        latency_ms=settings.salesforce.ms, latency_jitter_ms=settings.salesforce.jitter_ms, seed=settings.seed
    )
    admin.reset_stats()


# ------------------------------------------------------------------------------------------------------------
# profiling: where apply_heymarket spends its time (wrappers around a few methods, this process only)


@dataclass
class Profile:
    seconds: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)

    def wrap(self, owner: type, name: str, label: str | Callable[..., str]) -> Callable[[], None]:
        """Time every call of ``owner.name`` under *label* (or ``label(*args)``); returns the undo."""
        original = getattr(owner, name)

        def timed(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                key = label if isinstance(label, str) else label(*args)
                self.seconds[key] += time.perf_counter() - start
                self.calls[key] += 1

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, original)

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {
            label: {"seconds": round(self.seconds[label], 3), "calls": self.calls[label]}
            for label in sorted(self.seconds)
        }

    def clear(self) -> None:
        self.seconds.clear()
        self.calls.clear()


@contextlib.contextmanager
def cprofiled(owner: type, name: str, out: Path | None) -> Iterator[None]:
    """With *out*: run ``owner.name`` under cProfile and write its statistics there (``pstats`` format)."""
    if out is None:
        yield
        return
    import cProfile

    original = getattr(owner, name)
    profiler = cProfile.Profile()

    def profiled_call(*args: object, **kwargs: object) -> object:
        return profiler.runcall(original, *args, **kwargs)

    setattr(owner, name, profiled_call)
    try:
        yield
    finally:
        setattr(owner, name, original)
        profiler.dump_stats(out)


@contextlib.contextmanager
def profiled() -> Iterator[Profile]:
    import sync_operators
    from heymarket_hook.hook import HeymarketHook
    from heymarket_hook.pacing import Pacer
    from sync_engine.apply import PlanApplier
    from sync_operators.adapters import HookHeymarketWriter, StoreApplyState

    profile = Profile()
    undo = [profile.wrap(getattr(sync_operators, name), "execute", lambda op, *_: f"{EXECUTE}{op.task_id}")
            for name in sync_operators.__all__ if name.endswith("Operator") and "Setup" not in name]
    undo += [
        profile.wrap(Pacer, "acquire", "heymarket pacer wait"),
        profile.wrap(HeymarketHook, "_send_once", "heymarket request (incl. pacer wait)"),
        profile.wrap(HookHeymarketWriter, "upsert", "heymarket upsert (writer)"),
        profile.wrap(StoreApplyState, "commit_batch", "state commit_batch"),
        profile.wrap(PlanApplier, "apply_heymarket", "apply_heymarket (applier)"),
    ]
    try:
        yield profile
    finally:
        for step in reversed(undo):
            step()


# ------------------------------------------------------------------------------------------------------------
# the measured sync run


@dataclass
class SyncRun:
    state: str
    wall_seconds: float
    task_seconds: dict[str, float]
    record_run: dict[str, object]
    apply_heymarket: dict[str, object]
    plan_counts: dict[str, dict[str, int]]
    salesforce_rows: dict[str, int]
    heymarket_stats: dict[str, object]
    salesforce_stats: dict[str, object]
    execute_seconds: dict[str, float]
    profile: dict[str, dict[str, float]]


def run_sync(config_path: Path, hm_admin: AdminClient, sf_admin: AdminClient, log_path: Path,
             cprofile_out: Path | None = None) -> SyncRun:
    """One real ``heymarket_sync`` run (mode full) with ``dag.test()``; its task logs go to *log_path*.

    :param cprofile_out: also profile ``PlanApplier.apply_heymarket`` with cProfile and write it here.
    """
    from sync_engine.apply import PlanApplier

    dag = load_bench_dag("heymarket_sync", config_path, log_path)
    conf = {
        "mode": "full",
        "objects": ["Contact", "Lead"],
        "record_ids": [],
        "dry_run": False,
        "allow_mass_delete": False,
    }
    hm_admin.reset_stats()
    sf_admin.reset_stats()
    with profiled() as profile, cprofiled(PlanApplier, "apply_heymarket", cprofile_out), _quiet(log_path):
        start = time.perf_counter()
        dag_run = dag.test(run_conf=conf)
        wall = time.perf_counter() - start
    hm_stats, sf_stats = hm_admin.stats(), sf_admin.stats()
    timings = profile.snapshot()

    def xcom(task_id: str) -> dict[str, object]:
        ti = dag_run.get_task_instance(task_id)
        return dict((ti.xcom_pull(task_ids=task_id) if ti is not None else None) or {})

    durations = {}
    for ti in dag_run.get_task_instances():
        if ti.start_date and ti.end_date:
            durations[ti.task_id] = round((ti.end_date - ti.start_date).total_seconds(), 2)
    return SyncRun(
        state=str(dag_run.state),
        wall_seconds=round(wall, 2),
        task_seconds={t: durations[t] for t in TASKS if t in durations},
        record_run=xcom("record_run"),
        apply_heymarket=xcom("apply_heymarket"),
        plan_counts=dict(xcom("plan").get("counts") or {}),
        salesforce_rows={
            obj: int(xcom(f"extract_salesforce_{obj.lower()}").get("rows") or 0)
            for obj in ("Contact", "Lead")
        },
        heymarket_stats=hm_stats,
        salesforce_stats=sf_stats,
        execute_seconds={label[len(EXECUTE):]: v["seconds"] for label, v in timings.items()
                         if label.startswith(EXECUTE)},
        profile={label: v for label, v in timings.items() if not label.startswith(EXECUTE)},
    )


def load_bench_dag(dag_id: str, config_path: Path, log_path: Path):  # noqa: ANN201 - airflow.sdk.DAG
    """The real DAG for a ``dag.test()`` benchmark run, as the e2e harness sets it up: reading this copy of the
    config, with no task retries to wait out (a failure shows at once); Airflow's output goes to *log_path*."""
    from scripts.airflow_env import ensure_metadata_db, load_dag

    with _quiet(log_path):
        ensure_metadata_db()
        dag = load_dag(dag_id)
    for task in dag.tasks:
        task.retries = 0
        if hasattr(task, "config_path"):
            task.config_path = str(config_path)
    return dag


@contextlib.contextmanager
def _quiet(log_path: Path) -> Iterator[None]:
    """Send what Airflow prints (thousands of task log lines at this size) to a file instead of the screen."""
    import logging

    with (
        open(log_path, "a", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        handler = logging.StreamHandler(log)
        root = logging.getLogger()
        saved = root.handlers[:]
        root.handlers = [handler]
        try:
            yield
        finally:
            root.handlers = saved


# ------------------------------------------------------------------------------------------------------------
# the naive baseline


@dataclass
class Baseline:
    sample: int
    pacing: int
    wall_seconds: float
    calls: dict[str, int]
    failures: int
    seconds_per_call: float
    pacer_waited_seconds: float
    model_sample_seconds: float


def run_baseline(contacts: list[Record], hm_admin: AdminClient, settings: Settings) -> Baseline:
    """One ``POST /v1/contact`` per contact, in order, through a fresh hook (the connection's pacing)."""
    from heymarket_hook import HeymarketHook
    from heymarket_hook.errors import HeymarketError

    fresh_heymarket(hm_admin, settings)
    hook = HeymarketHook("heymarket_default")
    pacing = hook.pacer.max_calls
    finished: list[float] = []
    failures = 0
    start = time.perf_counter()
    for contact in contacts:
        try:
            hook.create_contact(contact)
        except HeymarketError:
            failures += 1
        finished.append(time.perf_counter() - start)
    wall = finished[-1] if finished else 0.0
    stats = hm_admin.stats()
    # Seconds per call while the pacer let calls through at full speed (the first `pacing` calls).
    unpaced = min(len(finished), pacing)
    per_call = finished[unpaced - 1] / unpaced if unpaced else 0.0
    return Baseline(
        sample=len(contacts),
        pacing=pacing,
        wall_seconds=round(wall, 2),
        calls=dict(stats["by_endpoint"]),
        failures=failures,
        seconds_per_call=per_call,
        pacer_waited_seconds=round(hook.pacer.waited_seconds, 2),
        model_sample_seconds=round(naive_seconds(len(contacts), per_call, pacing), 2),
    )


def count_contacts() -> int:
    """Contacts in Heymarket now (one API call, made after the run's counters were read)."""
    from heymarket_hook import HeymarketHook

    return HeymarketHook("heymarket_default", requests_per_minute=1).count_contacts()


def naive_seconds(n: int, per_call: float, pacing: int) -> float:
    """Time for *n* sequential single-record calls through a sliding-window pacer of *pacing* per minute."""
    if n <= 0:
        return 0.0
    if per_call >= 60 / pacing:
        return n * per_call
    return 60 * ((n - 1) // pacing) + ((n - 1) % pacing + 1) * per_call


# ------------------------------------------------------------------------------------------------------------
# the report


def endpoint_calls(stats: dict[str, object]) -> dict[str, int]:
    return {str(k): int(v) for k, v in dict(stats.get("by_endpoint") or {}).items()}


def bound_of(run: SyncRun, settings: Settings) -> dict[str, object]:
    counts = run.plan_counts
    creates = sum(int(c.get("create_heymarket", 0)) for c in counts.values())
    updates = sum(int(c.get("update_heymarket", 0)) for c in counts.values())
    contacts, leads = run.salesforce_rows["Contact"], run.salesforce_rows["Lead"]
    writes = math.ceil((creates + updates) / HEYMARKET_BATCH)
    pages = math.ceil(contacts / SALESFORCE_PAGE) + math.ceil(leads / SALESFORCE_PAGE)
    hm_seconds = 60 * (writes + HEYMARKET_MIN_READS) / settings.rate_limit
    sf_seconds = pages * settings.salesforce.ms / 1000
    bound = hm_seconds + sf_seconds
    apply = run.task_seconds.get("apply_heymarket", 0.0)
    return {
        "formula": f"60 s * (W + R_hm) / {settings.rate_limit} + R_sf * L_sf",
        "heymarket_writes_W": writes,
        "heymarket_reads_R_hm": HEYMARKET_MIN_READS,
        "salesforce_pages_R_sf": pages,
        "salesforce_latency_L_sf_seconds": settings.salesforce.ms / 1000,
        "heymarket_seconds": round(hm_seconds, 2),
        "salesforce_seconds": round(sf_seconds, 2),
        "seconds": round(bound, 2),
        "ratio": round(run.wall_seconds / bound, 3) if bound else None,
        "target_ratio": TARGET_RATIO,
        "apply_heymarket_bound_seconds": round(60 * writes / settings.rate_limit, 2),
        "apply_heymarket_ratio": round(apply / (60 * writes / settings.rate_limit), 3) if writes else None,
    }


def naive_of(run: SyncRun, baseline: Baseline, size: int) -> dict[str, object]:
    hm_calls = endpoint_calls(run.heymarket_stats)
    bulk_writes = hm_calls.get("POST /v2/contacts", 0)
    creates = sum(int(c.get("create_heymarket", 0)) for c in run.plan_counts.values())
    writes = naive_seconds(creates, baseline.seconds_per_call, baseline.pacing)
    apply = run.task_seconds.get("apply_heymarket", 0.0)
    return {
        "measured_on_sample": baseline.sample,
        "formula": "T(n) = 60*floor((n-1)/r) + ((n-1) mod r + 1)*c  if c < 60/r  else  n*c",
        "seconds_per_call_c": round(baseline.seconds_per_call, 4),
        "pacing_r_per_minute": baseline.pacing,
        "sample_measured_seconds": baseline.wall_seconds,
        "sample_model_seconds": baseline.model_sample_seconds,
        "sample_calls": baseline.calls,
        "sample_failures": baseline.failures,
        "sample_pacer_waited_seconds": baseline.pacer_waited_seconds,
        "extrapolated_heymarket_calls": sum(hm_calls.values()) - bulk_writes + creates,
        "extrapolated_write_seconds": round(writes, 1),
        "extrapolated_run_seconds": round(run.wall_seconds - apply + writes, 1),
        "records": size,
    }


def machine() -> dict[str, object]:
    load = os.getloadavg()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def markdown_report(report: dict[str, object]) -> str:
    """The results file: machine, date, command, the side-by-side table and the details behind it."""
    sync, bound, naive, cfg = report["sync"], report["bound"], report["naive_baseline"], report["settings"]
    hm_total, sf_total = sum(sync["heymarket_calls"].values()), sum(sync["salesforce_calls"].values())
    apply = sync["task_seconds"].get("apply_heymarket", 0)
    naive_ratio = naive["extrapolated_run_seconds"] / bound["seconds"] if bound["seconds"] else float("nan")
    machine_info = report["machine"]
    lines = [
        "# Apply benchmark: results",
        "",
        f"- **Date**: {report['date']}",
        f"- **Machine**: {machine_info['platform']}, {machine_info['cpus']} CPUs, Python {machine_info['python']}; "
        f"load average (1, 5, 15 min) at start {machine_info['load_average_at_start']}, after the sync "
        f"{machine_info.get('load_average_after_sync')}",
        f"- **Command**: `{report['command']}`",
        f"- **Setup**: {report['size']:,} Salesforce records ({sync['salesforce_rows']['Contact']:,} Contacts, "
        f"{sync['salesforce_rows']['Lead']:,} Leads) into an empty Heymarket; latency Heymarket "
        f"{cfg['heymarket_latency']}, Salesforce {cfg['salesforce_latency']}; Heymarket limit "
        f"{cfg['rate_limit']}/min (fixed window); hook pacing {cfg['pacing_per_minute']}/min; one `heymarket_sync` "
        f"run, `mode=full`, with `dag.test()`; run state **{sync['state']}**, Heymarket ends with "
        f"{sync['heymarket_contacts_after']:,} contacts.",
        "",
        f"| | bulk sync (measured) | naive, 1 call per record (measured on {naive['measured_on_sample']:,}, "
        "extrapolated) |",
        "|---|---:|---:|",
        f"| Heymarket API calls | {hm_total:,} | {naive['extrapolated_heymarket_calls']:,} |",
        f"| Salesforce API calls | {sf_total:,} | {sf_total:,} (same reads) |",
        f"| Heymarket write time | {apply:,.1f} s | {naive['extrapolated_write_seconds']:,.1f} s |",
        f"| Run wall time | {sync['wall_seconds']:,.1f} s | {naive['extrapolated_run_seconds']:,.1f} s |",
        f"| Ratio to the lower bound ({bound['seconds']} s) | **{bound['ratio']:.2f}×** | {naive_ratio:.1f}× |",
        "",
        f"Lower bound = {bound['formula']} = 60 × ({bound['heymarket_writes_W']} + {bound['heymarket_reads_R_hm']})"
        f" / {cfg['rate_limit']} + {bound['salesforce_pages_R_sf']} × {bound['salesforce_latency_L_sf_seconds']} s"
        f" = {bound['seconds']} s; target ≤ {bound['target_ratio']}× = {bound['seconds'] * bound['target_ratio']:.1f} s.",
        "",
        f"`apply_heymarket` alone: {apply:.1f} s against {bound['apply_heymarket_bound_seconds']} s for "
        f"{bound['heymarket_writes_W']} calls at {cfg['rate_limit']}/min = **{bound['apply_heymarket_ratio']}×** "
        f"(the hook's {cfg['pacing_per_minute']}/min pacing alone puts a pacing-bound apply at about "
        f"{cfg['rate_limit'] / cfg['pacing_per_minute']:.2f}× of that, less the sliding window's first burst).",
        "",
        "| task | Airflow task time | of which the operator's `execute` |",
        "|---|---:|---:|",
        *[f"| {t} | {s:.1f} s | {sync['execute_seconds'].get(t, 0):.1f} s |" for t, s in sync["task_seconds"].items()],
        "",
        f"Outside the operators' `execute` (the `dag.test()` harness: in-process execution API, task start and "
        f"finish): {sync['outside_execute_seconds']:.1f} s.",
        "",
        "Inside `apply_heymarket` (seconds summed over the threads that ran them: two calls are on the wire at "
        "once): " + "; ".join(
            f"{label} {v['seconds']:.1f} s over {v['calls']:,} calls" for label, v in sync["profile"].items()) + ".",
        "",
        f"Heymarket calls by endpoint: {_inline(sync['heymarket_calls'])}; HTTP statuses "
        f"{_inline(sync['heymarket_statuses'])}. Salesforce calls by endpoint: {_inline(sync['salesforce_calls'])}. "
        f"As recorded by `record_run` in the run history: "
        f"{_inline(sync['record_run_api_calls'])}.",
        "",
        f"Naive baseline: **measured** on {naive['measured_on_sample']:,} records (one `POST /v1/contact` each, "
        f"same hook and pacing, freshly reset Heymarket): {naive['sample_measured_seconds']} s "
        f"(the model predicts {naive['sample_model_seconds']} s for the sample), "
        f"c = {naive['seconds_per_call_c'] * 1000:.0f} ms per call, pacer waits {naive['sample_pacer_waited_seconds']} s, "
        f"{naive['sample_failures']} failures; **extrapolated** to {report['size']:,} with "
        f"`{naive['formula']}` (r = {naive['pacing_r_per_minute']}/min) plus the measured run without its "
        "Heymarket apply.",
        "",
    ]
    return "\n".join(lines)


def _inline(mapping: dict[str, object]) -> str:
    return ", ".join(f"`{k}` {v:,}" if isinstance(v, int) else f"`{k}` {v}" for k, v in mapping.items())


def print_report(report: dict[str, object]) -> None:
    sync, bound, naive = report["sync"], report["bound"], report["naive_baseline"]
    hm_total = sum(sync["heymarket_calls"].values())
    sf_total = sum(sync["salesforce_calls"].values())
    rows = [
        (
            "",
            "bulk sync (measured)",
            f"naive 1 call/record (sample {naive['measured_on_sample']}, extrapolated)",
        ),
        ("Heymarket API calls", f"{hm_total:,}", f"{naive['extrapolated_heymarket_calls']:,}"),
        ("Salesforce API calls", f"{sf_total:,}", f"{sf_total:,} (same reads)"),
        (
            "Heymarket write time",
            f"{sync['task_seconds'].get('apply_heymarket', 0):,.1f} s",
            f"{naive['extrapolated_write_seconds']:,.1f} s",
        ),
        ("Run wall time", f"{sync['wall_seconds']:,.1f} s", f"{naive['extrapolated_run_seconds']:,.1f} s"),
        (
            "Ratio to the lower bound",
            f"{bound['ratio']:.2f}x",
            f"{naive['extrapolated_run_seconds'] / bound['seconds']:.2f}x" if bound["seconds"] else "-",
        ),
    ]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    print(
        f"\nApply benchmark: full initial sync of {report['size']:,} Salesforce records into an empty Heymarket"
    )
    print(
        f"  latency: Heymarket {report['settings']['heymarket_latency']}, Salesforce "
        f"{report['settings']['salesforce_latency']}; Heymarket limit {report['settings']['rate_limit']}/min; "
        f"hook pacing {report['settings']['pacing_per_minute']}/min; run state: {sync['state']}"
    )
    for row in rows:
        print("  " + "  ".join(cell.ljust(width[i]) for i, cell in enumerate(row)))
    print(
        f"\n  lower bound = {bound['formula']} = 60 * ({bound['heymarket_writes_W']} + "
        f"{bound['heymarket_reads_R_hm']}) / {report['settings']['rate_limit']} + "
        f"{bound['salesforce_pages_R_sf']} * {bound['salesforce_latency_L_sf_seconds']} s = {bound['seconds']} s"
        f"  (target <= {TARGET_RATIO}x = {bound['seconds'] * TARGET_RATIO:.1f} s)"
    )
    print(
        f"  apply_heymarket alone: {sync['task_seconds'].get('apply_heymarket', 0):.1f} s vs "
        f"{bound['apply_heymarket_bound_seconds']} s at the limit = {bound['apply_heymarket_ratio']}x "
        f"(pacing {report['settings']['pacing_per_minute']}/min alone makes this >= "
        f"{report['settings']['rate_limit'] / report['settings']['pacing_per_minute']:.2f}x when pacing-bound)"
    )
    print("  tasks, Airflow task time (of which the operator's execute):\n    " + ", ".join(
        f"{t} {s:.1f} s ({sync['execute_seconds'].get(t, 0):.1f})" for t, s in sync["task_seconds"].items()))
    print(f"  outside the operators' execute (dag.test harness, task start/finish): "
          f"{sync['outside_execute_seconds']:.1f} s")
    print(
        "  apply_heymarket profile (seconds summed over threads): "
        + ", ".join(f"{label} {v['seconds']:.1f} s/{v['calls']}" for label, v in sync["profile"].items())
    )
    print(
        f"  Heymarket calls by endpoint: {sync['heymarket_calls']}; HTTP statuses {sync['heymarket_statuses']}"
    )
    print(f"  Salesforce calls by endpoint: {sync['salesforce_calls']}")
    print(f"  record_run api_calls: {sync['record_run_api_calls']}")
    print(
        f"\n  naive baseline: MEASURED on {naive['measured_on_sample']} records ({naive['sample_measured_seconds']} s,"
        f" model says {naive['sample_model_seconds']} s, c = {naive['seconds_per_call_c'] * 1000:.0f} ms/call, "
        f"pacer waits {naive['sample_pacer_waited_seconds']} s), EXTRAPOLATED to {report['size']:,} with "
        f"{naive['formula']}"
    )


# ------------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_apply", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--size", type=int, default=100_000, help="Salesforce records (default 100000)")
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=2000,
        help="records the naive baseline writes one by one (default 2000, at most --size)",
    )
    parser.add_argument("--hm-latency-ms", type=float, default=80.0)
    parser.add_argument("--hm-jitter-ms", type=float, default=40.0)
    parser.add_argument("--sf-latency-ms", type=float, default=100.0)
    parser.add_argument("--sf-jitter-ms", type=float, default=50.0)
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=HEYMARKET_LIMIT_PER_MINUTE,
        help="Heymarket emulator requests per 60 s window (default 500, the real limit)",
    )
    parser.add_argument(
        "--pacing",
        type=int,
        default=None,
        help="hook pacing per minute (connection extra requests_per_minute); default: the hook's",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="write the results as Markdown here (e.g. benchmarks/results-apply.md)")
    parser.add_argument("--cprofile", type=Path, default=None,
                        help="profile the Heymarket apply with cProfile; pstats file written here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, state DB, runs)")
    args = parser.parse_args(argv)
    if args.size < 1 or args.baseline_sample < 0:
        parser.error("--size must be positive and --baseline-sample not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="hm-bench-apply-"))
    settings = Settings(
        size=args.size,
        sample=min(args.baseline_sample, args.size),
        heymarket=Latency(args.hm_latency_ms, args.hm_jitter_ms),
        salesforce=Latency(args.sf_latency_ms, args.sf_jitter_ms),
        rate_limit=args.rate_limit,
        pacing=args.pacing,
        seed=args.seed,
        workdir=workdir,
    )
    started = dt.datetime.now(dt.UTC)
    info = machine()
    prepare_airflow(workdir)
    config_path = write_config(workdir)
    print(f"work folder {workdir} (task logs in {workdir / 'airflow-run.log'})", flush=True)
    try:
        t = time.perf_counter()
        records = salesforce_records(settings.size, settings.seed)
        check_phones(records)
        print(f"generated {settings.size:,} records in {time.perf_counter() - t:.1f} s", flush=True)
        with emulators(workdir) as (sf, hm):
            sf_admin = AdminClient(sf.base_url, verify=str(sf.tls_cert))
            hm_admin = AdminClient(hm.base_url)
            set_connections(sf, hm, f"sqlite:///{workdir / 'state.db'}", settings.pacing)
            t = time.perf_counter()
            load_salesforce(sf_admin, records, settings)
            fresh_heymarket(hm_admin, settings)
            print(
                f"loaded the emulators in {time.perf_counter() - t:.1f} s; running heymarket_sync (full)...",
                flush=True,
            )
            run = run_sync(config_path, hm_admin, sf_admin, workdir / "airflow-run.log", args.cprofile)
            info["load_average_after_sync"] = [round(x, 2) for x in os.getloadavg()]
            contacts_in_hm = count_contacts()
            print(
                f"sync run {run.state} in {run.wall_seconds:.1f} s; Heymarket now has {contacts_in_hm} "
                f"contacts; naive baseline on {settings.sample} records...",
                flush=True,
            )
            sample = [heymarket_contact(r) for r in (records["Contact"] + records["Lead"])[: settings.sample]]
            baseline = run_baseline(sample, hm_admin, settings)
        report = build_report(args, settings, info, started, run, baseline, contacts_in_hm)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\n  numbers written to {args.out}")
    if args.markdown:
        args.markdown.write_text(markdown_report(report))
        print(f"  results written to {args.markdown}")
    ok = run.state == "success" and contacts_in_hm == settings.size
    if not ok:
        print(
            f"\nTHE SYNC RUN DID NOT CONVERGE: state {run.state}, {contacts_in_hm} of {settings.size} contacts "
            "in Heymarket; see the task log (rerun with --keep)",
            file=sys.stderr,
        )
    return 0 if ok else 1


def build_report(
    args: argparse.Namespace,
    settings: Settings,
    info: dict[str, object],
    started: dt.datetime,
    run: SyncRun,
    baseline: Baseline,
    contacts_in_hm: object,
) -> dict[str, object]:
    pacing = settings.pacing or baseline.pacing
    record_calls = dict(run.record_run.get("api_calls") or {})
    return {
        "benchmark": "apply",
        "date": started.isoformat(timespec="seconds"),
        "machine": info,
        "command": "python -m benchmarks.bench_apply " + " ".join(sys.argv[1:] if args else []),
        "size": settings.size,
        "settings": {
            "heymarket_latency": f"{settings.heymarket.ms:g} ms + 0..{settings.heymarket.jitter_ms:g} ms",
            "salesforce_latency": f"{settings.salesforce.ms:g} ms + 0..{settings.salesforce.jitter_ms:g} ms",
            "rate_limit": settings.rate_limit,
            "pacing_per_minute": pacing,
            "batch_size": HEYMARKET_BATCH,
            "seed": settings.seed,
        },
        "sync": {
            "state": run.state,
            "wall_seconds": run.wall_seconds,
            "task_seconds": run.task_seconds,
            "heymarket_contacts_after": contacts_in_hm,
            "salesforce_rows": run.salesforce_rows,
            "plan_counts": run.plan_counts,
            "applied_heymarket": run.apply_heymarket.get("counts"),
            "heymarket_calls": endpoint_calls(run.heymarket_stats),
            "heymarket_statuses": dict(run.heymarket_stats.get("by_status") or {}),
            "salesforce_calls": endpoint_calls(run.salesforce_stats),
            "record_run_api_calls": {system: sum(v.values()) for system, v in record_calls.items()},
            "record_run_api_calls_by_endpoint": record_calls,
            "execute_seconds": run.execute_seconds,
            "outside_execute_seconds": round(run.wall_seconds - sum(run.execute_seconds.values()), 2),
            "profile": run.profile,
        },
        "bound": bound_of(run, settings),
        "naive_baseline": naive_of(run, baseline, settings.size),
    }


if __name__ == "__main__":
    sys.exit(main())
