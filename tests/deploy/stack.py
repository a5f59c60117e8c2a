"""The docker-compose stack, run as plain processes on this machine (there is no Docker engine here).

``AirflowStack`` reads ``docker-compose.yaml`` and starts what it describes, translated for one host:

* the shared ``x-airflow-common`` environment, with only the values that name Docker hosts, container
  paths or fixed ports replaced (``LOCAL_OVERRIDES`` lists each replacement and why); a value that
  still points at a container after translation is an error, so a compose edit cannot slip past;
* ``airflow-init``'s own script (``db migrate`` + pools), then ``airflow <command>`` of every
  long-running Airflow service (api-server, scheduler, dag-processor, triggerer, celery worker), each
  with its **own** ``AIRFLOW_HOME`` like a container, so secrets that must agree between components
  have to come from the environment, exactly as in compose; only the log folder is shared (compose
  mounts ``./logs`` into every container);
* PostgreSQL: two fresh, uniquely named databases (Airflow metadata, sync state), dropped at the end;
  Redis: a database (1-15) leased for this stack alone (``tests.isolation.RedisDbLease``), flushed at the end;
* free ports for every listening process, reserved so that another test session on this machine (a second
  ``make test``) is never handed the same ones (``tests.isolation.free_port``);
* the two API emulators (as ``tests/conftest.py`` starts them: Salesforce over TLS), whose connections
  and CA bundle are given to every Airflow process as environment variables.

Every process runs in its own process group and is stopped by its own pid, SIGTERM first, then SIGKILL.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from tests.isolation import RedisDbLease, free_port

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
VENV_BIN = Path(sys.executable).parent

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

#: Airflow services started as long-running processes, in start order (stopped in reverse).
LONG_RUNNING = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                "airflow-worker")
ADMIN_USER = "admin"


# --- docker-compose.yaml ------------------------------------------------------------------------------


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, object]:
    """The compose file as data. PyYAML's safe loader resolves ``<<`` merge keys and ``*anchors`` itself."""
    with path.open() as handle:
        return yaml.safe_load(handle)


def airflow_services(compose: Mapping[str, object]) -> dict[str, dict[str, object]]:
    """Services built from the Airflow image (those that run ``airflow`` or the emulators)."""
    services = dict(compose["services"])  # type: ignore[arg-type]
    return {name: dict(svc) for name, svc in services.items() if name.startswith("airflow-")}


def common_environment(compose: Mapping[str, object]) -> dict[str, str]:
    """``x-airflow-common.environment`` with every value as the string a container would see."""
    env = dict(compose["x-airflow-common"]["environment"])  # type: ignore[index]
    return {key: _interpolate(str(value)) for key, value in env.items()}


def _interpolate(value: str, variables: Mapping[str, str] | None = None) -> str:
    """Compose's ``${VAR:-default}`` with VAR unset (the default), the way ``docker compose config`` does."""
    import re

    variables = variables or {}

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3) or ""
        return variables.get(name, default)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-([^}]*))?\}", repl, value)


# --- small helpers ----------------------------------------------------------------------------------




def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_for(check: Callable[[], object], timeout: float, what: str, interval: float = 1.0,
              on_timeout: Callable[[], str] = lambda: "") -> object:
    """Poll ``check`` until it returns something truthy; its last exception goes into the timeout error."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, ValueError, KeyError) as exc:
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"{what}: not reached within {timeout:.0f}s (last error: {last_error!r})\n{on_timeout()}")


@dataclass(frozen=True)
class RunOutcome:
    """How a DAG run ended: ``success``, ``failed`` or ``up_for_retry`` (then marked failed by the test)."""

    run_id: str
    state: str
    details: str = ""

    def __str__(self) -> str:
        return f"run {self.run_id} ended {self.state}\n{self.details}"


class TaskRetried(AssertionError):
    """A task of the awaited run failed and is waiting for a retry."""


@dataclass
class Component:
    """One process of the stack, in its own process group."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path = REPO
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Component:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the process group (the component and its children), SIGKILL after ``grace``."""
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                # Children of the group (task processes) may outlive the leader: one more SIGKILL for them.
                os.killpg(self.proc.pid, signal.SIGKILL)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                pass
            break

    def kill(self) -> None:
        """SIGKILL to the process group at once: no clean shutdown (a crash, or a container killed mid-work)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.proc.wait(30)

    def log_tail(self, lines: int = 40) -> str:
        return f"--- {self.name} ({self.log_path}) ---\n{_tail(self.log_path, lines)}"


