"""
### heymarket_sync — two-way sync of Salesforce Contacts and Leads with Heymarket

Runs every 30 minutes (at :00 and :30), one run at a time. Each run:

1. **preflight** – config valid? connections alive? Salesforce daily API budget left? takes the sync lock;
2. **extract** – Salesforce Contacts and Leads (all records or a list view) and Heymarket contacts, in full
   or since the last watermark, written as Parquet files to the run folder;
3. **plan** – three-way diff of Salesforce, Heymarket and the last-synced state, keyed on the E.164 phone;
4. **validate** – Great Expectations suite and guards; a failing plan writes nothing;
5. **apply** – creates, updates and deletes in both systems, batched and checkpointed;
6. **record_run** – one history row with the counts; releases the lock (also when something failed).

**Manual runs** (Trigger DAG ▸ with config): `mode` full compares every record (and finds contacts deleted in
Heymarket); `objects` limits the run to Contact or Lead; `record_ids` syncs only those Salesforce records (the
"Heymarket Sync" button); `dry_run` plans and reports without writing; `allow_mass_delete` overrides the
delete guard. **Cancel** a run by marking it failed (it stops between batches; everything applied so far is
kept and the next run resumes; see docs/operations.md); **stop the schedule** by pausing the DAG.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param, TriggerRule

from sync_operators import (
    HeymarketApplyOperator,
    HeymarketExtractOperator,
    PlanOperator,
    PreflightOperator,
    RecordRunOperator,
    SalesforceApplyOperator,
    SalesforceExtractOperator,
    ValidatePlanOperator,
)

SALESFORCE_ID = "^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$"

with DAG(
    dag_id="heymarket_sync",
    description="Two-way sync of Salesforce Contacts and Leads with Heymarket, keyed on E.164 phone",
    schedule="*/30 * * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["heymarket", "salesforce", "sync"],
    doc_md=__doc__,
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=10),
    },
    params={
        "mode": Param(
            "incremental",
            type="string",
            enum=["incremental", "full"],
            title="Mode",
            description="incremental: only what changed since the last run; full: compare every record "
            "(also finds contacts deleted in Heymarket)",
        ),
        "objects": Param(
            ["Contact", "Lead"],
            type="array",
            items={"type": "string", "enum": ["Contact", "Lead"]},
            title="Objects",
            description="Which Salesforce objects this run syncs (only those enabled in the config)",
        ),
        "record_ids": Param(
            [],
            type="array",
            items={"type": "string", "pattern": SALESFORCE_ID},
            title="Record ids",
            description="Sync only these Salesforce Contact/Lead ids (15 or 18 characters, one per line); "
            "empty = all records in scope",
        ),
        "dry_run": Param(False, type="boolean", title="Dry run",
                         description="Plan and report what would change, write nothing"),
        "allow_mass_delete": Param(False, type="boolean", title="Allow mass delete",
                                   description="Override the guard that stops a run deleting more than the "
                                   "configured share of linked contacts"),
    },
) as dag:
    preflight = PreflightOperator(task_id="preflight")
    extract_contacts = SalesforceExtractOperator(task_id="extract_salesforce_contact", object_name="Contact",
                                                 run=preflight.output)
    extract_leads = SalesforceExtractOperator(task_id="extract_salesforce_lead", object_name="Lead",
                                              run=preflight.output)
    extract_heymarket = HeymarketExtractOperator(task_id="extract_heymarket", run=preflight.output)
    plan = PlanOperator(task_id="plan", run=preflight.output)
    validate = ValidatePlanOperator(task_id="validate", run=preflight.output)
    apply_heymarket = HeymarketApplyOperator(task_id="apply_heymarket", run=preflight.output)
    apply_salesforce = SalesforceApplyOperator(task_id="apply_salesforce", run=preflight.output)
    record_run = RecordRunOperator(task_id="record_run", run=preflight.output,
                                   trigger_rule=TriggerRule.ALL_DONE, retries=3)

    [extract_contacts, extract_leads, extract_heymarket] >> plan >> validate
    validate >> apply_heymarket >> apply_salesforce >> record_run
