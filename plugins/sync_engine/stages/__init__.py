"""The logic of each stage of the sync DAG, one function per stage, without Airflow.

A stage function takes small protocols (:mod:`sync_engine.stages.ports`: the run's files, the part of the
state store it uses) and the run's request, and returns a frozen result (:mod:`sync_engine.stages.results`)
whose ``to_xcom()`` is what the task hands on. The operators in ``sync_operators`` only build the hooks and
the store, call the stage and push its result; the unit tests call the stages with fakes.
"""
