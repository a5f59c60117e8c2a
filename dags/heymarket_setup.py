"""
### heymarket_setup — check (and with `apply`, fix) what the sync needs, step by step

The managed package's setup screens, as one manual run. Trigger it with **apply off** (the default) to get a
report and change nothing; read the report; fix what it says; trigger it with **apply on** to make the
changes it proposes. Running it again changes nothing that is already in place.

1. **Credentials** – the Heymarket and Salesforce connections work; the Heymarket team; the org's daily API budget.
2. **Default inbox** – the inboxes the connection sees, and whether `default_inbox` is one of them.
3. **User mapping** – active Salesforce users mapped to Heymarket users by e-mail (plus `setup.user_mapping`
   overrides); who must be invited in Heymarket. *apply:* assigns the `setup.permission_set` permission set to
   mapped users and stores the mapping.
4. **Phone fields** – every phone field of Contact and Lead: records with a value, valid E.164 numbers; whether
   the configured default phone field is a good choice.
5. **Field mapping** – every mapping checked against Salesforce's describe and Heymarket's fields, with the
   sync's own rules; required fields and their defaults. *apply:* creates missing Heymarket custom fields.
6. **Task external id (messages)** – the Task field the `heymarket_messages` DAG upserts on
   (`messages.external_id_field`, default `Heymarket_Message_Id__c`): exists, Text, External ID, Unique,
   writable; how to create it in Salesforce Setup when it is not.

The **report** task writes `setup_report.md` (read it top to bottom: ✔ or ✘ per step, a fix for every ✘) and
`setup_report.json` to `<runs_root>/heymarket_setup/<run id>/`, prints it in its log, and fails the run when a
step is ✘.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param, TriggerRule

from sync_operators.setup import (
    CheckCredentialsOperator,
    CheckDefaultInboxOperator,
    CheckFieldMappingOperator,
    CheckPhoneFieldsOperator,
    CheckTaskExternalIdOperator,
    MapUsersOperator,
    SetupReportOperator,
)

with DAG(
    dag_id="heymarket_setup",
    description="Admin setup of the Heymarket sync: credentials, inbox, users, phone fields, field mapping, "
    "the Task external id of the messages DAG",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["heymarket", "salesforce", "setup"],
    doc_md=__doc__,
    default_args={
        "owner": "salesforce-admin",
        "retries": 1,
        "retry_delay": dt.timedelta(seconds=30),
    },
    params={
        "apply": Param(
            False,
            type="boolean",
            title="Apply",
            description="Off: report only, nothing is changed. On: assign the permission set to mapped users, "
            "store the user mapping and create missing Heymarket custom fields (safe to repeat).",
        ),
        "config_path": Param(
            None,
            type=["null", "string"],
            title="Config file",
            description="Path of the sync YAML to check; empty = the deployment's config "
            "(include/mappings/sync.yaml or $HEYMARKET_SYNC_CONFIG).",
        ),
    },
) as dag:
    # Task ids come from the step registry (sync_engine.setup.registry), which the report reads results by.
    credentials = CheckCredentialsOperator()
    steps = [
        operator(credentials=credentials.output)
        for operator in (CheckDefaultInboxOperator, MapUsersOperator, CheckPhoneFieldsOperator, CheckFieldMappingOperator,
                         CheckTaskExternalIdOperator)
    ]
    report = SetupReportOperator(task_id="report", trigger_rule=TriggerRule.ALL_DONE)
    credentials >> steps >> report
