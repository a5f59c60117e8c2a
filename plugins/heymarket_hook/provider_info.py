"""Provider metadata that registers the ``heymarket`` connection type with Airflow.

Airflow's UI only offers connection types that come from an installed provider package, so the
project's distribution declares the entry point ``apache_airflow_provider`` pointing at
:func:`get_provider_info`. Airflow calls it while it reads its own configuration, so this module must
stay import-light: no Airflow import and no import of the hook itself (the hook class is named as a
string and imported lazily by the providers manager).

The form is declared here once (``conn-fields`` and ``ui-field-behaviour``, the declarative style
preferred since Airflow 3.2); the hook reads the same extras by their bare names.
"""

from __future__ import annotations

from typing import Any

#: Distribution name; Airflow checks that it matches the installed package's metadata.
PACKAGE_NAME = "heymarket-salesforce-sync"

DEFAULT_HOST = "https://api.heymarket.com"
#: The port of DEFAULT_HOST; the connection form asks for it (see "ui-field-behaviour" below).
DEFAULT_PORT = 443
DEFAULT_REQUESTS_PER_MINUTE = 450
DEFAULT_TIMEOUT_SECONDS = 60.0
#: Heymarket's window; ``rate_limit_period_seconds`` changes it only for an emulator scaled down in time.
DEFAULT_RATE_LIMIT_PERIOD_SECONDS = 60.0

CONNECTION_TYPE: dict[str, Any] = {
    "connection-type": "heymarket",
    "hook-class-name": "heymarket_hook.hook.HeymarketHook",
    "hook-name": "Heymarket",
    "conn-fields": {
        "auth_mode": {
            "label": "Authentication",
            "description": (
                "auto: use the API secret when Secret ID and Secret Key are set, else the team API key. "
                "Heymarket calls the team API key legacy; prefer an API secret."
            ),
            "schema": {"type": "string", "enum": ["auto", "jwt", "api_key"], "default": "auto"},
        },
        "secret_id": {
            "label": "API Secret ID",
            "description": "Settings > Integrations > API Secrets in Heymarket (UUID-shaped).",
            "schema": {"type": ["string", "null"]},
        },
        "secret_key": {
            "label": "API Secret Key",
            "description": "Shown once when the secret is generated; used to sign short-lived JWTs.",
            "schema": {"type": ["string", "null"], "format": "password"},
        },
        "requests_per_minute": {
            "label": "Requests per minute",
            "description": (
                "Client-side pacing below Heymarket's 500/minute limit. With Shared rate limit memory, tasks "
                "that run at the same time with the same credential share that limit: split it between "
                "them, or choose redis so all of them are paced together at this rate."
            ),
            "schema": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 500,
                "default": DEFAULT_REQUESTS_PER_MINUTE,
            },
        },
        "rate_limit_backend": {
            "label": "Shared rate limit",
            "description": (
                "Where the requests of this credential are counted. memory: in each task alone (one process "
                "only). redis: in Redis, shared by every task and Celery worker using this credential, so "
                "together they stay under 'Requests per minute'; set the Redis URL or connection below."
            ),
            "schema": {"type": "string", "enum": ["memory", "redis"], "default": "memory"},
        },
        "rate_limit_redis_url": {
            "label": "Rate limit Redis URL",
            "description": (
                "redis://host:6379/0 (rediss:// for TLS) every worker can reach; used when Shared rate limit "
                "is redis. Masked, as it may hold the Redis password; or leave it empty and name an Airflow "
                "connection below."
            ),
            "schema": {"type": ["string", "null"], "format": "password"},
        },
        "rate_limit_redis_conn_id": {
            "label": "Rate limit Redis connection id",
            "description": "An Airflow connection with the Redis host, port, password, database (schema).",
            "schema": {"type": ["string", "null"]},
        },
        "timeout": {
            "label": "Timeout (seconds)",
            "description": "Read timeout of one HTTP request.",
            "schema": {"type": ["number", "null"], "minimum": 1, "default": DEFAULT_TIMEOUT_SECONDS},
        },
    },
    # Why the Port field is shown (Airflow 3.3.2; the api-server's fix, apache/airflow#73298, is not in it):
    # the Test button lives in the connection list (Admin > Connections, one per row) and posts the listed
    # connection to POST /api/v2/connections/test with `port: Number(connection.port)`, i.e. `port: 0` when
    # the stored port is empty. The api-server compares that port with the stored one (its
    # `_same_endpoint`: "" and None are alike, 0 and None are not); they differ, so it answers 400 "The host
    # or port to test differs from the stored connection" for every Heymarket connection saved without a
    # port, before the hook runs. The form cannot default a field for us: `ui-field-behaviour` has only
    # hidden-fields, relabeling and placeholders; a hidden port is always saved empty (the add form sends
    # `undefined`, the edit form `null`). So the Port field stays visible and the admin saves 443 (or the
    # emulator's port): the button then posts that same port and the test reaches the hook. The hook reads
    # the port too (it must agree with a port named in the base URL; 443 adds nothing to https URLs), so the
    # field is not there only for the button. Checked end to end in tests/deploy/test_connection_test_button.py.
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "login", "extra"],
        "relabeling": {"host": "API base URL", "password": "API key", "port": "Port"},
        "placeholders": {
            "host": DEFAULT_HOST,
            "port": f"{DEFAULT_PORT} (needed by the Test button; must match a port in the URL)",
            "password": "team API key (legacy); leave empty when using an API secret",
            "secret_id": "74f80a77-9b3f-44ac-b3ad-ab68cfb548fa",
            "requests_per_minute": str(DEFAULT_REQUESTS_PER_MINUTE),
            "rate_limit_redis_url": "redis://redis:6379/2",
        },
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow's providers manager reads from the entry point."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "Heymarket",
        "description": "Heymarket REST API hook and connection type for the Heymarket-Salesforce sync.",
        "integrations": [
            {
                "integration-name": "Heymarket",
                "external-doc-url": "https://developers.heymarket.com/",
                "tags": ["service"],
            }
        ],
        "connection-types": [CONNECTION_TYPE],
    }
