"""``make demo``, ``make sync``, ``make setup`` and ``make sandbox-up/down`` as a user (and the acceptance tests
outside this repository) runs them: real ``make`` in a subprocess, with the sandbox and the Airflow home in a
temporary folder so that a developer's own sandbox is never touched.

Every command's output is also checked for what must not reach a user's terminal: Python warnings, log lines
of libraries, tracebacks (:func:`assert_readable`).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from emulators.common.client import AdminClient
from emulators.demo_data import generate
from emulators.sandbox import read_env
from tests.isolation import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WRITES = {"created", "updated", "deleted", "linked", "unlinked", "failed"}
#: Loggers of this project: their warnings and errors are messages for the user (a retry, a rejected record).
OWN_LOGGERS = ("heymarket_hook", "salesforce_access", "sync_engine", "sync_operators", "sync_history")
#: A log line as Airflow's console renderer prints it: ``<time> [<level>] <event> [<logger>] key=value ...``.
LOG_LINE = re.compile(r"^\S+ \[(?P<level>\w+)\s*\] (?P<event>.*?)\s+\[(?P<logger>[\w.]+)\]")
#: How Python's default ``showwarning`` prints a warning: ``path:line: SomeWarning: message``.
PYTHON_WARNING = re.compile(r":\d+: \w*Warning: ")


@pytest.fixture
def make_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MAKE", "MFLAGS", "LOG_LEVEL"))}
    env.update(HEYMARKET_SYNC_SANDBOX_DIR=str(tmp_path / "sandbox"), AIRFLOW_HOME=str(tmp_path / "airflow"),
               SF_PORT=str(free_port()), HM_PORT=str(free_port()), DEMO_SIZE="60")
    yield env
    subprocess.run(["make", "-s", "sandbox-down"], cwd=REPO, env=env, capture_output=True, timeout=60, check=False)


def make(env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def summary_rows(text: str) -> list[tuple[str, str, str, int]]:
    """(object, direction, action, count) rows of the summary tables in ``text``."""
    rows = re.findall(r"^(Contact|Lead)\s+(to_heymarket|to_salesforce|state)\s+(\w+)\s+(\d+)$", text, re.M)
    return [(o, d, a, int(n)) for o, d, a, n in rows]


def unreadable_lines(text: str) -> list[str]:
    """Lines a user should not have to read: tracebacks, Python warnings, library log lines at warning or
    above. Kept: this project's own warnings (a retry, a rejected record) and the one line Airflow's task
    runner logs for a failed task, which ``scripts/terminal.py`` folds to the exception's type and message."""
    found = []
    for line in text.splitlines():
        log = LOG_LINE.match(line)
        if "Traceback (most recent call last)" in line or PYTHON_WARNING.search(line) or "py.warnings" in line:
            found.append(line)
        elif log and log["level"] in ("warning", "error", "critical"):
            own = any(name in log["logger"] for name in OWN_LOGGERS)
            task_failed = log["logger"] == "task" and log["event"].startswith("Task failed with exception: ")
            if not (own or task_failed):
                found.append(line)
    return found


def assert_readable(result: subprocess.CompletedProcess[str], what: str) -> None:
    lines = unreadable_lines(result.stdout + "\n" + result.stderr)
    assert not lines, f"{what} printed library warnings, library log lines or a traceback:\n" + "\n".join(
        line[:300] for line in lines[:20])


def test_the_readability_check_catches_what_make_printed_before() -> None:
    """Lines captured from ``make demo`` / ``make sync`` before their output was cleaned up."""
    before = """\
2026-12-07T01:26:30.803365Z [warning  ] Using `httpx` with `starlette.testclient` is deprecated; install `httpx2` instead. [py.warnings] category=StarletteDeprecationWarning filename=x.py lineno=1
2026-12-07T01:26:51.785705Z [warning  ] Skipping masking for a secret as it's too short (<5 chars) [airflow.sdk._shared.secrets_masker.secrets_masker] loc=secrets_masker.py:611
2026-12-07T01:29:10.969665Z [warning  ] No tasks to run. unrunnable tasks: {<TaskInstance: heymarket_sync.record_run>} [airflow.sdk.definitions.dag] loc=dag.py:1424
2026-12-07T01:29:12.282381Z [error    ] XCom not found                 [airflow.sdk.api.client] dag_id=heymarket_sync
2026-12-07T01:29:10.582746Z [error    ] Task failed with exception     [task] loc=task_runner.py:1639
Traceback (most recent call last):
/usr/lib/python3/site.py:12: DeprecationWarning: old
"""
    assert len(unreadable_lines(before)) == 7
    kept = """\
2026-12-07T01:28:50.691060Z [warning  ] Heymarket GET /v1/inboxes: HeymarketConnectionError (attempt 1/6); retrying in 0.2s [X-Request-Id None] [airflow.task.hooks.heymarket_hook.hook.HeymarketHook] loc=hook.py:424
2026-12-07T01:29:02.810240Z [warning  ] Salesforce call to read the org's limits failed (ConnectionError); retry 1 of 3 in 1.1 s [salesforce_access.access] loc=access.py:312
2026-12-07T01:35:30.148434Z [error    ] Task failed with exception: AirflowFailException: Preflight failed: - Heymarket connection [task] loc=task_runner.py:1639
Run manual__2026-12-07T01:28:34.967295+00:00: FAILED
"""
    assert unreadable_lines(kept) == []


