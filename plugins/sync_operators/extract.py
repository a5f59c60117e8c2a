"""extract_*: read one system into a canonical Parquet frame in the run folder; XCom gets path and counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Re-read a little before the watermark: commits are not instantaneous on either side.
WATERMARK_OVERLAP = dt.timedelta(minutes=5)


def _since(watermark: object) -> dt.datetime | None:
    if not watermark:
        return None
    return dt.datetime.fromisoformat(str(watermark)) - WATERMARK_OVERLAP


class SalesforceExtractOperator(SyncStageOperator):
    """Reads one Salesforce object (Contact or Lead) in its configured scope.

    - full: every record in scope (all, or the list view), plus the linked records the scope no longer
      returns, read by id with ``queryAll`` so the plan can tell "deleted" from "left the list view";
    - incremental: records changed since the watermark (deleted ones included), then the list view's
      filter applied to just those ids to set ``in_scope``;
    - record ids: just those records, the same way as incremental.

    :param object_name: ``Contact`` or ``Lead``.
    """

    template_fields: Sequence[str] = (*SyncStageOperator.template_fields, "object_name")

    def __init__(self, *, object_name: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.object_name = object_name

    def execute(self, context: Context) -> dict[str, object]:
        from salesforce_access import SalesforceAccess
        from sync_engine.frames import empty_salesforce_frame, salesforce_frame
        from sync_operators.runtime import open_state_store

        info = self.run_info()
        config = self.load_config()
        name = self.object_name
        fields = config.salesforce_fields(name)
        phone_field = fields.pop("phone")
        folder = self.run_folder()
        target = f"salesforce_{name}.parquet"
        if name not in info["objects"]:
            path = folder.write_frame(target, empty_salesforce_frame(fields))
            self.log.info("%s is not part of this run; wrote an empty frame", name)
            return {"path": path, "rows": 0, "skipped": True}

        obj = config.object_config(name)
        scope = obj.list_view if obj.scope == "list_view" else "all"
        query_fields = sorted({"Id", "SystemModstamp", "IsDeleted", phone_field, *fields.values()})
        access = SalesforceAccess(config.salesforce.conn_id, bulk_threshold=config.salesforce.bulk_threshold)
        record_ids = list(info["record_ids"])
        records: list[dict[str, object]] = []
        out_of_scope: set[str] = set()

        if record_ids or info["sf_mode"] == "incremental":
            since = None if record_ids else _since(info["watermarks"]["salesforce"].get(name))
            for page in access.iter_records(name, query_fields, scope="all", since=since,
                                            record_ids=record_ids or None, include_deleted=True):
                records.extend(page)
            if scope != "all":
                ids = [str(r["Id"]) for r in records if not r.get("IsDeleted")]
                out_of_scope = set(ids) - access.in_list_view(name, scope, ids)
        else:
            for page in access.iter_records(name, query_fields, scope=scope):
                records.extend(page)
            seen = {str(r["Id"]) for r in records}
            store = open_state_store(config.state.conn_id)
            linked = store.load_links(objects=[name])
            missing = sorted(set(linked["sf_id"]) - seen) if len(linked) else []
            if missing:
                for page in access.iter_records(name, query_fields, scope="all", record_ids=missing,
                                                include_deleted=True):
                    records.extend(page)
                    out_of_scope.update(str(r["Id"]) for r in page if not r.get("IsDeleted"))
            if scope == "all":
                out_of_scope = set()  # with scope "all" a linked record we can still read is in scope

        frame = salesforce_frame(records, name, fields, phone_field, out_of_scope_ids=out_of_scope)
        path = folder.write_frame(target, frame)
        max_modstamp = frame["modstamp"].max() if len(frame) else None
        result = {
            "path": path,
            "rows": len(frame),
            "in_scope": int(frame["in_scope"].sum()),
            "out_of_scope": len(out_of_scope),
            "deleted": int(frame["is_deleted"].sum()),
            "max_modstamp": max_modstamp.isoformat() if max_modstamp is not None else None,
            "api_calls": dict(access.api_calls),
        }
        self.log.info("Salesforce %s: %d records (%d in scope, %d out of scope, %d deleted), %d API calls",
                      name, result["rows"], result["in_scope"], result["out_of_scope"], result["deleted"],
                      sum(access.api_calls.values()))
        return result


class HeymarketExtractOperator(SyncStageOperator):
    """Reads Heymarket contacts: a full sweep, or a date-cursor walk back to the watermark."""

    def execute(self, context: Context) -> dict[str, object]:
        from heymarket_hook import HeymarketHook
        from sync_engine.frames import heymarket_frame

        info = self.run_info()
        config = self.load_config()
        hook = HeymarketHook(heymarket_conn_id=config.heymarket.conn_id)
        field_titles = {str(f["id"]): str(f["title"]) for f in hook.list_contact_fields()}
        keys = sorted({k for name in info["objects"] for k in config.canonical_keys(name)})
        if info["hm_mode"] == "full":
            pages = hook.iter_all_contacts()
        else:
            pages = hook.iter_contacts(since=_since(info["watermarks"]["heymarket"]))
        contacts: list[dict[str, object]] = []
        for page in pages:
            contacts.extend(page)
            if self._stop.is_set():
                raise RuntimeError("stopped on request before the Heymarket read finished; nothing was written")
        frame = heymarket_frame(contacts, field_titles, keys)
        path = self.run_folder().write_frame("heymarket.parquet", frame)
        max_updated = frame["updated"].max() if len(frame) else None
        result = {
            "path": path,
            "rows": len(frame),
            "field_ids": {title: fid for fid, title in field_titles.items()},
            "max_updated": max_updated.isoformat() if max_updated is not None else None,
            "api_calls": dict(hook.api_calls),
        }
        self.log.info("Heymarket: %d contacts (%s), %d API calls", len(frame), info["hm_mode"],
                      sum(hook.api_calls.values()))
        return result
