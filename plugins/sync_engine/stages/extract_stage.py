"""The extract stages: read one system into a canonical Parquet frame in the run folder, and say what was read.

**Salesforce** (:func:`run_salesforce_extract`, one object per task):

- full: every record in scope (all, or the list view), plus the linked records the scope no longer returns,
  read by id with ``queryAll`` so the plan can tell "deleted" from "left the list view"; with a list view and
  auto-create on, also the phones of the records outside the view (so a Heymarket contact with such a phone is
  never auto-created as a second record);
- incremental: records changed since the watermark (deleted ones included), then the list view's filter applied
  to just those ids to set ``in_scope``;
- record ids: just those records, the same way as incremental.

**Retries.** A run that ends ``partial`` because some records were rejected still advances the watermarks
(re-reading the whole window every run for one bad record would grow without end); the rejected writes wait in
the state store's retry queue with a backoff instead. An incremental run therefore also reads, by id, the
records whose retry is due, so the plan meets them again and retries the write. With auto-create on it also
reads the records whose rejected Heymarket create is *not* due yet: the plan must know their phones, or a
contact an agent adds for one of them would be auto-created as a second record; the plan stage holds their
creates back until the backoff ends.

**List views, incremental.** With auto-create on, the phones of the records outside the view are kept in the
state store by full reads and handed to the plan by incremental ones (``hm_sync_outside_view``).

**Heymarket** (:func:`run_heymarket_extract`): a full sweep, or a date-cursor walk back to the watermark; an
incremental read also fetches, one by one, the contacts whose rejected write is due for another try (a contact
deleted meanwhile is simply not there: the next full sweep unlinks it).

The systems are reached through small ports (:class:`SalesforceReader`, :class:`HeymarketReader`); how a
system says "this id is refused" or "no such contact" is the caller's to tell (``refused_id``, ``missing``),
since the engine imports neither client.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sync_engine.stages.plan_stage import HEYMARKET_FILE, salesforce_file
from sync_engine.stages.results import HeymarketExtractResult, SalesforceExtractResult
from sync_engine.stages.retries import ALL_QUEUED, RETRY_DUE_SLACK

if TYPE_CHECKING:
    import pandas as pd

    from sync_engine.api_cache import BudgetReading
    from sync_engine.config import SyncConfig
    from sync_engine.stages.ports import RunFiles
    from sync_engine.stages.results import RunInfo
    from sync_engine.state import OutsideRecord
    from sync_engine.vocabulary import ObjectName

#: Re-read a little before the watermark: commits are not instantaneous on either side.
WATERMARK_OVERLAP = dt.timedelta(minutes=5)
#: At most this many queued records are re-read per side and run (oldest due first); the rest wait.
MAX_RETRY_READS = 500
#: Fields read only to decide scope. A converted Lead (``IsConverted``) is read-only in Salesforce and its
#: person lives on in the converted Contact: like Salesforce's own integrations, the sync treats it as out of
#: scope, so its Heymarket contact passes to the Contact with that phone and nothing is written to it.
LIFECYCLE_FIELDS: dict[str, tuple[str, ...]] = {"Lead": ("IsConverted",)}

Page = list[dict[str, Any]]  # one page of a system's JSON records


class SalesforceReader(Protocol):
    """Salesforce records by scope, change window or id, and a list view's filter (``SalesforceAccess``)."""

    def iter_records(self, sobject: str, fields: Sequence[str], *, scope: str = "all",
                     since: dt.datetime | None = None, record_ids: Sequence[str] | None = None,
                     include_deleted: bool = False, overlap: dt.timedelta | None = None) -> Iterator[Page]: ...

    def in_list_view(self, sobject: str, list_view: str, ids: Sequence[str]) -> set[str]: ...

    def last_seen_budget(self) -> BudgetReading | None: ...

    @property
    def api_calls(self) -> dict[str, int]: ...


class HeymarketReader(Protocol):
    """Heymarket contacts: every one, those changed since an instant, one by id; the custom fields
    (``HeymarketHook``)."""

    def list_contact_fields(self) -> list[dict[str, Any]]: ...

    def iter_all_contacts(self) -> Iterator[Page]: ...

    def iter_contacts(self, since: dt.datetime | None = None) -> Iterator[Page]: ...

    def get_contact(self, contact_id: int) -> dict[str, Any]: ...

    @property
    def api_calls(self) -> dict[str, int]: ...


