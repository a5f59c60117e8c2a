# Production image: the official Airflow 3.3.2 image plus this project installed as a provider package
# (which registers the `heymarket` connection type) and its pinned dependencies.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.txt constraints.txt pyproject.toml README.md /opt/heymarket-sync/
COPY --chown=airflow:root plugins /opt/heymarket-sync/plugins
RUN pip install --no-cache-dir -r /opt/heymarket-sync/requirements.txt -c /opt/heymarket-sync/constraints.txt \
 && pip install --no-cache-dir --no-deps /opt/heymarket-sync

# The "Sync history" UI page is an Airflow plugin: Airflow finds plugins in its plugins folder.
COPY --chown=airflow:root plugins/sync_history_plugin.py /opt/airflow/plugins/
COPY --chown=airflow:root plugins/sync_history /opt/airflow/plugins/sync_history

# Mount points of the compose named volumes. Made here, by the airflow user, so that a new volume starts
# out owned by it (an absent mount point would give a root-owned volume the tasks cannot write to).
RUN mkdir -p /opt/airflow/runs /opt/airflow/sandbox/certs

COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root include /opt/airflow/include
