"""The Airflow plugin: the history app at ``/sync-history`` and its entry in the UI's Browse menu."""

from __future__ import annotations

from functools import cached_property

from airflow.plugins_manager import AirflowPlugin

from sync_history.app import URL_PREFIX

EXTERNAL_VIEW = {
    "name": "Sync history",
    "href": f"{URL_PREFIX}/",
    "destination": "nav",
    "category": "browse",
    # With url_route the UI shows the page inside its own shell (an iframe at /plugin/sync-history).
    "url_route": "sync-history",
}


class SyncHistoryPlugin(AirflowPlugin):
    """Every Airflow process imports plugins (task processes too, for macros), but only the api-server reads
    ``fastapi_apps``. Building the app pulls in Airflow's whole API package (seconds), so it is built on
    first access instead of at import: a task process never pays for it.
    """

    name = "sync_history"
    external_views = [EXTERNAL_VIEW]

    @cached_property
    def fastapi_apps(self) -> list[dict[str, object]]:  # type: ignore[override]  # a lazy property where AirflowPlugin declares a list attribute; read the same way
        from sync_history.app import create_app

        return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Sync history"}]
