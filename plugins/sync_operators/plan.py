"""plan: the three-way diff of the extracted frames against the link table, written to the run folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context

    from sync_engine.config import SyncConfig
    from sync_engine.plan import Plan
    from sync_engine.state import StateStore
    from sync_engine.vocabulary import ObjectName


class PlanOperator(SyncStageOperator):
    """Loads both extract frames and the links, runs the planner, stores the plan and the phone cache.

    Writes whose rejected attempt waits in the retry queue and is not due yet are held back (reported
    ``waiting_retry``), in every direction; a single-record run (the "Heymarket Sync" button) holds nothing.
    It also settles queued retries the plan shows to be moot (the record was read again and no longer needs
    that write): their errors are resolved and their queue entries dropped (not in dry runs and single-record
    runs, which only look).
    """

    def execute(self, context: Context) -> dict[str, object]:
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
        from sync_operators.extract import ALL_QUEUED
        from sync_operators.runtime import open_state_store

        info = self.run_info()
        config = self.load_config()
        folder = self.run_folder()
        objects = list(info["objects"])
        salesforce = pd.concat([folder.read_frame(f"salesforce_{name}.parquet") for name in objects],
                               ignore_index=True)
        heymarket = folder.read_frame("heymarket.parquet")
        store = open_state_store(config.state.conn_id)
        # Every object's links, not only this run's: a contact linked to a Lead is known in a Contact-only
        # run too, so it is never auto-created as a Contact (the planner ignores the other objects' links
        # otherwise).
        links = store.load_links()
        folder.write_frame("links.parquet", links)

        raw_phones = salesforce["phone_raw"].dropna().unique().tolist()
        cache = store.get_phone_cache(raw_phones, config.default_region)
        known = set(cache)
        settings = plan_settings(config, objects, sf_mode=info["sf_mode"], hm_mode=info["hm_mode"],
                                 record_ids=bool(info["record_ids"]))
        result = make_plan(salesforce, heymarket, links, settings, default_region=config.default_region,
                           phone_cache=cache)
        new_entries = {raw: value for raw, value in cache.items() if raw not in known}
        if new_entries:
            store.put_phone_cache(new_entries, config.default_region)
        result = drop_unmapped_keys(result, keys_by_object(config, objects))
        if config.auto_create in objects and folder.exists(f"describe_{config.auto_create}.json"):
            describe = json.loads(folder.read_text(f"describe_{config.auto_create}.json"))
            required = required_create_columns(config, config.auto_create, describe)
            result = drop_incomplete_creates(result, {config.auto_create: required})
        if info["record_ids"]:
            result = restrict_to_records(result, set(info["record_ids"]))
        # A retry is moot when the plan no longer wants the write, whether or not its backoff is over: judge
        # that before the writes that are not due yet are taken back.
        wanted = result
        queued = store.due_retries(now=ALL_QUEUED)
        if not info["record_ids"]:
            result = self._hold(result, queued, config, objects)
        result.to_dir(folder.path("plan"))
        self.log.info("Plan for run %s:\n%s", info["run_id"], result.summary_text())
        settled = 0
        if not info["record_ids"] and not info["dry_run"]:
            moot = settled_retries(wanted, queued, salesforce["sf_id"], heymarket["hm_id"], objects,
                                   heymarket_full=info["hm_mode"] == "full")
            settled = self._settle(store, moot, str(info["run_id"]))
        return {"path": folder.path("plan"), "counts": result.counts(), "phones_parsed": len(new_entries),
                "retries_settled": settled}

    @staticmethod
    def _hold(result: Plan, queued: pd.DataFrame, config: SyncConfig, objects: Sequence[ObjectName]) -> Plan:
        """The writes whose queued retry is not due yet wait (due as the extracts count it: within the slack
        they re-read such records with)."""
        import datetime as dt

        from sync_engine.settings import direction_keys, hold_waiting_retries
        from sync_operators.extract import RETRY_DUE_SLACK

        to_heymarket, to_salesforce = direction_keys(config, objects)
        now = dt.datetime.now(dt.UTC) + RETRY_DUE_SLACK
        return hold_waiting_retries(result, queued, now, to_heymarket, to_salesforce)

    def _settle(self, store: StateStore, moot: pd.DataFrame, run_id: str) -> int:
        import pandas as pd

        from sync_engine.state import RecordRef

        refs = [RecordRef(target=r.target, object=r.object, sf_id=r.sf_id if isinstance(r.sf_id, str) else None,
                          hm_id=None if pd.isna(r.hm_id) else int(r.hm_id), action=r.action)
                for r in moot.itertuples(index=False)]
        if refs:
            with store.transaction() as conn:
                store.resolve_errors(refs, run_id, conn=conn)
                store.clear_retries(refs, conn=conn)
            self.log.info("%d queued retries are no longer needed (their records changed); errors resolved",
                          len(refs))
        return len(refs)
