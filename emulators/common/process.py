"""Start and stop an emulator as a real process on a real socket (sandbox, tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmulatorProcess:
    """One emulator server: ``python -m emulators.<name> --host 127.0.0.1 --port N [extra args]``.

    :param name: ``salesforce`` or ``heymarket``.
    :param tls_cert: path of the CA bundle clients must trust (Salesforce only).
    """

    name: str
    port: int
    scheme: str = "http"
    extra_args: list[str] = field(default_factory=list)
    tls_cert: Path | None = None
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} emulator is not started")
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> EmulatorProcess:
        cmd = [sys.executable, "-m", f"emulators.{self.name}", "--host", "127.0.0.1", "--port", str(self.port)]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(
            cmd + self.extra_args, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        verify: str | bool = str(self.tls_cert) if self.tls_cert else True
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} emulator exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if requests.get(f"{self.base_url}/__admin/health", timeout=1, verify=verify).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} emulator did not answer on {self.base_url} within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
