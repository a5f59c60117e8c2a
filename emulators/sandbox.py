"""``make sandbox-up`` / ``make sandbox-down``: both emulators as background processes, plus ``.sandbox/env``.

``.sandbox/env`` holds the ``export`` lines that point Airflow (connections, CA bundle) at the emulators;
``source .sandbox/env`` in a shell, or let ``make sync`` / ``make demo`` read it. Only the processes whose
pids this script wrote are ever stopped. ``HEYMARKET_SYNC_SANDBOX_DIR`` moves the folder elsewhere (the tests
of the make targets use it so as not to touch a developer's sandbox).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path

from emulators.common import credentials
from emulators.common.process import REPO_ROOT, EmulatorProcess
from emulators.common.tls import ensure_certificate

SANDBOX = Path(os.environ.get("HEYMARKET_SYNC_SANDBOX_DIR") or REPO_ROOT / ".sandbox").resolve()
ENV_FILE = SANDBOX / "env"


def salesforce_connection(port: int) -> dict[str, object]:
    """An unmodified provider ``salesforce`` connection doing SOAP password login against the emulator."""
    return {
        "conn_type": "salesforce",
        "login": credentials.SALESFORCE_USERNAME,
        "password": credentials.SALESFORCE_PASSWORD,
        "extra": {
            "security_token": credentials.SALESFORCE_SECURITY_TOKEN,
            # simple-salesforce builds https://{domain}.salesforce.com/services/Soap/u/{v}; the trailing '#'
            # turns the fixed suffix into a URL fragment, so the login lands on the emulator.
            "domain": f"127.0.0.1:{port}/services/Soap/u/{credentials.SALESFORCE_API_VERSION}#",
            "version": credentials.SALESFORCE_API_VERSION,
        },
    }


def heymarket_connection(port: int) -> dict[str, object]:
    return {
        "conn_type": "heymarket",
        "host": f"http://127.0.0.1:{port}",
        "password": credentials.HEYMARKET_API_KEY,
    }


def trust_bundle(cert: Path, target: Path) -> Path:
    """The CA bundle clients already trust plus the emulator's certificate, so nothing else breaks."""
    import certifi

    base = Path(os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where())
    existing = base.read_text() if base.exists() and base.resolve() != target.resolve() else ""
    target.write_text(existing.rstrip("\n") + "\n" + cert.read_text())
    return target


def env_lines(sf_port: int, hm_port: int, ca_bundle: Path, state_url: str) -> list[str]:
    values = {
        "REQUESTS_CA_BUNDLE": str(ca_bundle),
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": json.dumps(salesforce_connection(sf_port)),
        "AIRFLOW_CONN_HEYMARKET_DEFAULT": json.dumps(heymarket_connection(hm_port)),
        "AIRFLOW_CONN_HEYMARKET_SYNC_STATE": json.dumps({"conn_type": "generic", "extra": {"url": state_url}}),
        "HEYMARKET_SYNC_SANDBOX_SALESFORCE_URL": f"https://127.0.0.1:{sf_port}",
        "HEYMARKET_SYNC_SANDBOX_HEYMARKET_URL": f"http://127.0.0.1:{hm_port}",
    }
    return [f"export {key}={shlex.quote(value)}" for key, value in values.items()]


def read_env(path: Path = ENV_FILE) -> dict[str, str]:
    """Parse ``.sandbox/env`` back into a dict (for scripts that don't go through a shell)."""
    result: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, raw = line[len("export "):].partition("=")
            result[key] = shlex.split(raw)[0] if raw else ""
    return result


def _pid_file(name: str) -> Path:
    return SANDBOX / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_emulator(pid: int, name: str) -> bool:
    """Guard against a recycled pid: only signal a process that is still our emulator."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"emulators.{name}".encode() in cmdline


def up(sf_port: int, hm_port: int, state_url: str | None) -> None:
    SANDBOX.mkdir(exist_ok=True)
    down(quiet=True)
    cert, _ = ensure_certificate(SANDBOX / "certs")
    emulators = [
        EmulatorProcess("salesforce", sf_port, scheme="https", tls_cert=cert,
                        extra_args=["--cert-dir", str(SANDBOX / "certs")], log_path=SANDBOX / "salesforce.log"),
        EmulatorProcess("heymarket", hm_port, log_path=SANDBOX / "heymarket.log"),
    ]
    for emu in emulators:
        emu.start()
        _pid_file(emu.name).write_text(str(emu.pid))
        print(f"sandbox: {emu.name} emulator up at {emu.base_url} (pid {emu.pid}, log {emu.log_path})")
    state_url = state_url or f"sqlite:///{SANDBOX / 'state.db'}"
    bundle = trust_bundle(cert, SANDBOX / "ca-bundle.pem")
    ENV_FILE.write_text("\n".join(env_lines(sf_port, hm_port, bundle, state_url)) + "\n")
    shown = ENV_FILE.relative_to(REPO_ROOT) if ENV_FILE.is_relative_to(REPO_ROOT) else ENV_FILE
    print(f"sandbox: wrote {shown} (source it to point Airflow at the emulators)")


def down(quiet: bool = False) -> None:
    for name in ("salesforce", "heymarket"):
        pid_file = _pid_file(name)
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text().strip() or 0)
        if pid and _alive(pid) and _is_our_emulator(pid, name):
            os.killpg(pid, signal.SIGTERM)
            for _ in range(50):
                if not _alive(pid):
                    break
                time.sleep(0.1)
            else:
                os.killpg(pid, signal.SIGKILL)
            print(f"sandbox: stopped {name} emulator (pid {pid})")
        elif not quiet:
            print(f"sandbox: {name} emulator (pid {pid}) was not running")
        pid_file.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.sandbox")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--salesforce-port", type=int,
                        default=int(os.environ.get("SF_PORT", credentials.SALESFORCE_DEFAULT_PORT)))
    parser.add_argument("--heymarket-port", type=int,
                        default=int(os.environ.get("HM_PORT", credentials.HEYMARKET_DEFAULT_PORT)))
    parser.add_argument("--state-url", default=os.environ.get("STATE_URL"),
                        help="SQLAlchemy URL of the state store (default: SQLite file in .sandbox/)")
    args = parser.parse_args(argv)
    if args.command == "up":
        up(args.salesforce_port, args.heymarket_port, args.state_url)
    else:
        down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
