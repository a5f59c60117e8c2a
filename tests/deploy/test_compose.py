"""docker-compose.yaml, the Dockerfile and deploy/ checked as data (there is no Docker engine to run them).

``test_stack.py`` then runs the same services as processes; these tests make sure that what it runs is what
compose would run: one executor, shared secrets, reachable services, declared volumes and healthchecks.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tests.deploy.stack import (
    REPO,
    _interpolate,
    airflow_services,
    common_environment,
    load_compose,
    local_overrides_keys,
)

AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                    "airflow-triggerer", "airflow-init")
LONG_RUNNING = tuple(s for s in AIRFLOW_SERVICES if s != "airflow-init")
SANDBOX_SERVICES = ("salesforce-emulator", "heymarket-emulator")
#: Secrets and settings every Airflow component must agree on.
SHARED_ENV = ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__API_AUTH__JWT_SECRET",
              "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
              "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW_CONN_HEYMARKET_SYNC_STATE",
              "HEYMARKET_SYNC_CONFIG", "HEYMARKET_SYNC_RUNS_ROOT")
COMPOSE_PATH_IN_CONTAINER = {"./dags": "/opt/airflow/dags", "./include": "/opt/airflow/include"}


@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, object]) -> dict[str, dict[str, object]]:
    return {name: dict(svc) for name, svc in dict(compose["services"]).items()}  # type: ignore[call-overload]


def env_of(service: dict[str, object]) -> dict[str, str]:
    return {k: _interpolate(str(v)) for k, v in dict(service.get("environment") or {}).items()}  # type: ignore[call-overload]


def test_services_and_profiles(services: dict[str, dict[str, object]]) -> None:
    assert {"postgres", "redis", *AIRFLOW_SERVICES} <= set(services)
    for name in SANDBOX_SERVICES:
        assert services[name]["profiles"] == ["sandbox"], name
    assert [n for n, s in services.items() if "profiles" in s] == list(SANDBOX_SERVICES)


@pytest.mark.parametrize("key", SHARED_ENV)
def test_every_airflow_service_gets_the_same_value(services: dict[str, dict[str, object]], key: str) -> None:
    values = {name: env_of(services[name]).get(key) for name in AIRFLOW_SERVICES}
    assert None not in values.values(), f"{key} missing in {[n for n, v in values.items() if v is None]}"
    assert len(set(values.values())) == 1, values


def test_executor_broker_and_databases_point_at_the_compose_services(compose: dict[str, object],
                                                                     services: dict[str, dict[str, object]]) -> None:
    env = common_environment(compose)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    pg = env_of(services["postgres"])
    user, password, db = pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"postgresql+psycopg2://{user}:{password}@postgres/{db}"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+postgresql://{user}:{password}@postgres/{db}"
    assert re.fullmatch(r"redis://(:@)?redis:6379/\d+", env["AIRFLOW__CELERY__BROKER_URL"])
    assert "redis" in services


def test_execution_api_url_is_the_apiserver_service(compose: dict[str, object],
                                                    services: dict[str, dict[str, object]]) -> None:
    api = services["airflow-apiserver"]
    assert api["command"] == "api-server"
    assert "8080:8080" in list(api["ports"])  # type: ignore[call-overload]
    assert common_environment(compose)["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == \
        "http://airflow-apiserver:8080/execution/"


def test_state_store_connection_is_the_database_postgres_init_creates(compose: dict[str, object],
                                                                      services: dict[str, dict[str, object]]) -> None:
    conn = json.loads(common_environment(compose)["AIRFLOW_CONN_HEYMARKET_SYNC_STATE"])
    url = conn["extra"]["url"]
    match = re.fullmatch(r"postgresql\+psycopg2://(\w+):(\w+)@postgres/(\w+)", url)
    assert match, url
    owner, _password, database = match.groups()
    sql = (REPO / "deploy" / "postgres-init.sql").read_text()
    assert re.search(rf"CREATE DATABASE {database} OWNER {owner};", sql), sql
    assert owner == env_of(services["postgres"])["POSTGRES_USER"]
    mounts = [str(v) for v in services["postgres"]["volumes"]]  # type: ignore[union-attr]
    assert "./deploy/postgres-init.sql:/docker-entrypoint-initdb.d/10-heymarket-sync.sql:ro" in mounts


def test_connections_given_as_json_parse(compose: dict[str, object]) -> None:
    for key, value in common_environment(compose).items():
        if key.startswith("AIRFLOW_CONN_") and value:
            assert "conn_type" in json.loads(value), key


def _env_vars_read_by_the_code() -> set[str]:
    """Names the DAGs and plugins read with os.environ.get / os.environ[...] / os.getenv (our own ones)."""
    pattern = re.compile(r"""os\.(?:environ\.get|getenv)\(\s*["']([A-Z0-9_]+)["']|os\.environ\[\s*["']([A-Z0-9_]+)["']""")
    names: set[str] = set()
    for path in [*(REPO / "dags").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]:
        for match in pattern.finditer(path.read_text()):
            names.add(match.group(1) or match.group(2))
    return {n for n in names if n.startswith("HEYMARKET_")}


def test_environment_the_code_reads_is_set(compose: dict[str, object]) -> None:
    env = common_environment(compose)
    read = _env_vars_read_by_the_code()
    assert "HEYMARKET_SYNC_CONFIG" in read
    assert read | {"HEYMARKET_SYNC_CONFIG", "HEYMARKET_SYNC_RUNS_ROOT"} <= set(env), sorted(read - set(env))


def test_config_path_and_runs_root_exist_in_the_containers(compose: dict[str, object]) -> None:
    common = dict(compose["x-airflow-common"])  # type: ignore[call-overload]
    env = common_environment(compose)
    mounts = dict(str(v).split(":")[:2] for v in common["volumes"])
    config = env["HEYMARKET_SYNC_CONFIG"]
    source = next(src for src, dst in mounts.items() if config.startswith(dst + "/"))
    assert (REPO / source / config[len(mounts[source]) + 1:]).is_file(), config
    assert mounts.get("runs") == env["HEYMARKET_SYNC_RUNS_ROOT"]


def test_healthchecks(services: dict[str, dict[str, object]]) -> None:
    for name in ("postgres", "redis", *LONG_RUNNING, *SANDBOX_SERVICES):
        check = services[name].get("healthcheck")
        assert check and check["test"], name  # type: ignore[index]
    assert "http://localhost:8080/api/v2/version" in services["airflow-apiserver"]["healthcheck"]["test"]  # type: ignore[index]
    scheduler = services["airflow-scheduler"]
    assert "http://localhost:8974/health" in scheduler["healthcheck"]["test"]  # type: ignore[index]
    assert env_of(scheduler)["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"


def test_depends_on_names_existing_services_with_possible_conditions(services: dict[str, dict[str, object]]) -> None:
    for name, svc in services.items():
        for dep, spec in dict(svc.get("depends_on") or {}).items():  # type: ignore[call-overload]
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = dict(spec)["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"
            elif condition == "service_completed_successfully":
                assert dep == "airflow-init", (name, dep)
            else:
                assert condition == "service_started", (name, dep, condition)
    for name in LONG_RUNNING:
        deps = dict(services[name]["depends_on"])  # type: ignore[call-overload]
        assert {"postgres", "redis", "airflow-init"} <= set(deps), name
    assert "airflow-apiserver" in dict(services["airflow-worker"]["depends_on"])  # type: ignore[call-overload]


def test_volumes_are_declared_and_bind_sources_exist(compose: dict[str, object],
                                                     services: dict[str, dict[str, object]]) -> None:
    declared = set(dict(compose["volumes"]))  # type: ignore[call-overload]
    used: set[str] = set()
    for name, svc in services.items():
        for volume in svc.get("volumes") or []:  # type: ignore[union-attr]
            source = str(volume).split(":")[0]
            if source.startswith((".", "/")):
                # ./logs is created by Docker on first start; everything else comes from the checkout
                assert source == "./logs" or (REPO / source).exists(), f"{name}: bind source {source} missing"
            else:
                used.add(source)
    assert used <= declared, f"named volumes used but not declared: {sorted(used - declared)}"
    assert declared <= used, f"declared but unused volumes: {sorted(declared - used)}"


def test_every_airflow_service_runs_as_the_airflow_user(services: dict[str, dict[str, object]]) -> None:
    """Root-owned files in the shared volumes would lock the other containers out."""
    for name in AIRFLOW_SERVICES:
        assert services[name]["user"] == "${AIRFLOW_UID:-50000}:0", name


def test_worker_keeps_celery_warm_shutdown(services: dict[str, dict[str, object]]) -> None:
    worker = services["airflow-worker"]
    assert worker["command"] == "celery worker"
    assert env_of(worker)["DUMB_INIT_SETSID"] == "0"


def test_init_migrates_and_creates_the_pools(services: dict[str, dict[str, object]]) -> None:
    script = "\n".join(str(part) for part in services["airflow-init"]["command"])  # type: ignore[union-attr]
    lines = [shlex.split(line) for line in script.splitlines() if line.strip() and line.strip() != "-c"]
    assert ["airflow", "db", "migrate"] in lines
    pools = {line[3]: int(line[4]) for line in lines if line[:3] == ["airflow", "pools", "set"]}
    assert pools == {"heymarket_api": 1, "salesforce_api": 2}


def test_local_stack_translates_only_container_specific_values(compose: dict[str, object]) -> None:
    """What test_stack.py replaces for this host: only hosts, paths, ports and secrets; the rest is compose's."""
    replaced = local_overrides_keys()
    assert replaced <= set(common_environment(compose)), sorted(replaced - set(common_environment(compose)))
    kept = set(common_environment(compose)) - replaced
    assert {"AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__AUTH_MANAGER", "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK",
            "AIRFLOW__CORE__LOAD_EXAMPLES"} <= kept


# --- Dockerfile ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """Instructions with continuation lines joined."""
    text = (REPO / "Dockerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_base_image_matches_the_project(dockerfile: list[str]) -> None:
    base = [line for line in dockerfile if line.startswith("FROM ")]
    assert len(base) == 1
    match = re.fullmatch(r"FROM apache/airflow:3\.3\.2-python(3\.\d+)", base[0])
    assert match, base[0]
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'requires-python = ">={match.group(1)},<' in pyproject


def test_dockerfile_installs_pinned_requirements_and_the_project(dockerfile: list[str]) -> None:
    runs = [line for line in dockerfile if line.startswith("RUN ")]
    install = next(line for line in runs if "requirements.txt" in line)
    assert re.search(r"pip install .*-r /opt/heymarket-sync/requirements\.txt -c /opt/heymarket-sync/constraints\.txt",
                     install)
    assert "pip install --no-cache-dir --no-deps /opt/heymarket-sync" in install
    assert "apache-airflow-providers-celery" in install or "apache-airflow-providers-celery" in (
        REPO / "requirements.txt").read_text(), "CeleryExecutor needs the celery provider in the image"


def test_dockerfile_copies_existing_paths_and_the_ui_plugin(dockerfile: list[str]) -> None:
    copies = [shlex.split(line)[1:] for line in dockerfile if line.startswith("COPY ")]
    for args in copies:
        sources = [a for a in args[:-1] if not a.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), f"COPY source {source} missing"
    destinations = {args[-1] for args in copies}
    assert "/opt/airflow/plugins/" in destinations and "/opt/airflow/plugins/sync_history" in destinations
    assert any("mkdir -p /opt/airflow/runs" in line for line in dockerfile)


# --- the sandbox profile ------------------------------------------------------------------------------


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, raw = line.partition("=")
            values[key] = shlex.split(raw)[0] if raw else ""
    return values


def test_sandbox_env_points_the_connections_at_the_emulator_services(services: dict[str, dict[str, object]]) -> None:
    from emulators.sandbox import heymarket_connection, salesforce_connection

    env = _env_file(REPO / "deploy" / "sandbox.env")
    sf = json.loads(env["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
    expected_sf = salesforce_connection(8443)
    expected_sf["extra"]["domain"] = expected_sf["extra"]["domain"].replace("127.0.0.1", "salesforce-emulator")  # type: ignore[index]
    assert sf == expected_sf
    hm = json.loads(env["AIRFLOW_CONN_HEYMARKET_DEFAULT"])
    assert hm == dict(heymarket_connection(8600), host="http://heymarket-emulator:8600")
    assert "8443:8443" in list(services["salesforce-emulator"]["ports"])  # type: ignore[call-overload]
    assert "8600:8600" in list(services["heymarket-emulator"]["ports"])  # type: ignore[call-overload]
    cert_dir = services["salesforce-emulator"]["entrypoint"][-1]  # type: ignore[index]
    assert env["REQUESTS_CA_BUNDLE"] == f"{cert_dir}/cert.pem"
    airflow_mounts = [str(v) for v in airflow_services(load_compose())["airflow-worker"]["volumes"]]  # type: ignore[union-attr]
    assert f"sandbox-certs:{cert_dir}:ro" in airflow_mounts
    # and compose passes them through to every Airflow container
    for key in env:
        assert f"${{{key}:-}}" in str(load_compose()["x-airflow-common"]["environment"][key])  # type: ignore[index]
