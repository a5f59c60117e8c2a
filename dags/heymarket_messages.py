"""``heymarket_messages``: every Heymarket message becomes a completed Task on its Salesforce Contact or Lead.

Wiring only: the copy is ``sync_engine.stages.message_stage.copy_messages`` behind ``CopyMessagesOperator``;
``record_messages_run`` writes the run's ``hm_sync_run`` row (dag_id ``heymarket_messages``) whatever happened.
Same connections, state store and run history as the contact sync; its own schedule (every 15 minutes), one
run at a time. Created paused, as the sync is: unpausing is switching it on.
"""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TriggerRule

from sync_operators.dag_defaults import HEYMARKET_POOL, START_DATE, api_task_defaults
from sync_operators.messages import CopyMessagesOperator, RecordMessagesRunOperator, message_params

DOC = """
### heymarket_messages — Heymarket messages as Salesforce Tasks

Every 15 minutes, one run at a time, once unpaused. Each run:

1. **copy_messages** – reads the messages Heymarket stored since the last run (oldest first; the first run
   looks back `messages.look_back_days`, default 30), finds each message's record through the sync's link
   table (its phone), and upserts one completed Task per message on `Heymarket_Message_Id__c`: `WhoId` the
   Contact or Lead, `OwnerId` the mapped user (else `messages.default_owner_id`), subject "SMS sent" /
   "SMS received", the text in `Description` unless `messages.include_bodies: false`. Messages whose phone
   matches no record are counted (`unmatched`) and copied once their record is linked.
2. **record_messages_run** – the run's row in the Sync history (counts, API calls, why it failed); runs
   whatever happened before it. **messages_ok** (empty) makes the run fail when the copy failed.

**Params**: `mode` incremental | backfill (then `start` and `end`, UTC dates: every message of those days is
upserted again, which creates only the missing Tasks); `dry_run` reads and counts, writes nothing.
"""

with DAG(
    dag_id="heymarket_messages",
    description="Heymarket messages as completed Salesforce Tasks on the linked Contact or Lead",
    schedule="*/15 * * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    tags=["heymarket", "salesforce", "messages"],
    doc_md=DOC,
    default_args=api_task_defaults(),
    params=message_params(),
) as heymarket_messages:
    copy = CopyMessagesOperator(task_id="copy_messages", pool=HEYMARKET_POOL)
    record = RecordMessagesRunOperator(task_id="record_messages_run", copy=copy.output, copy_task_id=copy.task_id,
                                       trigger_rule=TriggerRule.ALL_DONE, retries=3)
    # The run's state comes from this empty leaf (as the sync's sync_ok): record_messages_run is green when it
    # recorded a failed copy, so without it a failed copy would end a "successful" run.
    [copy, record] >> EmptyOperator(task_id="messages_ok")
