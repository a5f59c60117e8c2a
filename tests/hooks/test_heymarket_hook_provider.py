"""The ``heymarket`` connection type is registered the way the Airflow UI finds it.

Airflow lists custom connection types only from installed provider packages (entry point
``apache_airflow_provider``). These tests read the registration back through Airflow's own machinery:
the providers managers (API server and task runtime side), and the API server's ``hook_meta`` endpoint
that feeds the connection form, served in-process by FastAPI's TestClient (no running server).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from heymarket_hook import provider_info

EXTRA_FIELDS = {"auth_mode", "secret_id", "secret_key", "requests_per_minute", "timeout", "rate_limit_backend",
                "rate_limit_redis_url", "rate_limit_redis_conn_id"}


def test_entry_point_is_installed() -> None:
    found = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("heymarket_hook.")]
    assert [ep.value for ep in found] == ["heymarket_hook.provider_info:get_provider_info"], (
        "the project is not installed: run `.venv/bin/pip install --no-deps --no-build-isolation -e .`"
    )
    assert found[0].dist is not None and found[0].dist.name == provider_info.PACKAGE_NAME
    assert found[0].load()() == provider_info.get_provider_info()


def test_provider_info_matches_airflows_schema() -> None:
    import airflow
    import jsonschema

    schema_dir = Path(airflow.__file__).parent
    info = provider_info.get_provider_info()
    jsonschema.validate(info, json.loads((schema_dir / "provider_info.schema.json").read_text()))
    # the stricter development schema checks the declarative conn-fields / ui-field-behaviour shapes
    yaml_schema = json.loads((schema_dir / "provider.yaml.schema.json").read_text())
    connection_types = {"type": "object", "properties": {"connection-types": yaml_schema["properties"]["connection-types"]}}
    jsonschema.validate({"connection-types": info["connection-types"]}, connection_types)


def test_providers_manager_registers_hook_fields_and_behaviour() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert provider_info.PACKAGE_NAME in manager.providers
    with warnings.catch_warnings():
        # The API server's hook_meta still reads ProvidersManager.hooks; its deprecation is not ours.
        warnings.simplefilter("ignore")
        hook_info = manager.hooks["heymarket"]
    assert hook_info is not None, "the hook class failed to import; see the providers manager warning"
    assert (hook_info.hook_class_name, hook_info.connection_id_attribute_name, hook_info.hook_name) == (
        "heymarket_hook.hook.HeymarketHook", "heymarket_conn_id", "Heymarket")
    assert hook_info.connection_testable

    widgets = {k.removeprefix("extra__heymarket__"): v for k, v in manager.connection_form_widgets.items()
               if k.startswith("extra__heymarket__")}
    assert set(widgets) == EXTRA_FIELDS
    # A Redis URL may carry the Redis password, so the form masks it like the secret key.
    assert {name for name, widget in widgets.items() if widget.is_sensitive} == {"secret_key", "rate_limit_redis_url"}
    assert widgets["rate_limit_backend"].field["value"] == "memory"
    assert widgets["requests_per_minute"].field["value"] == 450
    assert widgets["secret_key"].field["schema"]["title"] == "API Secret Key"

    behaviour = manager.field_behaviours["heymarket"]
    # the port stays visible: the Test button needs it stored (see provider_info's comment)
    assert set(behaviour["hidden_fields"]) == {"schema", "login", "extra"}
    assert behaviour["relabeling"] == {"host": "API base URL", "password": "API key", "port": "Port"}
    assert behaviour["placeholders"]["host"] == "https://api.heymarket.com"
    assert behaviour["placeholders"]["port"].startswith("443 ")


def test_task_runtime_resolves_the_hook_class() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    from heymarket_hook.hook import HeymarketHook

    hook_info = ProvidersManagerTaskRuntime().hooks["heymarket"]
    assert hook_info is not None and hook_info.hook_class_name == "heymarket_hook.hook.HeymarketHook"
    assert (HeymarketHook.conn_type, HeymarketHook.conn_name_attr, HeymarketHook.default_conn_name) == (
        "heymarket", "heymarket_conn_id", "heymarket_default")


_HOOK_META_SCRIPT = textwrap.dedent(
    """
    import json
    from fastapi.testclient import TestClient
    from airflow import settings
    from airflow.api_fastapi.app import create_app
    from airflow.models.revoked_token import RevokedToken

    # The only table this read-only endpoint touches is the auth layer's token revocation list.
    RevokedToken.__table__.create(settings.engine, checkfirst=True)
    response = TestClient(create_app(apps="core")).get("/ui/connections/hook_meta")
    body = response.json()
    print(json.dumps({"status": response.status_code,
                      "heymarket": [h for h in body if h.get("connection_type") == "heymarket"]}))
    """
)


def test_api_server_hook_meta_lists_the_heymarket_form(tmp_path: Path) -> None:
    """What the UI's connection form reads, from the real API app (own AIRFLOW_HOME, all-admins auth)."""
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(tmp_path),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path / 'airflow.db'}",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )
    result = subprocess.run([sys.executable, "-c", _HOOK_META_SCRIPT], env=env, capture_output=True, text=True,
                            timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200
    (meta,) = answer["heymarket"]
    assert (meta["hook_class_name"], meta["hook_name"]) == ("heymarket_hook.hook.HeymarketHook", "Heymarket")
    fields = meta["standard_fields"]
    assert fields["password"] == {"hidden": False, "title": "API key",
                                  "placeholder": "team API key (legacy); leave empty when using an API secret"}
    assert fields["host"]["title"] == "API base URL"
    assert all(fields[name]["hidden"] for name in ("url_schema", "login"))
    assert fields["port"]["hidden"] is False and fields["port"]["title"] == "Port"
    assert set(meta["extra_fields"]) == EXTRA_FIELDS
    assert meta["extra_fields"]["secret_key"]["schema"]["format"] == "password"


@pytest.mark.parametrize("field", sorted(EXTRA_FIELDS))
def test_every_declared_extra_is_read_by_the_hook(field: str) -> None:
    """Declared once: every form field is an extra the hook actually reads (no dead form fields)."""
    source = (Path(provider_info.__file__).parent / "hook.py").read_text()
    assert f'extra("{field}")' in source