class ExtractState(Protocol):
    """What the extract stages read from and write to the state store."""

    def due_retries(self, now: dt.datetime | None = None) -> pd.DataFrame: ...

    def load_links(self, objects: Iterable[str] | None = None) -> pd.DataFrame: ...

    def outside_view_scanned(self, object_name: str, list_view: str) -> bool: ...

    def replace_outside_view(self, object_name: str, list_view: str, records: Iterable[OutsideRecord],
                             run_id: str | None = None) -> int: ...

    def update_outside_view(self, object_name: str, list_view: str, outside: Iterable[OutsideRecord],
                            not_outside: Iterable[str]) -> None: ...

    def put_cached(self, key: str, value: object) -> None: ...

    def load_outside_view(self, object_name: str, list_view: str) -> list[OutsideRecord]: ...


def converted_leads(records: Iterable[Mapping[str, object]]) -> set[str]:
    """Ids of the live converted Leads among ``records`` (they leave scope; see ``LIFECYCLE_FIELDS``)."""
    return {str(r["Id"]) for r in records if r.get("IsConverted") and not r.get("IsDeleted")}


@dataclass(frozen=True)
class ObjectRead:
    """What to read of one object: its scope (``all`` or a list view), phone field and query fields."""

    name: str
    scope: str
    phone_field: str
    query_fields: list[str]
    auto_create: bool


@dataclass
class SalesforceRead:
    """What an extract read of one object, before it becomes the object's frame.

    :param retried: records re-read because their retry is due.
    :param held: records read only for their phones: their rejected Heymarket create is not due yet.
    :param rejected: record-id runs: ids Salesforce refused to query -> why.
    """

    records: list[dict[str, object]] = field(default_factory=list)
    out_of_scope: set[str] = field(default_factory=set)
    retried: list[object] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)

    def extend(self, pages: Iterable[Page]) -> None:
        for page in pages:
            self.records.extend(page)

    def ids(self) -> set[str]:
        return {str(r["Id"]) for r in self.records}


def run_salesforce_extract(name: ObjectName, info: RunInfo, config: SyncConfig, files: RunFiles,
                           access: SalesforceReader, open_state: Callable[[], ExtractState], *,
                           refused_id: Callable[[Exception], str | None] = lambda _: None,
                           progress: Callable[[str], None] = lambda _: None,
                           warn: Callable[[str], None] = lambda _: None) -> SalesforceExtractResult:
    """Read one Salesforce object as the run info says (full, incremental or by id), write its frame.

    :param open_state: opens the state store, only when the object is read at all.
    :param refused_id: the error code when an exception is Salesforce refusing an id in a query (``None``:
        another failure, which is raised).
    """
    from sync_engine.frames import empty_salesforce_frame, salesforce_frame

    fields = config.salesforce_fields(name)
    phone_field = fields.pop("phone")
    target = salesforce_file(name)
    if name not in info.objects:
        path = files.write_frame(target, empty_salesforce_frame(fields))
        progress(f"{name} is not part of this run; wrote an empty frame")
        return SalesforceExtractResult(object_name=name, path=path, file=target, skipped=True)
    record_ids = list(info.ids_of(name))
    if info.record_ids and not record_ids:
        path = files.write_frame(target, empty_salesforce_frame(fields))
        progress(f"{name}: none of this run's record ids is a {name} id; nothing to read")
        return SalesforceExtractResult(object_name=name, path=path, file=target)
    obj = config.object_config(name)
    spec = ObjectRead(name=name, scope=str(obj.list_view) if obj.scope == "list_view" else "all",
                      phone_field=phone_field, auto_create=config.auto_create != "none",
                      query_fields=sorted({"Id", "SystemModstamp", "IsDeleted", phone_field, *fields.values(),
                                           *LIFECYCLE_FIELDS.get(name, ())}))
    state = open_state()
    reader = _Reader(access, state, spec, info.run_id, refused_id, progress, warn)
    if record_ids or info.sf_mode == "incremental":
        read = reader.changes(None if record_ids else _watermark(info.watermarks.salesforce.get(name)), record_ids)
    else:
        read = reader.everything()
    converted = converted_leads(read.records) - read.out_of_scope
    if converted:
        read.out_of_scope |= converted
        progress(f"{name}: {len(converted)} converted Leads read are out of scope (their Heymarket contacts pass to "
                 "the converted Contacts; nothing is written to a converted Lead)")
    frame = salesforce_frame(read.records, name, fields, phone_field, out_of_scope_ids=read.out_of_scope)
    path = files.write_frame(target, frame)
    keep_budget(access, state)
    max_modstamp = frame["modstamp"].max() if len(frame) else None
    # a record-id run: which of the requested ids Salesforce returned (record_run names the others)
    found_ids = sorted(set(record_ids) & read.ids()) if record_ids else []
    result = SalesforceExtractResult(
        object_name=name, path=path, file=target, rows=len(frame), found_ids=tuple(found_ids),
        rejected_ids=dict(read.rejected), in_scope=int(frame["in_scope"].sum()), out_of_scope=len(read.out_of_scope),
        deleted=int(frame["is_deleted"].sum()), retried=len(read.retried), held=len(read.held),
        max_modstamp=max_modstamp.isoformat() if max_modstamp is not None else None, api_calls=dict(access.api_calls))
    progress(f"Salesforce {name}: read {result.rows} records ({result.in_scope} in scope, {result.out_of_scope} out "
             f"of scope, {result.deleted} deleted, {result.retried} re-read for a due retry, {result.held} read only "
             f"for their phones: their rejected create is not due yet) with {sum(access.api_calls.values())} API "
             "calls")
    if record_ids:
        progress(f"{name}: {len(found_ids)} of the {len(record_ids)} requested record ids found")
    return result


