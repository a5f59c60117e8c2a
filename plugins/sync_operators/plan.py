"""plan: the three-way diff of the extracted frames against the link table, written to the run folder."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class PlanOperator(SyncStageOperator):
    """Loads both extract frames and the links, runs the planner, stores the plan and the phone cache."""

    def execute(self, context: Context) -> dict[str, object]:
        import pandas as pd

        from sync_engine.config_describe import required_create_columns
        from sync_engine.plan import plan as make_plan
        from sync_engine.settings import (
            drop_incomplete_creates,
            drop_unmapped_keys,
            keys_by_object,
            plan_settings,
            restrict_to_records,
        )
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
        settings = plan_settings(config, objects, sf_mode=str(info["sf_mode"]), hm_mode=str(info["hm_mode"]),
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
        result.to_dir(folder.path("plan"))
        self.log.info("Plan for run %s:\n%s", info["run_id"], result.summary_text())
        return {"path": folder.path("plan"), "counts": result.counts(), "phones_parsed": len(new_entries)}
