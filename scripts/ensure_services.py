"""``make test`` / ``make test-fast``: bring up what the test suite needs on this machine, or say what is missing.

* **PostgreSQL** on 127.0.0.1:5432 (user ``postgres``, trust auth, database ``test``): started with
  ``pg_ctlcluster`` when it is installed but stopped; the ``test`` database is created when it is missing.
* **Redis** on 127.0.0.1:6379 (the Celery broker of the deployment tests): started with ``redis-server`` when
  it is installed but stopped (nothing kept on disk).
* **Chromium** (Debian's ``chromium`` package; the Sync history page is tested in a real browser): installed
  with ``apt-get`` when it is missing and installing is allowed, i.e. when running as root, or with
  ``HM_SYNC_INSTALL_BROWSER=1`` (then through ``sudo -n`` when not root). ``HM_SYNC_INSTALL_BROWSER=0`` never
  installs. That apt install is the only download ``make test`` ever makes.

Each missing piece that cannot be fixed here is one line on stderr saying what to install and how, and the
exit code is 1. Two ``make test`` started at once on one machine take turns here (a lock file), so a service
is never started twice.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PG_HOST, PG_PORT, PG_USER, PG_TEST_DB = "127.0.0.1", 5432, "postgres", "test"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PG_START = "pg_ctlcluster --skip-systemctl-redirect {version} main start"
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", REDIS_HOST, "--port", str(REDIS_PORT),
               "--save", "", "--appendonly", "no"]
CHROMIUM_NAMES = ("chromium", "chromium-browser")
INSTALL_SWITCH = "HM_SYNC_INSTALL_BROWSER"
#: Seconds a service may take to answer after it was started.
START_TIMEOUT = 30.0
LOCK_FILE = Path(tempfile.gettempdir()) / "hm-sync-ensure-services.lock"
PREFIX = "make test:"


class Missing(Exception):
    """Something the tests need is not there and cannot be brought up here; the message says how to fix it."""


@dataclass
class Machine:
    """What the checks look at and do; the tests replace it with a fake machine."""

    run: Callable[[Sequence[str]], int] = field(
        default=lambda argv: subprocess.run(list(argv), check=False, stdin=subprocess.DEVNULL).returncode)
    which: Callable[[str], str | None] = shutil.which
    is_root: Callable[[], bool] = lambda: os.geteuid() == 0
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    postgres_versions: Callable[[], list[str]] = lambda: sorted(
        p.name for p in Path("/etc/postgresql").iterdir()) if Path("/etc/postgresql").is_dir() else []

    def port_open(self, host: str, port: int) -> bool:
        try:
            with socket.create_connection((host, port), timeout=2):
                return True
        except OSError:
            return False

    def redis_answers(self) -> bool:
        """``PING`` over the Redis protocol (a port that is open but is not Redis does not count)."""
        try:
            with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def postgres_problem(self) -> str | None:
        """``None`` when user ``postgres`` can log in to database ``test``; otherwise why not."""
        import psycopg2

        try:
            psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_TEST_DB, connect_timeout=5).close()
        except psycopg2.OperationalError as exc:
            return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None

    def create_test_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{PG_TEST_DB}"')
        finally:
            conn.close()


def _say(message: str) -> None:
    print(f"{PREFIX} {message}", flush=True)


def _wait(check: Callable[[], bool], machine: Machine) -> bool:
    deadline = machine.clock() + START_TIMEOUT
    while True:
        if check():
            return True
        if machine.clock() >= deadline:
            return False
        machine.sleep(0.5)


def ensure_postgres(machine: Machine) -> None:
    if not machine.port_open(PG_HOST, PG_PORT):
        versions = machine.postgres_versions()
        if not versions or machine.which("pg_ctlcluster") is None:
            raise Missing(f"PostgreSQL is not running on {PG_HOST}:{PG_PORT} and is not installed; install it with "
                          "`apt-get install -y postgresql` (trust auth for user postgres on 127.0.0.1), then re-run")
        command = PG_START.format(version=versions[-1])
        _say(f"starting PostgreSQL ({command})")
        machine.run(command.split())
        if not _wait(lambda: machine.port_open(PG_HOST, PG_PORT), machine):
            raise Missing(f"PostgreSQL did not answer on {PG_HOST}:{PG_PORT} within {START_TIMEOUT:.0f} s after "
                          f"`{command}`; see /var/log/postgresql/ for why")
    problem = machine.postgres_problem()
    if problem is not None and f'database "{PG_TEST_DB}" does not exist' in problem:
        _say(f"creating the PostgreSQL database {PG_TEST_DB!r} the tests connect to")
        machine.create_test_database()
        problem = machine.postgres_problem()
    if problem is not None:
        raise Missing(f"cannot log in to PostgreSQL as {PG_USER} on {PG_HOST}:{PG_PORT} ({problem}); the tests "
                      "need trust auth for that user on 127.0.0.1 (pg_hba.conf: `host all all 127.0.0.1/32 trust`)")


def ensure_redis(machine: Machine) -> None:
    if machine.redis_answers():
        return
    if machine.port_open(REDIS_HOST, REDIS_PORT):
        raise Missing(f"something on {REDIS_HOST}:{REDIS_PORT} is not answering Redis' PING; stop it or start Redis "
                      "there, then re-run")
    if machine.which("redis-server") is None:
        raise Missing(f"Redis is not running on {REDIS_HOST}:{REDIS_PORT} and is not installed; install it with "
                      "`apt-get install -y redis-server`, then re-run")
    _say("starting Redis (" + " ".join(arg or '""' for arg in REDIS_START) + ")")
    machine.run(REDIS_START)
    if not _wait(machine.redis_answers, machine):
        raise Missing(f"Redis did not answer on {REDIS_HOST}:{REDIS_PORT} within {START_TIMEOUT:.0f} s after "
                      "`redis-server --daemonize yes ...`; run it without --daemonize to see why")


def chromium_path(machine: Machine) -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := machine.which(name))), None)


def ensure_chromium(machine: Machine) -> None:
    if chromium_path(machine):
        return
    switch = machine.env.get(INSTALL_SWITCH, "").strip()
    allowed = switch == "1" or (switch != "0" and machine.is_root())
    if not allowed:
        how = ("`apt-get install -y chromium` (allowed here by unsetting HM_SYNC_INSTALL_BROWSER=0)" if switch == "0"
               else f"`sudo apt-get install -y chromium`, or re-run with {INSTALL_SWITCH}=1 to let make test do it")
        raise Missing(f"Debian's Chromium is needed for the Sync history page tests and is not installed; install it "
                      f"with {how}")
    sudo = [] if machine.is_root() else ["sudo", "-n"]
    _say("installing Debian's chromium (apt-get install -y chromium)")
    env = ["env", "DEBIAN_FRONTEND=noninteractive"]
    if machine.run([*sudo, *env, "apt-get", "update", "-qq"]) != 0 or machine.run(
            [*sudo, *env, "apt-get", "install", "-y", "-qq", "chromium"]) != 0 or not chromium_path(machine):
        raise Missing("installing Chromium with apt-get failed (see above); install it with "
                      "`apt-get install -y chromium`, then re-run")


CHECKS: dict[str, Callable[[Machine], None]] = {
    "postgres": ensure_postgres,
    "redis": ensure_redis,
    "chromium": ensure_chromium,
}


def ensure(names: Sequence[str], machine: Machine | None = None) -> list[str]:
    """Run the named checks in order; returns the problems (each one line), empty when all is well."""
    machine = machine or Machine()
    problems = []
    for name in names:
        try:
            CHECKS[name](machine)
        except Missing as exc:
            problems.append(str(exc))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.ensure_services", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("services", nargs="*", metavar="SERVICE",
                        help=f"what to check, any of {', '.join(CHECKS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.services) - set(CHECKS))
    if unknown:
        parser.error(f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}")
    with LOCK_FILE.open("a") as lock:  # concurrent `make test` runs take turns
        fcntl.flock(lock, fcntl.LOCK_EX)
        problems = ensure(args.services or list(CHECKS))
    for problem in problems:
        print(f"{PREFIX} {problem}", file=sys.stderr, flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