@pytest.mark.timeout(1200)  # eight make commands, two of them waiting out the hooks' retries against a dead API
def test_make_demo_sync_and_setup_as_a_user_runs_them(make_env: dict[str, str]) -> None:
    own_env = REPO / ".sandbox" / "env"
    own_before = own_env.read_bytes() if own_env.exists() else None
    demo = make(make_env, "demo")
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert_readable(demo, "make demo")
    first, _, second = demo.stdout.partition("4/4  Second run")
    assert "Run " in first and ": SUCCESS" in first
    created = {(o, d): n for o, d, a, n in summary_rows(first) if a == "created"}
    assert created.get(("Contact", "to_heymarket"), 0) > 0 and created.get(("Contact", "to_salesforce"), 0) > 0
    second_rows = summary_rows(second)
    assert second_rows and not [r for r in second_rows if r[2] in WRITES], second_rows
    assert {a for _, _, a, _ in second_rows} >= {"unchanged"}
    assert (Path(make_env["HEYMARKET_SYNC_SANDBOX_DIR"]) / "env").exists()
    assert (own_env.read_bytes() if own_env.exists() else None) == own_before  # the developer's sandbox

    # make sync against the sandbox the demo left running: a dry run, then a real run with nothing to do
    dry = make(make_env, "sync", 'CONF={"dry_run": true, "mode": "full"}')
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    assert ": DRY_RUN" in dry.stdout
    assert_readable(dry, "make sync (dry run)")
    again = make(make_env, "sync")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert ": SUCCESS" in again.stdout and not [r for r in summary_rows(again.stdout) if r[2] in WRITES]

    # make setup: the report, every step passed against the demo org
    setup = make(make_env, "setup")
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    assert_readable(setup, "make setup")
    assert "# Heymarket setup report" in setup.stdout and "✔ all 7 steps passed" in setup.stdout
    assert "report only (apply=false)" in setup.stdout and setup.stdout.rstrip().endswith("heymarket_setup: SUCCESS")

    # bad params: a clear message and exit code 2, before any run
    bad = make(make_env, "sync", "CONF=[1, 2]")
    assert bad.returncode != 0 and "CONF must be a JSON object" in bad.stderr
    unknown = make(make_env, "setup", 'CONF={"aply": true}')
    assert unknown.returncode != 0
    assert ("make setup: CONF has unknown param(s) 'aply' (did you mean 'apply'?); heymarket_setup takes apply, "
            "config_path") in unknown.stderr
    misspelt = make(make_env, "sync", 'CONF={"dryrun": true}')
    assert misspelt.returncode != 0 and "'dryrun' (did you mean 'dry_run'?)" in misspelt.stderr

    # the runs themselves fail (both APIs are down): non-zero exit, the summary / report says why, no traceback
    down = make(make_env, "sandbox-down")
    assert down.returncode == 0 and "stopped heymarket emulator" in down.stdout
    failed = make(make_env, "sync")
    assert failed.returncode != 0
    assert ": FAILED" in failed.stdout, failed.stdout[-3000:]
    why = failed.stdout[failed.stdout.rindex("Why: "):]
    # preflight reuses the connection checks of the last hour (the API cache, docs/freshness.md), so an outage
    # now shows at the first task that calls out: preflight after a cold start, the Heymarket extract here
    assert why.startswith(("Why: preflight failed: ", "Why: extract_heymarket failed: Heymarket ")), why
    assert "could not reach" in why, why
    assert_readable(failed, "make sync (failed run)")
    setup_failed = make(make_env, "setup")
    assert setup_failed.returncode != 0
    assert "## ✘ 1. Credentials" in setup_failed.stdout, setup_failed.stdout[-3000:]
    assert setup_failed.stdout.rstrip().endswith("heymarket_setup: FAILED")
    assert_readable(setup_failed, "make setup (failed run)")


@pytest.mark.parametrize("target", ["sync", "setup"])
def test_conf_reaches_the_script_verbatim_and_runs_no_shell_code(
    make_env: dict[str, str], tmp_path: Path, target: str,
) -> None:
    """``CONF`` used to be pasted into a shell command line: a ``'`` broke it, ``$(...)`` ran."""
    marker = tmp_path / "shell-code-ran"
    attack = f"it's $(touch {marker}) `touch {marker}` $$HOME"

    # valid JSON: arrives as it was typed, and is checked against the DAG's params before anything runs
    param = "mode" if target == "sync" else "apply"  # a string where the DAG wants one of two words / a boolean
    result = make(make_env, target, f'CONF={{"{param}": "{attack}"}}', timeout=120)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert f'make {target}: CONF param {param!r}: "{attack}" is not ' in result.stderr, result.stderr

    # not JSON: refused, and the message quotes it as received
    broken = f"{{'{param}': '{attack}'}}"
    result = make(make_env, target, f"CONF={broken}", timeout=120)
    assert result.returncode == 2
    assert f"make {target}: CONF is not valid JSON (" in result.stderr and f"): {broken}; example: " in result.stderr, (
        result.stderr)
    assert not marker.exists(), "shell code inside CONF was run"