# --- the stack ----------------------------------------------------------------------------------------


@dataclass
class StackSettings:
    """What differs between this machine and the containers (ports, database names, paths)."""

    workdir: Path
    run_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    api_port: int = field(default_factory=free_port)
    scheduler_health_port: int = field(default_factory=free_port)
    worker_log_port: int = field(default_factory=free_port)
    triggerer_log_port: int = field(default_factory=free_port)
    parallelism: int = 4
    worker_concurrency: int = 3
    #: Redis database of this stack's Celery broker; leased in ``AirflowStack.start`` (0 = not leased yet).
    redis_db: int = 0

    @property
    def metadata_db(self) -> str:
        return f"hm_stack_{self.run_tag}_airflow"

    @property
    def state_db(self) -> str:
        return f"hm_stack_{self.run_tag}_state"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def pg_url(self, db: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"

    @property
    def state_url(self) -> str:
        return self.pg_url(self.state_db)


def local_overrides(s: StackSettings) -> dict[str, str]:
    """Compose values that name containers, container paths or fixed ports, translated for this host.

    Everything else in ``x-airflow-common.environment`` is used exactly as compose has it.
    """
    return {
        # postgres service -> local server, fresh database per stack
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": s.pg_url(s.metadata_db),
        "AIRFLOW__CELERY__RESULT_BACKEND": s.pg_url(s.metadata_db, "db+postgresql"),
        "AIRFLOW_CONN_HEYMARKET_SYNC_STATE": json.dumps(
            {"conn_type": "generic", "extra": {"url": s.state_url}}),
        # redis service -> local server, a database of our own
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{s.redis_db}",
        # airflow-apiserver:8080 -> a free local port
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{s.api_url}/execution/",
        # secrets compose takes from the host environment: fresh ones per stack
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
        # a 2-core machine shared with other work
        "AIRFLOW__CORE__PARALLELISM": str(s.parallelism),
        # /opt/airflow/... container paths -> the checkout and the work folder
        "HEYMARKET_SYNC_CONFIG": str(REPO / "include" / "mappings" / "sync.yaml"),
        "HEYMARKET_SYNC_RUNS_ROOT": str(s.workdir / "runs"),
    }


def host_settings(s: StackSettings) -> dict[str, str]:
    """Settings a container gets from its image and file layout, which plain processes need spelled out."""
    return {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(s.workdir / "logs"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(s.api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(s.scheduler_health_port),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(s.worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(s.triggerer_log_port),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(s.worker_concurrency),
        "PYTHONUNBUFFERED": "1",
    }


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def local_overrides_keys() -> frozenset[str]:
    """Names of the variables ``local_overrides`` replaces."""
    names_only = StackSettings(workdir=Path("."), api_port=0, scheduler_health_port=0, worker_log_port=0,
                               triggerer_log_port=0)  # no ports reserved just to read the names
    return frozenset(local_overrides(names_only))


#: Fragments that only make sense inside the compose network; none may survive the translation.
CONTAINER_ONLY = ("@postgres/", "@postgres:", "redis://:@redis", "//redis:", "airflow-apiserver", "/opt/airflow")


def translate_environment(compose: Mapping[str, object], s: StackSettings) -> dict[str, str]:
    """The compose environment for this host; raises if a container-only value was left untranslated."""
    env = common_environment(compose)
    env.update(local_overrides(s))
    leftovers = {k: v for k, v in env.items() if any(part in v for part in CONTAINER_ONLY)}
    if leftovers:
        raise ValueError(f"compose values still point into the containers, add them to local_overrides(): "
                         f"{sorted(leftovers)}")
    return env


class AirflowStack:
    """Start, use and stop the whole stack. Use as a context manager so it is always torn down.

    :param workdir: a fresh folder for homes, logs, run folders and emulator certificates.
    :param emulators: start the Salesforce and Heymarket emulators and point the connections at them.
    :param env_overrides: values for every Airflow process on top of the compose environment, as a
        ``docker compose`` run with those variables set would give (e.g. ``HEYMARKET_SYNC_WATCHERS=off``).
    """

    def __init__(self, workdir: Path, *, emulators: bool = True, compose_path: Path = COMPOSE_FILE,
                 env_overrides: Mapping[str, str] | None = None) -> None:
        self.settings = StackSettings(workdir=workdir)
        self.env_overrides = dict(env_overrides or {})
        self.compose = load_compose(compose_path)
        self.emulators_enabled = emulators
        self.components: dict[str, Component] = {}
        self.emulators: dict[str, object] = {}
        self.env: dict[str, str] = {}
        self._databases_created: list[str] = []
        self._redis = RedisDbLease(REDIS_HOST, REDIS_PORT)
        self._token: str | None = None
        self.timings: dict[str, float] = {}

    # --- lifecycle ---

    def __enter__(self) -> AirflowStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, health_timeout: float = 150.0) -> None:
        started = time.monotonic()
        self.settings.workdir.mkdir(parents=True, exist_ok=True)
        self.settings.redis_db = self._redis.acquire()
        self.env = translate_environment(self.compose, self.settings)
        self.env.update(host_settings(self.settings))
        self.env.update(self.env_overrides)
        if self.emulators_enabled:
            self._start_emulators()
        self._create_databases()
        self.timings["prepare"] = time.monotonic() - started
        self._run_init()
        self.timings["init"] = time.monotonic() - started - self.timings["prepare"]
        for service in LONG_RUNNING:
            self._start_service(service)
        self.wait_healthy(health_timeout)
        self.timings["healthy"] = time.monotonic() - started

    def stop(self) -> None:
        """Stop everything this stack started (reverse order), then drop its databases. Never raises."""
        for name in reversed(list(self.components)):
            try:
                self.components[name].stop()
            except Exception as exc:  # noqa: BLE001 - teardown must go on
                print(f"stack: stopping {name} failed: {exc!r}", file=sys.stderr)
        for emu in self.emulators.values():
            try:
                emu.stop()  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001
                print(f"stack: stopping an emulator failed: {exc!r}", file=sys.stderr)
        self._drop_databases()
        try:
            self._redis.release()
        except Exception as exc:  # noqa: BLE001 - teardown must go on
            print(f"stack: releasing Redis database {self.settings.redis_db} failed: {exc!r}", file=sys.stderr)

    # --- parts ---

    def _start_emulators(self) -> None:
        from emulators.common.process import EmulatorProcess
        from emulators.common.tls import ensure_certificate
        from emulators.sandbox import heymarket_connection, salesforce_connection

        work = self.settings.workdir / "emulators"
        cert_dir = work / "certs"
        cert, _ = ensure_certificate(cert_dir)
        sf = EmulatorProcess("salesforce", free_port(), scheme="https", tls_cert=cert,
                             extra_args=["--cert-dir", str(cert_dir)], log_path=work / "salesforce.log")
        hm = EmulatorProcess("heymarket", free_port(), log_path=work / "heymarket.log")
        work.mkdir(parents=True, exist_ok=True)
        for emu in (sf, hm):
            self.emulators[emu.name] = emu
            emu.start()
        self.env.update({
            "REQUESTS_CA_BUNDLE": str(cert),
            "AIRFLOW_CONN_SALESFORCE_DEFAULT": json.dumps(salesforce_connection(sf.port)),
            "AIRFLOW_CONN_HEYMARKET_DEFAULT": json.dumps(heymarket_connection(hm.port)),
        })

    def sf_admin(self):  # noqa: ANN201 - emulators.common.client.AdminClient
        from emulators.common.client import AdminClient

        emu = self.emulators["salesforce"]
        return AdminClient(emu.base_url, verify=str(emu.tls_cert))  # type: ignore[attr-defined]

    def hm_admin(self):  # noqa: ANN201
        from emulators.common.client import AdminClient

        return AdminClient(self.emulators["heymarket"].base_url)  # type: ignore[attr-defined]

    def load_demo(self, size: int = 50, seed: int = 7) -> None:
        """Both emulators emptied, then the demo data of *size* records (``emulators.demo_data.generate``)."""
        from emulators.demo_data import generate

        demo = generate(size=size, seed=seed)
        for admin, data in ((self.sf_admin(), demo.salesforce), (self.hm_admin(), demo.heymarket)):
            admin.reset()
            admin.load(data)

    def _pg_admin(self):  # noqa: ANN202 - psycopg2 connection
        import psycopg2

        conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
        conn.autocommit = True
        return conn

    def _create_databases(self) -> None:
        conn = self._pg_admin()
        try:
            with conn.cursor() as cur:
                for db in (self.settings.metadata_db, self.settings.state_db):
                    cur.execute(f'CREATE DATABASE "{db}"')
                    self._databases_created.append(db)
        finally:
            conn.close()

    def _drop_databases(self) -> None:
        if not self._databases_created:
            return
        try:
            conn = self._pg_admin()
        except Exception as exc:  # noqa: BLE001
            print(f"stack: cannot reach PostgreSQL to drop {self._databases_created}: {exc!r}", file=sys.stderr)
            return
        try:
            with conn.cursor() as cur:
                for db in list(self._databases_created):
                    cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                    self._databases_created.remove(db)
        finally:
            conn.close()

    def service_env(self, service: str) -> dict[str, str]:
        """The environment one compose service gets: common + its own ``environment`` + its own home."""
        svc = airflow_services(self.compose)[service]
        env = dict(self.env)
        common, translated = common_environment(self.compose), local_overrides_keys()
        for key, value in dict(svc.get("environment") or {}).items():
            value = _interpolate(str(value))
            # Only what the service sets itself: ``<<`` copied the common values in, already translated above.
            if key not in translated and common.get(key) != value:
                env[key] = value
        home = self.settings.workdir / "homes" / service
        home.mkdir(parents=True, exist_ok=True)
        env["AIRFLOW_HOME"] = str(home)
        return env

    def _run_init(self, timeout: float = 240.0) -> None:
        """``airflow-init``'s own command, as compose would run it (``entrypoint`` + ``command``)."""
        svc = airflow_services(self.compose)["airflow-init"]
        entrypoint = svc.get("entrypoint")
        command = svc.get("command")
        argv = ([str(entrypoint)] if isinstance(entrypoint, str) else list(entrypoint or [])) + (
            list(command) if isinstance(command, list) else shlex.split(str(command)))
        init = Component("airflow-init", argv, self.service_env("airflow-init"),
                         self.settings.workdir / "logs" / "components" / "airflow-init.log")
        self.components["airflow-init"] = init.start()
        try:
            code = init.proc.wait(timeout)  # type: ignore[union-attr]
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"airflow-init did not finish within {timeout:.0f}s\n{init.log_tail()}") from exc
        if code != 0:
            raise RuntimeError(f"airflow-init exited with {code}\n{init.log_tail()}")

    def _start_service(self, service: str) -> None:
        svc = airflow_services(self.compose)[service]
        command = svc["command"]
        args = list(command) if isinstance(command, list) else shlex.split(str(command))
        comp = Component(service, [str(VENV_BIN / "airflow"), *args], self.service_env(service),
                         self.settings.workdir / "logs" / "components" / f"{service}.log")
        self.components[service] = comp.start()

    def kill_service(self, service: str) -> None:
        """SIGKILL one long-running service (e.g. the triggerer mid-poll); :meth:`restart_service` brings it back."""
        self.components[service].kill()

    def restart_service(self, service: str) -> None:
        """Start a service again after :meth:`kill_service`, as compose's ``restart: always`` would (same
        environment and home; its log goes on in the same file)."""
        if self.components[service].alive:
            raise RuntimeError(f"{service} is still running")
        self._start_service(service)

    def logs(self, lines: int = 40) -> str:
        """Tails of every component's log (for failure messages)."""
        return "\n".join(c.log_tail(lines) for c in self.components.values())

    def check_alive(self) -> None:
        dead = [c for n, c in self.components.items() if n != "airflow-init" and not c.alive]
        if dead:
            raise RuntimeError("stack component(s) exited: " + ", ".join(c.name for c in dead) + "\n"
                               + "\n".join(c.log_tail() for c in dead))

    # --- REST API ---

    @property
    def api_url(self) -> str:
        return self.settings.api_url

    def admin_password(self) -> str:
        home = Path(self.service_env("airflow-apiserver")["AIRFLOW_HOME"])
        passwords = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())
        return str(passwords[ADMIN_USER])

    def token(self) -> str:
        """A JWT for the admin user, from ``POST /auth/token`` (cached)."""
        if self._token is None:
            resp = requests.post(f"{self.api_url}/auth/token", timeout=30,
                                 json={"username": ADMIN_USER, "password": self.admin_password()})
            resp.raise_for_status()
            self._token = str(resp.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, *, auth: bool = True, **kwargs: object) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[arg-type]
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        return requests.request(method, f"{self.api_url}{path}", headers=headers, timeout=60,
                                **kwargs)  # type: ignore[arg-type]

    def api_json(self, method: str, path: str, **kwargs: object) -> dict[str, object]:
        resp = self.api(method, path, **kwargs)
        if not resp.ok:
            raise AssertionError(f"{method} {path} -> {resp.status_code}: {resp.text[:2000]}")
        return resp.json()

    def health(self) -> dict[str, object]:
        return requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=10).json()

    def wait_healthy(self, timeout: float) -> dict[str, object]:
        """Until the api-server answers (compose's healthcheck URL) and every component reports healthy."""

        def check() -> dict[str, object] | None:
            self.check_alive()
            requests.get(f"{self.api_url}/api/v2/version", timeout=5).raise_for_status()
            health = self.health()
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            ok = all(dict(health.get(p) or {}).get("status") == "healthy" for p in parts)
            return health if ok else None

        return wait_for(check, timeout, "stack healthy", on_timeout=self.logs)  # type: ignore[return-value]

    # --- DAG runs ---

    def wait_dag(self, dag_id: str, timeout: float = 120.0) -> dict[str, object]:
        def check() -> dict[str, object] | None:
            self.check_alive()
            resp = self.api("GET", f"/api/v2/dags/{dag_id}")
            return resp.json() if resp.status_code == 200 else None

        return wait_for(check, timeout, f"DAG {dag_id} parsed", on_timeout=self.import_errors_text)  # type: ignore[return-value]

    def import_errors_text(self) -> str:
        try:
            return json.dumps(self.api_json("GET", "/api/v2/importErrors"), indent=1)[:4000] + "\n" + self.logs(20)
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            return f"(import errors unavailable: {exc!r})\n{self.logs(20)}"

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.api_json("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: Mapping[str, object] | None = None) -> str:
        body = {"logical_date": None, "conf": dict(conf or {})}
        return str(self.api_json("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def dag_runs(self, dag_id: str) -> list[dict[str, object]]:
        return list(self.api_json("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after")["dag_runs"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api_json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float, *, fail_on_retry: bool = True) -> str:
        """Until the run is success or failed; returns that state.

        :param fail_on_retry: stop waiting as soon as a task is up for retry and raise with its log. Against
            the emulators a retry means a bug, and the DAG's retry delays would outlast any test timeout.
        """

        def check() -> str | None:
            self.check_alive()
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            if fail_on_retry:
                self._raise_on_retry(dag_id, run_id)
            return None

        return str(wait_for(check, timeout, f"run {run_id} finished", interval=2.0,
                            on_timeout=lambda: self.task_states_text(dag_id, run_id) + "\n" + self.logs(20)))

    def run_outcome(self, dag_id: str, run_id: str, timeout: float) -> RunOutcome:
        """Wait for the run; a task up for retry ends the wait, and the run is marked failed so that the
        next run is not held back by ``max_active_runs=1`` for the length of the DAG's retry delays."""
        try:
            state = self.wait_run(dag_id, run_id, timeout)
        except TaskRetried as exc:
            self.api_json("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", json={"state": "failed"})
            return RunOutcome(run_id, "up_for_retry", str(exc))
        details = "" if state == "success" else (f"{self.task_states_text(dag_id, run_id)}\n"
                                                 f"{self.failed_task_logs(dag_id, run_id)}")
        return RunOutcome(run_id, state, details)

    def _raise_on_retry(self, dag_id: str, run_id: str) -> None:
        data = self.api_json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        for ti in data["task_instances"]:  # type: ignore[union-attr]
            if ti.get("state") == "up_for_retry":
                task, try_number = str(ti["task_id"]), int(ti["try_number"])
                raise TaskRetried(f"{task} of {run_id} failed (try {try_number}) and waits for a retry; its log:\n"
                                  f"{self.task_log(dag_id, run_id, task, try_number)[-8000:]}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        data = self.api_json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {str(ti["task_id"]): ti.get("state") for ti in data["task_instances"]}  # type: ignore[union-attr]

    def task_states_text(self, dag_id: str, run_id: str) -> str:
        try:
            return f"task states of {run_id}: {self.task_states(dag_id, run_id)}"
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            return f"(task states unavailable: {exc!r})"

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task's log as text (one line per structured event)."""
        data = self.api_json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/"
                                    f"{try_number}?full_content=true", headers={"Accept": "application/json"})
        lines = []
        for item in _iter_log_items(data.get("content")):
            if isinstance(item, dict):
                errors = "; ".join(f"{e.get('exc_type')}: {e.get('exc_value')}"
                                   for e in item.get("error_detail") or [] if isinstance(e, dict))
                lines.append(f"{item.get('timestamp', '')} {item.get('level', '')} {item.get('event', '')}"
                             + (f" | {errors}" if errors else ""))
            else:
                lines.append(str(item))
        return "\n".join(lines)

    def failed_task_logs(self, dag_id: str, run_id: str) -> str:
        """Logs of every failed task of a run (for assertion messages and the report)."""
        parts = []
        for task, state in self.task_states(dag_id, run_id).items():
            if state == "failed":
                try:
                    parts.append(f"===== {task} =====\n{self.task_log(dag_id, run_id, task)[-6000:]}")
                except AssertionError as exc:
                    parts.append(f"===== {task} ===== (log unavailable: {exc})")
        return "\n".join(parts)


def _iter_log_items(content: object) -> Iterator[object]:
    if isinstance(content, list):
        yield from content
    elif content is not None:
        yield content


# --- pytest fixture shared by the deploy test modules ------------------------------------------------

_shared: dict[str, object] = {"stack": None, "users": 0}


@pytest.fixture(scope="session")
def airflow_stack() -> Iterator[AirflowStack]:
    """One running stack per test session, shared by every test module that imports this fixture.

    pytest makes one fixture definition per importing module, so the stack is reference-counted here and
    stopped when the last module is done with it (always, also after a failure).
    """
    if _shared["stack"] is None:
        # Not under pytest's basetemp: other sessions rotate it away, and the logs are the evidence.
        workdir = Path(tempfile.mkdtemp(prefix="hm-deploy-stack-"))
        print(f"\nstack work folder (logs kept): {workdir}")
        # The change watchers off: these modules check what cron and manual runs do, and a run started by a
        # watcher (new demo data is a change) would interleave with theirs. test_freshness.py has its own stack.
        stack = AirflowStack(workdir, env_overrides={"HEYMARKET_SYNC_WATCHERS": "off"})
        stack.__enter__()
        _shared["stack"] = stack
    _shared["users"] = int(_shared["users"]) + 1  # type: ignore[call-overload]
    try:
        yield _shared["stack"]  # type: ignore[misc]
    finally:
        _shared["users"] = int(_shared["users"]) - 1  # type: ignore[call-overload]
        if _shared["users"] == 0 and _shared["stack"] is not None:
            stack = _shared["stack"]
            _shared["stack"] = None
            stack.stop()  # type: ignore[attr-defined]
            print(f"\nstack timings: {stack.timings}")  # type: ignore[attr-defined]
