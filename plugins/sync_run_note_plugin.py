"""Airflow's plugin scan finds the run-note listener here (see ``sync_operators/run_note.py``).

When a run of ``heymarket_sync`` or ``heymarket_sync_manual`` ends, the listener writes the run's "Why" (why it
failed or wrote less, as ``record_run`` recorded it) as the Airflow run's note.
"""

from airflow.plugins_manager import AirflowPlugin

from sync_operators import run_note


class SyncRunNotePlugin(AirflowPlugin):
    name = "heymarket_sync_run_note"
    listeners = [run_note]
