"""``scripts/ensure_services.py`` on a fake machine: what it starts, installs, and says when it cannot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from scripts import ensure_services as es


@dataclass
class FakeMachine(es.Machine):
    """Services that come up when their start command runs; records every command."""

    root: bool = True
    installed: set[str] = field(default_factory=lambda: {"pg_ctlcluster", "redis-server", "chromium"})
    running: set[str] = field(default_factory=set)
    pg_problem: str | None = None
    apt_fails: bool = False
    commands: list[list[str]] = field(default_factory=list)
    now: float = 0.0  # a fake clock: waiting for a service that never answers takes no real time

    def __post_init__(self) -> None:
        self.run = self._run
        self.which = lambda name: f"/usr/bin/{name}" if name in self.installed else None
        self.is_root = lambda: self.root
        self.sleep = self._sleep
        self.clock = lambda: self.now
        self.postgres_versions = lambda: ["15"] if "pg_ctlcluster" in self.installed else []

    def _sleep(self, seconds: float) -> None:
        self.now += seconds

    def _run(self, argv: Sequence[str]) -> int:
        argv = list(argv)
        self.commands.append(argv)
        if argv[:1] == ["pg_ctlcluster"]:
            self.running.add("postgres")
        elif argv[:1] == ["redis-server"]:
            self.running.add("redis")
        elif "install" in argv:
            if self.apt_fails:
                return 100
            self.installed.add("chromium")
        return 0

    def port_open(self, host: str, port: int) -> bool:
        return {es.PG_PORT: "postgres", es.REDIS_PORT: "redis"}.get(port) in self.running

    def redis_answers(self) -> bool:
        return "redis" in self.running

    def postgres_problem(self) -> str | None:
        return self.pg_problem

    def create_test_database(self) -> None:
        self.commands.append(["CREATE DATABASE", es.PG_TEST_DB])
        self.pg_problem = None


def test_all_present_and_running_changes_nothing() -> None:
    machine = FakeMachine(running={"postgres", "redis"})
    assert es.ensure(list(es.CHECKS), machine) == []
    assert machine.commands == []


def test_stopped_services_are_started_with_the_machines_commands(capsys: pytest.CaptureFixture[str]) -> None:
    machine = FakeMachine()
    assert es.ensure(["postgres", "redis"], machine) == []
    assert machine.commands == [
        ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "start"],
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly",
         "no"],
    ]
    out = capsys.readouterr().out
    assert "make test: starting PostgreSQL (pg_ctlcluster --skip-systemctl-redirect 15 main start)" in out
    assert 'make test: starting Redis (redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" ' in out


def test_a_missing_test_database_is_created() -> None:
    machine = FakeMachine(running={"postgres"}, pg_problem='FATAL:  database "test" does not exist')
    assert es.ensure(["postgres"], machine) == []
    assert machine.commands == [["CREATE DATABASE", "test"]]


def test_postgres_that_refuses_the_login_says_what_to_configure() -> None:
    machine = FakeMachine(running={"postgres"}, pg_problem='FATAL:  password authentication failed for user "postgres"')
    [problem] = es.ensure(["postgres"], machine)
    assert "cannot log in to PostgreSQL as postgres on 127.0.0.1:5432 (FATAL:  password authentication failed" in problem
    assert "host all all 127.0.0.1/32 trust" in problem


@pytest.mark.parametrize(("service", "package"), [("postgres", "postgresql"), ("redis", "redis-server")])
def test_a_service_that_is_not_installed_is_one_line_naming_the_package(service: str, package: str) -> None:
    machine = FakeMachine(installed={"chromium"})
    [problem] = es.ensure([service], machine)
    assert f"is not installed; install it with `apt-get install -y {package}`" in problem
    assert "\n" not in problem and machine.commands == []


def test_a_service_that_does_not_come_up_says_where_to_look() -> None:
    machine = FakeMachine()
    machine.run = lambda argv: machine.commands.append(list(argv)) or 1  # the start command fails
    [problem] = es.ensure(["postgres"], machine)
    assert "PostgreSQL did not answer on 127.0.0.1:5432 within 30 s" in problem and "/var/log/postgresql/" in problem


def test_chromium_is_installed_with_apt_as_root() -> None:
    machine = FakeMachine(installed={"pg_ctlcluster", "redis-server"})
    assert es.ensure(["chromium"], machine) == []
    assert machine.commands == [["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "update", "-qq"],
                                ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "chromium"]]


def test_chromium_is_installed_through_sudo_when_the_switch_allows_it() -> None:
    machine = FakeMachine(root=False, installed=set(), env={es.INSTALL_SWITCH: "1"})
    assert es.ensure(["chromium"], machine) == []
    assert [c[:2] for c in machine.commands] == [["sudo", "-n"], ["sudo", "-n"]]


@pytest.mark.parametrize(("root", "switch", "how"), [
    (False, "", "`sudo apt-get install -y chromium`, or re-run with HM_SYNC_INSTALL_BROWSER=1 to let make test do it"),
    (True, "0", "`apt-get install -y chromium` (allowed here by unsetting HM_SYNC_INSTALL_BROWSER=0)"),
])
def test_chromium_not_allowed_to_install_is_one_line_saying_how(root: bool, switch: str, how: str) -> None:
    machine = FakeMachine(root=root, installed=set(), env={es.INSTALL_SWITCH: switch})
    assert es.ensure(["chromium"], machine) == [
        f"Debian's Chromium is needed for the Sync history page tests and is not installed; install it with {how}"]
    assert machine.commands == []


def test_a_failed_apt_install_fails_with_the_command_to_run() -> None:
    machine = FakeMachine(installed=set(), apt_fails=True)
    [problem] = es.ensure(["chromium"], machine)
    assert problem.startswith("installing Chromium with apt-get failed") and "apt-get install -y chromium" in problem


def test_main_prints_each_problem_on_stderr_and_fails(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(es, "ensure", lambda names: ["Redis is not running ... install it with x"])
    assert es.main(["redis"]) == 1
    assert capsys.readouterr().err == "make test: Redis is not running ... install it with x\n"
    with pytest.raises(SystemExit):
        es.main(["mysql"])
    assert "unknown service(s) mysql; choose from postgres, redis, chromium" in capsys.readouterr().err
