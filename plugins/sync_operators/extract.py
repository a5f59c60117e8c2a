"""extract_*: read one system into a canonical Parquet frame in the run folder; XCom gets path and counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sync_engine.stages.plan_stage import HEYMARKET_FILE, salesforce_file
from sync_engine.stages.results import HeymarketExtractResult, SalesforceExtractResult
from sync_engine.stages.retries import ALL_QUEUED, RETRY_DUE_SLACK
from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import Context

    from heymarket_hook import HeymarketHook
    from salesforce_access import SalesforceAccess
    from sync_engine.state import OutsideRecord, StateStore
    from sync_engine.vocabulary import ObjectName

#: Re-read a little before the watermark: commits are not instantaneous on either side.
WATERMARK_OVERLAP = dt.timedelta(minutes=5)
#: At most this many queued records are re-read per side and run (oldest due first); the rest wait.
MAX_RETRY_READS = 500


#: Fields read only to decide scope. A converted Lead (``IsConverted``) is read-only in Salesforce and its
#: person lives on in the converted Contact: like Salesforce's own integrations, the sync treats it as out of
#: scope, so its Heymarket contact passes to the Contact with that phone and nothing is written to it.
LIFECYCLE_FIELDS: dict[str, tuple[str, ...]] = {"Lead": ("IsConverted",)}


def converted_leads(records: Iterable[dict[str, object]]) -> set[str]:
    """Ids of the live converted Leads among ``records`` (they leave scope; see ``LIFECYCLE_FIELDS``)."""
    return {str(r["Id"]) for r in records if r.get("IsConverted") and not r.get("IsDeleted")}


@dataclass(frozen=True)
class _ObjectRead:
    """What to read of one object: its scope (``all`` or a list view), phone field and query fields."""

    name: str
    scope: str
    phone_field: str
    query_fields: list[str]
    auto_create: bool


@dataclass
class _SalesforceRead:
    """What an extract read of one object, before it becomes the object's frame."""

    records: list[dict[str, object]] = field(default_factory=list)
    out_of_scope: set[str] = field(default_factory=set)
    #: Records re-read because their retry is due.
    retried: list[object] = field(default_factory=list)
    #: Records read only for their phones: their rejected Heymarket create is not due yet.
    held: list[str] = field(default_factory=list)
    #: Record-id runs: ids Salesforce refused to query -> why.
    rejected: dict[str, str] = field(default_factory=dict)

    def extend(self, pages: Iterable[list[dict[str, object]]]) -> None:
        for page in pages:
            self.records.extend(page)

    def ids(self) -> set[str]:
        return {str(r["Id"]) for r in self.records}