def keep_budget(access: SalesforceReader, state: ExtractState) -> None:
    """Keep the daily budget the last response's ``Sforce-Limit-Info`` header carried (free, fresher than
    ``/limits``) for the next run's preflight and the change watcher, so that they need not ask for it."""
    from sync_engine.api_cache import LIMITS_KEY

    budget = access.last_seen_budget()
    if budget is not None:
        state.put_cached(LIMITS_KEY, {"used": int(budget.used), "max": int(budget.max)})


@dataclass
class _Reader:
    """The reads of one object's extract, over the ports (one instance per extract)."""

    access: SalesforceReader
    store: ExtractState
    spec: ObjectRead
    run_id: str
    refused_id: Callable[[Exception], str | None]
    progress: Callable[[str], None]
    warn: Callable[[str], None]

    def changes(self, since: dt.datetime | None, record_ids: list[str]) -> SalesforceRead:
        """Incremental (or record-id) read: changed records, due retries, held creates, then the view's filter."""
        access, store, spec = self.access, self.store, self.spec
        read = SalesforceRead()
        if record_ids:
            self.record_ids(record_ids, read)
        else:
            # SalesforceAccess starts ``overlap`` before the watermark itself.
            read.extend(access.iter_records(spec.name, spec.query_fields, scope="all", since=since,
                                            overlap=WATERMARK_OVERLAP, include_deleted=True))
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
                    self.scan_outside_view(read.ids())
                outside = self.outside_view_from_store(read.records, read.out_of_scope)
                read.records.extend(outside)
                read.out_of_scope.update(str(r["Id"]) for r in outside)
        return read

    def record_ids(self, record_ids: list[str], read: SalesforceRead) -> None:
        """The requested records; when Salesforce refuses the ``Id IN (...)`` query over one id, each on its own.

        Preflight checks every id's shape and checksum, so a refusal is rare (an org with rules of its own);
        it must still cost only the refused id, not the run: the others are read and synced.
        """
        spec = self.spec
        try:
            read.extend(self.access.iter_records(spec.name, spec.query_fields, scope="all", record_ids=record_ids,
                                                 include_deleted=True))
            return
        except Exception as exc:
            if self.refused_id(exc) is None:
                raise
        read.records.clear()
        for record_id in record_ids:
            try:
                read.extend(self.access.iter_records(spec.name, spec.query_fields, scope="all",
                                                     record_ids=[record_id], include_deleted=True))
            except Exception as exc:
                code = self.refused_id(exc)
                if code is None:
                    raise
                read.rejected[record_id] = f"Salesforce refused the id ({code})"
        self.warn(f"{spec.name}: Salesforce refused {len(read.rejected)} of {len(record_ids)} record ids; the "
                  "others were read")

    def scan_outside_view(self, read: set[str]) -> None:
        """Store the phones outside the view when no full read has yet (auto-create just switched on, or the
        list view changed), so this incremental run already knows them. Two narrow reads, once per view."""
        spec = self.spec
        self.progress(f"{spec.name}: the records outside list view {spec.scope} were never read for this view; "
                      "reading their ids and phones once (full comparisons keep them up to date from now on)")
        in_view = {str(r["Id"]) for page in self.access.iter_records(spec.name, [], scope=spec.scope) for r in page}
        outside = self.phones_outside_view(read | in_view)
        kept = self.store.replace_outside_view(spec.name, spec.scope, outside_records(outside, spec.phone_field),
                                               self.run_id)
        self.progress(f"{spec.name}: {kept} records with a phone outside list view {spec.scope} stored")

    def everything(self) -> SalesforceRead:
        """Full read: every record in scope, linked records the scope no longer returns, phones outside the view."""
        access, store, spec = self.access, self.store, self.spec
        read = SalesforceRead()
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
            outside = self.phones_outside_view(seen | set(missing))
            read.records.extend(outside)
            read.out_of_scope.update(str(r["Id"]) for r in outside)
            kept = store.replace_outside_view(spec.name, spec.scope,
                                              outside_records(read.records, spec.phone_field, read.out_of_scope),
                                              self.run_id)
            self.progress(f"{spec.name}: {kept} records with a phone outside list view {spec.scope}, kept for "
                          "incremental runs")
        return read

    def outside_view_from_store(self, records: list[dict[str, object]], out_of_scope: set[str]
                                ) -> list[dict[str, object]]:
        """Records outside the view that this incremental read did not see, as out-of-scope rows.

        The full comparison stored the phones of every record outside the view; the records read now
        update that (a record that left the view is added, one that came back or was deleted is dropped),
        and the unchanged rest is handed to the plan like a full comparison would, so a Heymarket contact
        with the phone of an old record outside the view is not auto-created as a second record.
        """
        spec = self.spec
        read = {str(r["Id"]) for r in records}
        outside = outside_records(records, spec.phone_field, out_of_scope)
        self.store.update_outside_view(spec.name, spec.scope, outside, read - {r.sf_id for r in outside})
        return [
            {"Id": r.sf_id, "SystemModstamp": salesforce_datetime(r.modstamp), spec.phone_field: r.phone_raw}
            for r in self.store.load_outside_view(spec.name, spec.scope)
            if r.sf_id not in read
        ]

    def phones_outside_view(self, read: set[str]) -> list[dict[str, object]]:
        """Id and phone of every record outside the list view (not read yet), as out-of-scope rows.

        The plan must know every phone Salesforce holds before it auto-creates a record for a Heymarket
        contact nobody claimed: a Contact outside the view with that phone would otherwise be created a
        second time. Only full sweeps with auto-create on pay for this read (two narrow columns).
        """
        found: list[dict[str, object]] = []
        phone_field = self.spec.phone_field
        for page in self.access.iter_records(self.spec.name, ["SystemModstamp", phone_field], scope="all"):
            found.extend(r for r in page if str(r["Id"]) not in read and r.get(phone_field))
        return found


