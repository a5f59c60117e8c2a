"""``make demo``, ``make sync`` and ``make sandbox-up/down`` as a user (and the acceptance tests outside this
repository) runs them: real ``make`` in a subprocess, with the sandbox and the Airflow home in a temporary
folder so that a developer's own sandbox is never touched."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WRITES = {"created", "updated", "deleted", "linked", "unlinked", "failed"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def make_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MAKE", "MFLAGS"))}
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


def test_make_demo_syncs_then_changes_nothing_and_make_sync_reports_its_outcome(make_env: dict[str, str]) -> None:
    own_env = REPO / ".sandbox" / "env"
    own_before = own_env.read_bytes() if own_env.exists() else None
    demo = make(make_env, "demo")
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
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
    again = make(make_env, "sync")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert ": SUCCESS" in again.stdout and not [r for r in summary_rows(again.stdout) if r[2] in WRITES]

    # bad params: a clear message and exit code 2, before any run
    bad = make(make_env, "sync", "CONF=[1, 2]")
    assert bad.returncode != 0 and "CONF must be a JSON object" in bad.stderr

    # the run itself fails (Heymarket is down): make sync exits non-zero and says how the run ended
    down = make(make_env, "sandbox-down")
    assert down.returncode == 0 and "stopped heymarket emulator" in down.stdout
    failed = make(make_env, "sync")
    assert failed.returncode != 0
    assert ": FAILED" in failed.stdout, failed.stdout[-3000:]
    why = failed.stdout[failed.stdout.rindex("Why: "):]
    assert why.startswith("Why: preflight failed: ") and "'heymarket_default'" in why and "could not reach" in why