def _watermark(value: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(str(value)) if value else None


def _since(watermark: object) -> dt.datetime | None:
    stamp = _watermark(watermark)
    return stamp - WATERMARK_OVERLAP if stamp is not None else None


def _outside_records(records: Sequence[dict[str, object]], phone_field: str,
                     out_of_scope: set[str] | None = None) -> list[OutsideRecord]:
    """The records read outside the list view (all of ``records``, or those in ``out_of_scope``) that have a
    phone: what the plan must not create again."""
    from sync_engine.state import OutsideRecord

    return [
        OutsideRecord(str(r["Id"]), str(r[phone_field]), _watermark(r.get("SystemModstamp")))
        for r in records
        if (out_of_scope is None or str(r["Id"]) in out_of_scope) and not r.get("IsDeleted") and r.get(phone_field)
    ]


def _salesforce_datetime(value: dt.datetime | None) -> str | None:
    """A stored timestamp in the form Salesforce's REST API writes ``SystemModstamp``."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _queued_ids(queue: pd.DataFrame, column: str, object_name: str | None, action: str | None = None
                ) -> list[str | int]:
    """Ids (``sf_id`` or ``hm_id``) in these retry-queue rows, of one object and action if given; each once,
    in queue order, at most :data:`MAX_RETRY_READS`."""
    if object_name is not None:
        queue = queue[queue["object"] == object_name]
    if action is not None:
        queue = queue[queue["action"] == action]
    return list(dict.fromkeys(queue[column].dropna().tolist()))[:MAX_RETRY_READS]


def queued_create_ids(store: StateStore, object_name: str) -> list[str]:
    """Records of this object whose rejected Heymarket create waits in the retry queue (due or not)."""
    return [str(i) for i in _queued_ids(store.due_retries(now=ALL_QUEUED), "sf_id", object_name, "create_heymarket")]


def due_retry_ids(store: StateStore, column: str, object_name: str | None = None) -> list[str | int]:
    """Ids (``sf_id`` or ``hm_id``) of records whose rejected write is due for another try.

    Watermarks advance past rejected records (their retries are queued instead), so an incremental
    read would never see them again unless they change: each extractor re-reads these by id.
    """
    return _queued_ids(store.due_retries(now=dt.datetime.now(dt.UTC) + RETRY_DUE_SLACK), column, object_name)


class SalesforceExtractOperator(SyncStageOperator):
    """Reads one Salesforce object (Contact or Lead) in its configured scope.

    - full: every record in scope (all, or the list view), plus the linked records the scope no longer
      returns, read by id with ``queryAll`` so the plan can tell "deleted" from "left the list view";
      with a list view and auto-create on, also the phones of the records outside the view (so a
      Heymarket contact with such a phone is never auto-created as a second record);
    - incremental: records changed since the watermark (deleted ones included), then the list view's
      filter applied to just those ids to set ``in_scope``;
    - record ids: just those records, the same way as incremental.

    **Retries.** A run that ends ``partial`` because some records were rejected still advances the
    watermarks (re-reading the whole window every run for one bad record would grow without end); the
    rejected writes wait in the state store's retry queue with a backoff instead. An incremental run
    therefore also reads, by id, the records of this object whose retry is due, so the plan meets them
    again and retries the write. A record that changes meanwhile is read anyway (and retried at once).
    With auto-create on it also reads the records whose rejected Heymarket create is *not* due yet: the
    plan must know their phones, or a contact an agent adds for one of them would be auto-created as a
    second record; the plan stage holds their creates back until the backoff ends.

    **List views, incremental.** With auto-create on, the phones of the records outside the view are
    kept in the state store by full reads and handed to the plan by incremental ones (see
    ``hm_sync_outside_view``), for the same reason.

    :param object_name: ``Contact`` or ``Lead``.
    """

    template_fields: Sequence[str] = (*SyncStageOperator.template_fields, "object_name")

    def __init__(self, *, object_name: ObjectName, **kwargs: Any) -> None:
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
        target = salesforce_file(name)
        if name not in info.objects:
            path = folder.write_frame(target, empty_salesforce_frame(fields))
            self.log.info("%s is not part of this run; wrote an empty frame", name)
            return SalesforceExtractResult(object_name=name, path=path, file=target, skipped=True).to_xcom()

        obj = config.object_config(name)
        spec = _ObjectRead(
            name=name,
            scope=str(obj.list_view) if obj.scope == "list_view" else "all",
            phone_field=phone_field,
            query_fields=sorted({"Id", "SystemModstamp", "IsDeleted", phone_field, *fields.values(),
                                 *LIFECYCLE_FIELDS.get(name, ())}),
            auto_create=config.auto_create != "none",
        )
        record_ids = list(info.ids_of(name))
        if info.record_ids and not record_ids:
            path = folder.write_frame(target, empty_salesforce_frame(fields))
            self.log.info("%s: none of this run's record ids is a %s id; nothing to read", name, name)
            return SalesforceExtractResult(object_name=name, path=path, file=target).to_xcom()
        access = SalesforceAccess(config.salesforce.conn_id, bulk_threshold=config.salesforce.bulk_threshold)
        store = open_state_store(config.state.conn_id)
        if record_ids or info.sf_mode == "incremental":
            since = None if record_ids else _watermark(info.watermarks.salesforce.get(name))
            read = self._read_changes(access, store, spec, since, record_ids, info.run_id)
        else:
            read = self._read_all(access, store, spec, info.run_id)
        converted = converted_leads(read.records) - read.out_of_scope
        if converted:
            read.out_of_scope |= converted
            self.log.info("%s: %d converted Leads read are out of scope (their Heymarket contacts pass to the "
                          "converted Contacts; nothing is written to a converted Lead)", name, len(converted))

        frame = salesforce_frame(read.records, name, fields, phone_field, out_of_scope_ids=read.out_of_scope)
        path = folder.write_frame(target, frame)
        max_modstamp = frame["modstamp"].max() if len(frame) else None
        # a record-id run: which of the requested ids Salesforce returned (record_run names the others)
        found_ids = sorted(set(record_ids) & read.ids()) if record_ids else []
        result = SalesforceExtractResult(
            object_name=name, path=path, file=target, rows=len(frame), found_ids=tuple(found_ids),
            rejected_ids=dict(read.rejected), in_scope=int(frame["in_scope"].sum()),
            out_of_scope=len(read.out_of_scope), deleted=int(frame["is_deleted"].sum()), retried=len(read.retried),
            held=len(read.held), max_modstamp=max_modstamp.isoformat() if max_modstamp is not None else None,
            api_calls=dict(access.api_calls))
        self.log.info("Salesforce %s: read %d records (%d in scope, %d out of scope, %d deleted, %d re-read for "
                      "a due retry, %d read only for their phones: their rejected create is not due yet) with %d "
                      "API calls", name, result.rows, result.in_scope, result.out_of_scope,
                      result.deleted, len(read.retried), len(read.held), sum(access.api_calls.values()))
        if record_ids:
            self.log.info("%s: %d of the %d requested record ids found", name, len(found_ids),
                          len(record_ids))
        return result.to_xcom()

    def _read_changes(self, access: SalesforceAccess, store: StateStore, spec: _ObjectRead,
                      since: dt.datetime | None, record_ids: list[str], run_id: str) -> _SalesforceRead:
        """Incremental (or record-id) read: changed records, due retries, held creates, then the view's filter."""
        read = _SalesforceRead()
        if record_ids:
            self._read_record_ids(access, spec, record_ids, read)
        else:
            # SalesforceAccess starts ``overlap`` before the watermark itself.
            read.extend(access.iter_records(spec.name, spec.query_fields, scope="all", since=since,
                                            overlap=WATERMARK_OVERLAP, include_deleted=True))
        if not record_ids:
            seen = read.ids()
            read.retried = [i for i in due_retry_ids(store, "sf_id", spec.name) if str(i) not in seen]
            if read.retried:
                read.extend(access.iter_records(spec.name, spec.query_fields, scope="all",
                                                record_ids=[str(i) for i in read.retried], include_deleted=True))
            if spec.auto_create:
                seen = read.ids()
                read.held = [i for i in queued_create_ids(store, spec.name) if i not in seen]
                if read.held:
                    read.extend(access.iter_records(spec.name, spec.query_fields, scope="all", record_ids=read.held,
                                                    include_deleted=True))
        if spec.scope != "all":
            ids = [str(r["Id"]) for r in read.records if not r.get("IsDeleted")]
            read.out_of_scope = set(ids) - access.in_list_view(spec.name, spec.scope, ids)
            if spec.auto_create:
                if not store.outside_view_scanned(spec.name, spec.scope):
                    self._scan_outside_view(access, store, spec, read.ids(), run_id)
                outside = self._outside_view_from_store(store, spec.name, spec.scope, spec.phone_field,
                                                             read.records, read.out_of_scope)
                read.records.extend(outside)
                read.out_of_scope.update(str(r["Id"]) for r in outside)
        return read

    def _read_record_ids(self, access: SalesforceAccess, spec: _ObjectRead, record_ids: list[str],
                         read: _SalesforceRead) -> None:
        """The requested records; when Salesforce refuses the ``Id IN (...)`` query over one id, each on its own.

        Preflight checks every id's shape and checksum, so a refusal is rare (an org with rules of its own);
        it must still cost only the refused id, not the run: the others are read and synced.
        """
        from salesforce_access import SalesforceRequestError

        try:
            read.extend(access.iter_records(spec.name, spec.query_fields, scope="all", record_ids=record_ids,
                                            include_deleted=True))
            return
        except SalesforceRequestError as exc:
            if "invalid id" not in str(exc).lower():
                raise
        read.records.clear()
        for record_id in record_ids:
            try:
                read.extend(access.iter_records(spec.name, spec.query_fields, scope="all", record_ids=[record_id],
                                                include_deleted=True))
            except SalesforceRequestError as exc:
                if "invalid id" not in str(exc).lower():
                    raise
                read.rejected[record_id] = f"Salesforce refused the id ({exc.error_code or 'invalid ID'})"
        self.log.warning("%s: Salesforce refused %d of %d record ids; the others were read", spec.name,
                         len(read.rejected), len(record_ids))

    def _scan_outside_view(self, access: SalesforceAccess, store: StateStore, spec: _ObjectRead, read: set[str],
                           run_id: str) -> None:
        """Store the phones outside the view when no full read has yet (auto-create just switched on, or the
        list view changed), so this incremental run already knows them. Two narrow reads, once per view."""
        self.log.info("%s: the records outside list view %s were never read for this view; reading their ids "
                      "and phones once (full comparisons keep them up to date from now on)", spec.name, spec.scope)
        in_view = {str(r["Id"]) for page in access.iter_records(spec.name, [], scope=spec.scope) for r in page}
        outside = self._phones_outside_view(access, spec.name, spec.phone_field, read | in_view)
        kept = store.replace_outside_view(spec.name, spec.scope,
                                          _outside_records(outside, spec.phone_field),
                                          run_id)
        self.log.info("%s: %d records with a phone outside list view %s stored", spec.name, kept, spec.scope)

    def _read_all(self, access: SalesforceAccess, store: StateStore, spec: _ObjectRead,
                  run_id: str) -> _SalesforceRead:
        """Full read: every record in scope, linked records the scope no longer returns, phones outside the view."""
        read = _SalesforceRead()
        read.extend(access.iter_records(spec.name, spec.query_fields, scope=spec.scope))
        seen = read.ids()
        linked = store.load_links(objects=[spec.name])
        missing = sorted(set(linked["sf_id"].dropna()) - seen) if len(linked) else []  # released: no record
        if missing:
            for page in access.iter_records(spec.name, spec.query_fields, scope="all", record_ids=missing,
                                            include_deleted=True):
                read.records.extend(page)
                read.out_of_scope.update(str(r["Id"]) for r in page if not r.get("IsDeleted"))
        if spec.scope == "all":
            read.out_of_scope = set()  # with scope "all" a linked record we can still read is in scope
        elif spec.auto_create:
            outside = self._phones_outside_view(access, spec.name, spec.phone_field, seen | set(missing))
            read.records.extend(outside)
            read.out_of_scope.update(str(r["Id"]) for r in outside)
            kept = store.replace_outside_view(spec.name, spec.scope,
                                              _outside_records(read.records, spec.phone_field, read.out_of_scope),
                                              run_id)
            self.log.info("%s: %d records with a phone outside list view %s, kept for incremental runs",
                          spec.name, kept, spec.scope)
        return read

    @staticmethod
    def _outside_view_from_store(store: StateStore, name: str, list_view: str, phone_field: str,
                                      records: list[dict[str, object]], out_of_scope: set[str]
                                      ) -> list[dict[str, object]]:
        """Records outside the view that this incremental read did not see, as out-of-scope rows.

        The full comparison stored the phones of every record outside the view; the records read now
        update that (a record that left the view is added, one that came back or was deleted is dropped),
        and the unchanged rest is handed to the plan like a full comparison would, so a Heymarket contact
        with the phone of an old record outside the view is not auto-created as a second record.
        """
        read = {str(r["Id"]) for r in records}
        outside = _outside_records(records, phone_field, out_of_scope)
        store.update_outside_view(name, list_view, outside, read - {r.sf_id for r in outside})
        return [
            {"Id": r.sf_id, "SystemModstamp": _salesforce_datetime(r.modstamp), phone_field: r.phone_raw}
            for r in store.load_outside_view(name, list_view)
            if r.sf_id not in read
        ]

    @staticmethod
    def _phones_outside_view(access: SalesforceAccess, name: str, phone_field: str,
                             read: set[str]) -> list[dict[str, object]]:
        """Id and phone of every record outside the list view (not read yet), as out-of-scope rows.

        The plan must know every phone Salesforce holds before it auto-creates a record for a Heymarket
        contact nobody claimed: a Contact outside the view with that phone would otherwise be created a
        second time. Only full sweeps with auto-create on pay for this read (two narrow columns).
        """
        found: list[dict[str, object]] = []
        for page in access.iter_records(name, ["SystemModstamp", phone_field], scope="all"):
            found.extend(r for r in page if str(r["Id"]) not in read and r.get(phone_field))
        return found


class HeymarketExtractOperator(SyncStageOperator):
    """Reads Heymarket contacts: a full sweep, or a date-cursor walk back to the watermark.

    An incremental read also fetches, one by one, the contacts whose rejected write is due for another try
    (see :class:`SalesforceExtractOperator`); a contact deleted meanwhile is simply not there (the next
    full sweep unlinks it).
    """

    def execute(self, context: Context) -> dict[str, object]:
        from sync_engine.frames import heymarket_frame
        from sync_operators.runtime import heymarket_hook, open_state_store

        info = self.run_info()
        config = self.load_config()
        hook = heymarket_hook(config)
        field_titles = {str(f["id"]): str(f["title"]) for f in hook.list_contact_fields()}
        keys = sorted({k for name in info.objects for k in config.canonical_keys(name)})
        if info.hm_mode == "full":
            pages = hook.iter_all_contacts()
        else:
            pages = hook.iter_contacts(since=_since(info.watermarks.heymarket))
        contacts: list[dict[str, Any]] = []  # the API's JSON
        for page in pages:
            contacts.extend(page)
            if self._stop.is_set():
                raise RuntimeError("stopped on request before the Heymarket read finished; nothing was written")
        retried: list[int] = []
        if info.hm_mode != "full" and not info.record_ids:
            seen = {int(c["id"]) for c in contacts}
            due = due_retry_ids(open_state_store(config.state.conn_id), "hm_id")
            retried = [int(i) for i in due if int(i) not in seen]
            contacts.extend(self._read_by_id(hook, retried))
        frame = heymarket_frame(contacts, field_titles, keys)
        path = self.run_folder().write_frame(HEYMARKET_FILE, frame)
        max_updated = frame["updated"].max() if len(frame) else None
        result = HeymarketExtractResult(
            path=path, file=HEYMARKET_FILE, rows=len(frame),
            field_ids={title: fid for fid, title in field_titles.items()}, retried=len(retried),
            max_updated=max_updated.isoformat() if max_updated is not None else None, api_calls=dict(hook.api_calls))
        self.log.info("Heymarket: %d contacts (%s, %d re-read for a due retry), %d API calls", len(frame),
                      info.hm_mode, len(retried), sum(hook.api_calls.values()))
        return result.to_xcom()

    @staticmethod
    def _read_by_id(hook: HeymarketHook, hm_ids: list[int]) -> list[dict[str, object]]:
        from heymarket_hook.errors import HeymarketNotFound

        found = []
        for hm_id in hm_ids:
            try:
                found.append(hook.get_contact(hm_id))
            except HeymarketNotFound:
                continue
        return found
