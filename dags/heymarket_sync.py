"""The two sync DAGs, built by one wiring function so that they cannot drift apart.

- ``heymarket_sync``: the scheduled sync (every 30 minutes); created paused, a person switches it on.
- ``heymarket_sync_manual``: the same tasks, operators, params, sync lock and history, with no schedule, for
  runs by hand (dry runs, one object, a few records, full comparisons) and for the Salesforce "Heymarket
  Sync" button. It is created unpaused: with no schedule, being unpaused starts nothing by itself, and a
  paused DAG would leave runs triggered through the REST API queued forever.

Why two DAGs: the Airflow 3.3 trigger dialog ticks "Unpause <dag> on trigger" by default, so a dry run
triggered on the paused scheduled DAG switched production on (its next slot started at once), and unticking
the box left the dry run queued for good. Trigger manual runs on ``heymarket_sync_manual``.
"""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, AssetOrTimeSchedule, TriggerRule
from sync_watchers.schedule import sync_schedule

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
from sync_operators.dag_defaults import HEYMARKET_POOL, START_DATE, api_task_defaults
from sync_operators.params import sync_params

#: Pools that docker-compose.yaml's airflow-init creates: one Heymarket writer at a time (HEYMARKET_POOL; the API
#: allows 500 requests a minute per key and the hook paces itself below that), two Salesforce readers/writers.
SALESFORCE_POOL = "salesforce_api"

_STAGES = """
1. **preflight** – refuses an unknown or wrong param (before anything is read or written); config valid?
   connections alive? default inbox there? Salesforce daily API budget left? takes the sync lock;
2. **extract** – Salesforce Contacts and Leads (all records or a list view) and Heymarket contacts, in full
   or since the last watermark, written as Parquet files to the run folder;
3. **plan** – three-way diff of Salesforce, Heymarket and the last-synced state, keyed on the E.164 phone;
4. **validate** – Great Expectations suite and guards; a failing plan writes nothing;
5. **apply** – creates, updates and deletes in both systems, batched and checkpointed;
6. **record_run** (runs whatever happened before) – one history row with the counts, the run's note with the
   reason when it failed or wrote less, the sync lock released. It is green when it recorded the run, also a
   failed one; **sync_ok**, the last (empty) task, is what makes such a run end failed.

**Params** (all optional; an empty field means the default): `mode` incremental | full (full compares every
record and finds contacts deleted in Heymarket); `objects` Contact and/or Lead; `record_ids` syncs only those
Salesforce records, one per line (a mistyped or unknown id is reported on its own, the others are synced);
`dry_run` plans and reports, writes nothing; `allow_mass_delete` overrides the delete guard. An unknown key
(`{"dryrun": true}`) or a wrong value fails the run in preflight, with a "did you mean" hint, before anything
is read or written.

**Cancel** a run by marking it failed (it stops between batches; everything applied so far is kept and the
next run resumes; see docs/operations.md). The run's **note** says why a run failed or wrote less.
"""

SCHEDULED_DOC = f"""
### heymarket_sync — scheduled two-way sync of Salesforce Contacts and Leads with Heymarket

Runs every 30 minutes (at :00 and :30) and, within about a minute, after an edit on either side (change
watchers in the triggerer; `HEYMARKET_SYNC_WATCHERS=off` turns them off), one run at a time, once unpaused (it
is created paused: unpausing is switching production on). **Trigger runs by hand on `heymarket_sync_manual`**, not here: the trigger dialog
of a paused DAG unpauses it by default, which starts the scheduled sync at once. **Stop the schedule** by
pausing this DAG. Each run:
{_STAGES}"""

MANUAL_DOC = f"""
### heymarket_sync_manual — the same sync, by hand only

No schedule: use it for dry runs, one object, a few records (the Salesforce "Heymarket Sync" button can call
`POST /api/v2/dags/heymarket_sync_manual/dagRuns`) and full comparisons, whether `heymarket_sync` is paused
or not. Same tasks, params, sync lock and history as `heymarket_sync`: a manual run and a scheduled one never
write at the same time (the second one waits for the lock through its retries). Keep this DAG unpaused:
having no schedule, it never starts by itself, and a run triggered through the REST API on a paused DAG
waits in *queued* forever. Each run:
{_STAGES}"""