def run_heymarket_extract(info: RunInfo, config: SyncConfig, files: RunFiles, hook: HeymarketReader,
                          open_state: Callable[[], ExtractState], *,
                          missing: Callable[[Exception], bool] = lambda _: False,
                          stop_requested: Callable[[], bool] = lambda: False,
                          progress: Callable[[str], None] = lambda _: None) -> HeymarketExtractResult:
    """Read the Heymarket contacts as the run info says (full sweep or back to the watermark), write the frame.

    :param open_state: opens the state store (an incremental read looks up the retries that are due).
    :param missing: whether an exception of ``get_contact`` says the contact is gone (it is then skipped).
    :param stop_requested: checked after every page; a stop ends the read before anything is written.
    :raises RuntimeError: stopped on request.
    """
    from sync_engine.frames import heymarket_frame

    field_titles = {str(f["id"]): str(f["title"]) for f in _contact_fields(files, hook)}
    keys = sorted({k for name in info.objects for k in config.canonical_keys(name)})
    pages = (hook.iter_all_contacts() if info.hm_mode == "full"
             else hook.iter_contacts(since=_since(info.watermarks.heymarket)))
    contacts: list[dict[str, Any]] = []  # the API's JSON
    for page in pages:
        contacts.extend(page)
        if stop_requested():
            raise RuntimeError("stopped on request before the Heymarket read finished; nothing was written")
    retried: list[int] = []
    if info.hm_mode != "full" and not info.record_ids:
        seen = {int(c["id"]) for c in contacts}
        retried = [int(i) for i in due_retry_ids(open_state(), "hm_id") if int(i) not in seen]
        contacts.extend(_contacts_by_id(hook, retried, missing))
    frame = heymarket_frame(contacts, field_titles, keys)
    path = files.write_frame(HEYMARKET_FILE, frame)
    max_updated = frame["updated"].max() if len(frame) else None
    result = HeymarketExtractResult(
        path=path, file=HEYMARKET_FILE, rows=len(frame), field_ids={title: fid for fid, title in field_titles.items()},
        retried=len(retried), max_updated=max_updated.isoformat() if max_updated is not None else None,
        api_calls=dict(hook.api_calls))
    progress(f"Heymarket: {len(frame)} contacts ({info.hm_mode}, {len(retried)} re-read for a due retry), "
             f"{sum(hook.api_calls.values())} API calls")
    return result


