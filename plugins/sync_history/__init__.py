"""The "Sync history" page of the Airflow UI: run history of the sync as a table and bar charts.

``plugin.SyncHistoryPlugin`` mounts ``app.create_app()`` at ``/sync-history`` in the api-server and adds a
*Browse > Sync history* entry that shows it inside the Airflow UI. Airflow discovers it through
``plugins/sync_history_plugin.py``; this package's own files are kept out of Airflow's plugin scan
(``.airflowignore``), which would otherwise import each of them a second time as a top-level module.
"""
