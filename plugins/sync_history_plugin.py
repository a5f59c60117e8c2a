"""Airflow's plugin scan finds the "Sync history" page here (see ``sync_history/__init__.py``)."""

from sync_history.plugin import SyncHistoryPlugin

__all__ = ["SyncHistoryPlugin"]
