"""The plan stage: the three-way diff of the extracted frames against the link table, and what follows it.

After the planner (``sync_engine.plan``): the changes to keys an object does not map are dropped,
auto-creates missing a required value are reported instead, a single-record run keeps only its records'
actions, writes whose rejected attempt waits in the retry queue and is not due yet are held back (reported
``waiting_retry``; not in single-record runs), and queued retries the plan shows to be moot (the record was
read again and no longer needs that write) are settled: errors resolved, queue entries dropped (not in dry
runs and single-record runs, which only look).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sync_engine.stages.results import HeymarketExtractResult, PlanResult, SalesforceExtractResult
from sync_engine.stages.retries import ALL_QUEUED, RETRY_DUE_SLACK

if TYPE_CHECKING:
    import pandas as pd

    from sync_engine.config import SyncConfig
    from sync_engine.plan import Plan
    from sync_engine.stages.ports import PlanState, RunFiles
    from sync_engine.vocabulary import ExtractMode, ObjectName

#: Where the plan stage writes the plan (a folder of Parquet files) and the links it planned against.
PLAN_DIR = "plan"
LINKS_FILE = "links.parquet"
#: The Heymarket extract frame in the run folder.
HEYMARKET_FILE = "heymarket.parquet"


@dataclass(frozen=True)
class PlanRequest:
    """What the plan stage needs to know of the run (from preflight's run info).

    :param record_ids: a single-record run's Salesforce ids (empty: a normal run).
    """

    run_id: str
    objects: tuple[ObjectName, ...]
    sf_mode: ExtractMode
    hm_mode: ExtractMode
    record_ids: tuple[str, ...] = ()
    dry_run: bool = False


@dataclass(frozen=True)
class PlanInputs:
    """The extract tasks' results the plan reads: one per Salesforce object, and Heymarket's."""

    salesforce: tuple[SalesforceExtractResult, ...]
    heymarket: HeymarketExtractResult

    def salesforce_file(self, name: str) -> str:
        """The frame of object *name* in the run folder (see :func:`extracted_file`)."""
        return extracted_file(self.salesforce, name)


def extracted_file(results: Sequence[SalesforceExtractResult], name: str) -> str:
    """The frame of object *name* in the run folder, as its extract task handed it on.

    :raises ValueError: no extract task handed on that object (a wiring mistake in the DAG).
    """
    for result in results:
        if result.object_name == name:
            return result.file
    raise ValueError(f"no Salesforce extract of {name} was wired into this task (it has "
                     f"{[r.object_name for r in results]}); wire every extract task's output into it")


def salesforce_file(name: str) -> str:
    """The extract frame of one Salesforce object in the run folder."""
    return f"salesforce_{name}.parquet"



def describe_file(name: str) -> str:
    """The describe of one Salesforce object that preflight kept in the run folder."""
    return f"describe_{name}.json"


def run_plan_stage(request: PlanRequest, extracts: PlanInputs, config: SyncConfig, files: RunFiles,
                   state: PlanState, *, now: dt.datetime | None = None,
                   progress: Callable[[str], None] = lambda _: None) -> PlanResult:
    """Plan the run: read both extract frames and the links, diff them, write the plan, settle moot retries.

    :param extracts: the extract tasks' results (their frames are read from the run folder).
    :param now: the time retries are judged due at (default: now, in UTC).
    :param progress: called with the plan's summary and what was settled (the task log).
    """
    import pandas as pd

    from sync_engine.config import required_create_columns
    from sync_engine.plan import plan as make_plan
    from sync_engine.settings import (
        drop_incomplete_creates,
        drop_unmapped_keys,
        keys_by_object,
        plan_settings,
        restrict_to_records,
        settled_retries,
    )

    objects = list(request.objects)
    salesforce = pd.concat([files.read_frame(extracts.salesforce_file(name)) for name in objects],
                           ignore_index=True)
    heymarket = files.read_frame(extracts.heymarket.file)
    # Every object's links, not only this run's: a contact linked to a Lead is known in a Contact-only run too,
    # so it is never auto-created as a Contact (the planner ignores the other objects' links otherwise).
    links = state.load_links()
    files.write_frame(LINKS_FILE, links)

    raw_phones = salesforce["phone_raw"].dropna().unique().tolist()
    cache = state.get_phone_cache(raw_phones, config.default_region)
    known = set(cache)
    settings = plan_settings(config, objects, sf_mode=request.sf_mode, hm_mode=request.hm_mode,
                             record_ids=bool(request.record_ids))
    result = make_plan(salesforce, heymarket, links, settings, default_region=config.default_region,
                       phone_cache=cache)
    new_entries = {raw: value for raw, value in cache.items() if raw not in known}
    if new_entries:
        state.put_phone_cache(new_entries, config.default_region)
    result = drop_unmapped_keys(result, keys_by_object(config, objects))
    if config.auto_create in objects and files.exists(describe_file(config.auto_create)):
        describe = json.loads(files.read_text(describe_file(config.auto_create)))
        required = required_create_columns(config, config.auto_create, describe)
        result = drop_incomplete_creates(result, {config.auto_create: required})
    if request.record_ids:
        result = restrict_to_records(result, set(request.record_ids))
    # A retry is moot when the plan no longer wants the write, whether or not its backoff is over: judge that
    # before the writes that are not due yet are taken back. A moot retry holds nothing back: one of a write to a
    # contact a full sweep found deleted must not hold the record's write to the contact it is linked to now.
    wanted = result
    queued = state.due_retries(now=ALL_QUEUED)
    moot = queued.iloc[0:0]
    if not request.record_ids:
        moot = settled_retries(wanted, queued, salesforce["sf_id"], heymarket["hm_id"], objects,
                               heymarket_full=request.hm_mode == "full")
        due = (now or dt.datetime.now(dt.UTC)) + RETRY_DUE_SLACK
        result = hold_not_due(result, not_moot(queued, moot), config, objects, due)
    result.to_dir(files.path(PLAN_DIR))
    progress(f"Plan for run {request.run_id}:\n{result.summary_text()}")
    settled = 0 if request.dry_run else settle_retries(state, moot, request.run_id, progress)
    return PlanResult(path=files.path(PLAN_DIR), counts=result.counts(), phones_parsed=len(new_entries),
                      retries_settled=settled)


def not_moot(queued: pd.DataFrame, moot: pd.DataFrame) -> pd.DataFrame:
    """The queued retries that are not among *moot* (a subset of them)."""
    import pandas as pd

    if not len(moot):
        return queued

    def keys(frame: pd.DataFrame) -> list[tuple[object, ...]]:
        return [(r.target, r.action, r.object, r.sf_id if isinstance(r.sf_id, str) else None,
                 None if pd.isna(r.hm_id) else int(r.hm_id)) for r in frame.itertuples(index=False)]

    gone = set(keys(moot))
    return queued[[key not in gone for key in keys(queued)]].reset_index(drop=True)


def hold_not_due(result: Plan, queued: pd.DataFrame, config: SyncConfig, objects: Sequence[ObjectName],
                 due: dt.datetime) -> Plan:
    """The writes whose queued retry is not due at *due* wait (the extracts re-read records whose retry is due
    within the same slack)."""
    from sync_engine.settings import direction_keys, hold_waiting_retries

    to_heymarket, to_salesforce = direction_keys(config, objects)
    return hold_waiting_retries(result, queued, due, to_heymarket, to_salesforce)


def settle_retries(state: PlanState, moot: pd.DataFrame, run_id: str,
                   progress: Callable[[str], None] = lambda _: None) -> int:
    """Resolve the errors and drop the queue entries of moot retries, in one transaction; returns how many."""
    import pandas as pd

    from sync_engine.state import RecordRef

    refs = [RecordRef(target=r.target, object=r.object, sf_id=r.sf_id if isinstance(r.sf_id, str) else None,
                      hm_id=None if pd.isna(r.hm_id) else int(r.hm_id), action=r.action)
            for r in moot.itertuples(index=False)]
    if refs:
        with state.transaction() as conn:
            state.resolve_errors(refs, run_id, conn=conn)
            state.clear_retries(refs, conn=conn)
        progress(f"{len(refs)} queued retries are no longer needed (their records changed); errors resolved")
    return len(refs)