def _sqlite_rows(path: Path, query: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def test_a_killed_make_sync_does_not_block_the_next_one(make_env: dict[str, str]) -> None:
    """SIGKILL during the Heymarket apply leaves the run ``running`` in ``.airflow`` and its sync lock held;
    the next ``make sync`` marks that run failed and takes the lock over instead of being refused."""
    sandbox, home = Path(make_env["HEYMARKET_SYNC_SANDBOX_DIR"]), Path(make_env["AIRFLOW_HOME"])
    up = make(make_env, "sandbox-up")
    assert up.returncode == 0, up.stdout + up.stderr
    env_file = read_env(sandbox / "env")
    sf = AdminClient(env_file["HEYMARKET_SYNC_SANDBOX_SALESFORCE_URL"], verify=env_file["REQUESTS_CA_BUNDLE"])
    hm = AdminClient(env_file["HEYMARKET_SYNC_SANDBOX_HEYMARKET_URL"])
    data = generate(size=400, seed=11)
    sf.load(data.salesforce)
    hm.load(data.heymarket)
    hm.faults(latency_ms=800, rate_limit_per_minute=100_000)  # the apply's batches take a while
    sf.faults(latency_ms=300)

    killed = subprocess.Popen(["make", "-s", "sync"], cwd=REPO, env=make_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        def wait_until(done, what: str) -> None:  # noqa: ANN001
            deadline = time.monotonic() + 240
            while not done():
                assert killed.poll() is None, f"make sync ended before {what}: {killed.communicate()[0][-3000:]}"
                assert time.monotonic() < deadline, f"make sync did not reach {what} within 240 s"
                time.sleep(0.2)

        lock_file = home / "make-targets.lock"
        wait_until(lambda: lock_file.exists() and lock_file.read_text().strip(), "claiming its Airflow home")
        # while it runs (Airflow's start-up alone takes longer than this check), a second make command on the
        # same Airflow home is refused at once, saying why
        busy = make(make_env, "sync", timeout=60)
        assert busy.returncode == 2, busy.stdout + busy.stderr
        assert re.search(rf"another make sync/setup/demo \(pid \d+\) is using the Airflow home {re.escape(str(home))}; "
                         "wait for it to end", busy.stderr), busy.stderr
        assert killed.poll() is None, "the first make sync ended during the check; the kill below would miss it"
        wait_until(lambda: hm.stats()["by_endpoint"].get("POST /v2/contacts", 0) >= 1, "its Heymarket apply")
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.communicate(timeout=60)

    # what the kill left: Airflow still says running, and that run holds the sync lock
    runs = _sqlite_rows(home / "airflow.db", "SELECT run_id, state FROM dag_run WHERE dag_id = 'heymarket_sync'")
    assert len(runs) == 1 and runs[0][1] == "running", runs
    killed_run = runs[0][0]
    state_db = sandbox / "state.db"
    assert _sqlite_rows(state_db, "SELECT holder_run_id FROM hm_sync_lock") == [(killed_run,)]

    hm.faults(latency_ms=0)
    sf.faults(latency_ms=0)
    after = make(make_env, "sync")
    assert after.returncode == 0, after.stdout[-3000:] + after.stderr[-3000:]
    notice = [line for line in after.stdout.splitlines() if "killed make command" in line]
    assert notice == [f"make sync: marked 1 run(s) failed that a killed make command had left running in {home} "
                      f"(heymarket_sync {killed_run}); the sync lock such a run holds is taken over now"], notice
    assert ": SUCCESS" in after.stdout
    assert_readable(after, "make sync after a kill")
    assert dict(_sqlite_rows(home / "airflow.db", "SELECT run_id, state FROM dag_run"))[killed_run] == "failed"
    assert _sqlite_rows(home / "airflow.db", f"SELECT count(*) FROM task_instance WHERE run_id = '{killed_run}' "
                                             "AND state IN ('running', 'queued', 'scheduled')") == [(0,)]
    status, summary = _sqlite_rows(state_db, f"SELECT status, error_summary FROM hm_sync_run "
                                             f"WHERE run_id = '{killed_run}'")[0]
    assert status == "failed" and "ended without recording its result" in summary, (status, summary)
    assert _sqlite_rows(state_db, "SELECT count(*) FROM hm_sync_lock") == [(0,)]  # released by the new run
    phones = [c["phone"] for c in hm.dump()["contacts"]]  # the contacts the killed run created were linked
    assert len(phones) == len(set(phones))