def _contact_fields(files: RunFiles, hook: HeymarketReader) -> list[dict[str, Any]]:
    """The contact fields preflight wrote to the run folder (no API call), else from the API (a run folder
    made before preflight wrote them)."""
    from sync_engine.stages.preflight_stage import HEYMARKET_FIELDS_FILE

    if files.exists(HEYMARKET_FIELDS_FILE):
        fields: list[dict[str, Any]] = json.loads(files.read_text(HEYMARKET_FIELDS_FILE))
        return fields
    return hook.list_contact_fields()


def _contacts_by_id(hook: HeymarketReader, hm_ids: list[int], missing: Callable[[Exception], bool]
                    ) -> list[dict[str, Any]]:
    found = []
    for hm_id in hm_ids:
        try:
            found.append(hook.get_contact(hm_id))
        except Exception as exc:
            if not missing(exc):
                raise
    return found


def _watermark(value: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(str(value)) if value else None


def _since(watermark: object) -> dt.datetime | None:
    stamp = _watermark(watermark)
    return stamp - WATERMARK_OVERLAP if stamp is not None else None


def outside_records(records: Sequence[Mapping[str, object]], phone_field: str,
                    out_of_scope: set[str] | None = None) -> list[OutsideRecord]:
    """The records read outside the list view (all of ``records``, or those in ``out_of_scope``) that have a
    phone: what the plan must not create again."""
    from sync_engine.state import OutsideRecord

    return [
        OutsideRecord(str(r["Id"]), str(r[phone_field]), _watermark(r.get("SystemModstamp")))
        for r in records
        if (out_of_scope is None or str(r["Id"]) in out_of_scope) and not r.get("IsDeleted") and r.get(phone_field)
    ]


def salesforce_datetime(value: dt.datetime | None) -> str | None:
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


def queued_create_ids(store: ExtractState, object_name: str) -> list[str]:
    """Records of this object whose rejected Heymarket create waits in the retry queue (due or not)."""
    return [str(i) for i in _queued_ids(store.due_retries(now=ALL_QUEUED), "sf_id", object_name, "create_heymarket")]


def due_retry_ids(store: ExtractState, column: str, object_name: str | None = None) -> list[str | int]:
    """Ids (``sf_id`` or ``hm_id``) of records whose rejected write is due for another try.

    Watermarks advance past rejected records (their retries are queued instead), so an incremental
    read would never see them again unless they change: each extractor re-reads these by id.
    """
    return _queued_ids(store.due_retries(now=dt.datetime.now(dt.UTC) + RETRY_DUE_SLACK), column, object_name)