def sync_dag(dag_id: str, *, schedule: str | AssetOrTimeSchedule | None, doc_md: str, description: str,
             is_paused_upon_creation: bool) -> DAG:
    """One sync DAG: the stages, their order, params, retries and pools (shared by both sync DAGs)."""
    with DAG(
        dag_id=dag_id,
        description=description,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=is_paused_upon_creation,
        tags=["heymarket", "salesforce", "sync"],
        doc_md=doc_md,
        default_args=api_task_defaults(),
        params=sync_params(),
    ) as dag:
        # preflight makes a handful of calls to both APIs; it takes no API pool, so a run never queues behind
        # another run's apply only to learn that the sync lock is held.
        preflight = PreflightOperator(task_id="preflight")
        run = preflight.output
        extract_contacts = SalesforceExtractOperator(task_id="extract_salesforce_contact", object_name="Contact",
                                                     run=run, pool=SALESFORCE_POOL)
        extract_leads = SalesforceExtractOperator(task_id="extract_salesforce_lead", object_name="Lead",
                                                  run=run, pool=SALESFORCE_POOL)
        extract_heymarket = HeymarketExtractOperator(task_id="extract_heymarket", run=run, pool=HEYMARKET_POOL)
        plan = PlanOperator(task_id="plan", run=run,
                            salesforce_extracts=[extract_contacts.output, extract_leads.output],
                            heymarket_extract=extract_heymarket.output)
        validate = ValidatePlanOperator(task_id="validate", run=run, plan=plan.output,
                                        salesforce_extracts=[extract_contacts.output, extract_leads.output])
        extracts = {task.task_id: task.output for task in (extract_contacts, extract_leads, extract_heymarket)}
        # the applies get every extract's output (and apply_salesforce apply_heymarket's) only for the history
        # row they write themselves when the run is cancelled under them
        apply_heymarket = HeymarketApplyOperator(task_id="apply_heymarket", run=run, plan=plan.output,
                                                 heymarket_extract=extract_heymarket.output, extracts=extracts,
                                                 pool=HEYMARKET_POOL)
        apply_salesforce = SalesforceApplyOperator(task_id="apply_salesforce", run=run, plan=plan.output,
                                                   extracts=extracts,
                                                   applied_before={"apply_heymarket": apply_heymarket.output},
                                                   pool=SALESFORCE_POOL)
        # record_run runs once everything before it is done, whatever their states (all_done), and succeeds
        # when it has recorded the run, also a failed one. The run's state comes from its leaf, sync_ok: an
        # empty task that needs every stage and record_run to succeed, so it is upstream_failed (and the run
        # failed) whenever anything failed. (A teardown record_run would give the same on failures, but a run
        # marked failed by a person waits for a pending teardown and then ends *success*: Airflow 3.3 skips
        # the remaining stages and judges the run by them.)
        record_run = RecordRunOperator(
            task_id="record_run", run=run, trigger_rule=TriggerRule.ALL_DONE, retries=3,
            extracts=extracts, plan=plan.output, applies={task.task_id: task.output for task in (apply_heymarket, apply_salesforce)})
        sync_ok = EmptyOperator(task_id="sync_ok")

        validate >> apply_heymarket >> apply_salesforce
        [apply_salesforce, record_run] >> sync_ok
    return dag


#: Every 30 minutes, and (unless HEYMARKET_SYNC_WATCHERS=off) whenever a change watcher sees an edit on either
#: side; max_active_runs=1 folds a burst of edits during a run into one follow-up run.
heymarket_sync = sync_dag(
    "heymarket_sync",
    schedule=sync_schedule("*/30 * * * *"),
    doc_md=SCHEDULED_DOC,
    description="Two-way sync of Salesforce Contacts and Leads with Heymarket, keyed on E.164 phone (scheduled)",
    is_paused_upon_creation=True,
)

heymarket_sync_manual = sync_dag(
    "heymarket_sync_manual",
    schedule=None,
    doc_md=MANUAL_DOC,
    description="The Heymarket sync by hand: dry runs, one object, a few records, full comparisons",
    is_paused_upon_creation=False,
)
