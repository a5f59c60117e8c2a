"""``SalesforceAccess``: every Salesforce read and write the sync makes, on top of the provider's hook.

The Airflow provider's :class:`SalesforceHook` owns the connection and authentication (password + token,
JWT bearer, OAuth password, direct session); its ``get_conn()`` returns one cached simple-salesforce client.
This class adds what the sync needs on top and nothing twice: lazy paging, list-view scopes, incremental
windows, typed describe, Collections/Bulk 2.0 writes with per-record results, the daily API budget, call
counts, retries of transient failures, and errors that say what to fix. Nothing touches the network until
the first method call.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
)
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from salesforce_access.budget import ApiBudget, budget_from_header, budget_from_limits, ensure_budget
from salesforce_access.calls import CallCounter, TimeoutAdapter
from salesforce_access.errors import (
    BulkJobError,
    FullResyncRequired,
    ListViewNotFound,
    ListViewNotQueryable,
    SalesforceAccessError,
    SalesforceRequestError,
    SessionExpiredError,
    classify,
    is_refused_transiently,
    is_transient,
)
from salesforce_access.metadata import ObjectMetadata
from salesforce_access.soql import (
    DEFAULT_ID_CHUNK,
    and_conditions,
    build_query,
    check_field_name,
    check_record_id,
    chunked,
    created_since_condition,
    id_in_condition,
    modstamp_condition,
    parse_sf_datetime,
    rewrite_query,
    soql_datetime,
    value_in_condition,
)
from salesforce_access.writes import (
    BulkOutcome,
    Record,
    RecordWriter,
    WriteOp,
    WriteResult,
    collection_path,
    collection_request,
)

if TYPE_CHECKING:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook
    from simple_salesforce import Salesforce

log = logging.getLogger(__name__)

T = TypeVar("T")
#: One record as the REST API returns it, without ``attributes`` (relationship values are nested dicts).
SfRecord = dict[str, object]
#: ``"all"`` or a list view's id / developer name.
ReadScope = Literal["all"] | str

#: The ``updated`` resource reaches back at most 30 days.
UPDATED_WINDOW = timedelta(days=30)
_FROM_OBJECT = re.compile(r"\bFROM\s+([A-Za-z0-9_]+)", re.IGNORECASE)


@dataclass(frozen=True)
class ListView:
    """A resolved list view: its ids, and the SOQL behind it (from ``listviews/{id}/describe``)."""

    id: str
    developer_name: str
    label: str
    sobject: str
    query: str


@dataclass(frozen=True)
class ChangeWindow:
    """Ids from the ``updated``/``deleted`` resources, plus the window Salesforce actually covered.

    :param latest_date_covered: advance the watermark to this, not to *end*: Salesforce may not have
        processed changes up to *end* yet.
    """

    ids: list[str]
    latest_date_covered: datetime | None
    earliest_date_available: datetime | None = None


class SalesforceAccess:
    """Salesforce reads and writes for the sync, through the provider's :class:`SalesforceHook`.

    :param hook: a ``SalesforceHook`` (any auth mode it supports) or a connection id to build one from.
    :param bulk_threshold: writes of more records than this go through Bulk API 2.0 (Salesforce's own
        guidance is ~2,000); below it, sObject Collections (one call per 200 records, synchronous).
    :param bulk_poll_seconds: pause between Bulk 2.0 job status polls (each poll is an API call).
    :param overlap: how far before the watermark incremental reads start, to catch late commits.
    :param id_chunk_size: record ids per ``Id IN (...)`` query, keeping the GET URL short.
    :param max_attempts: attempts per read call when Salesforce answers 429/5xx or the network fails.
    :param backoff_initial: first retry pause in seconds (exponential with jitter, capped at
        *backoff_max*).
    :param record_retries: re-sends of records that failed with a transient per-record error.
    :param record_retry_pause: seconds before the first such re-send.
    :param budget_reserve: when set, every call first checks the last ``Sforce-Limit-Info`` header and
        raises :class:`~salesforce_access.errors.BudgetExhausted` once fewer requests than this remain.
    :param timeout: ``(connect, read)`` seconds for each HTTP request (applied when this class creates
        the hook's HTTP session, i.e. unless the hook was given its own ``session``).
    """

    def __init__(
        self,
        hook: SalesforceHook | str = "salesforce_default",
        *,
        bulk_threshold: int = 2000,
        bulk_poll_seconds: float = 2.0,
        overlap: timedelta = timedelta(minutes=5),
        id_chunk_size: int = DEFAULT_ID_CHUNK,
        max_attempts: int = 4,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        record_retries: int = 2,
        record_retry_pause: float = 1.0,
        budget_reserve: int | None = None,
        timeout: tuple[float, float] = (10.0, 300.0),
    ) -> None:
        self._hook_or_conn_id = hook
        self._hook: SalesforceHook | None = None if isinstance(hook, str) else hook
        self.bulk_poll_seconds = bulk_poll_seconds
        self.overlap = overlap
        self.id_chunk_size = id_chunk_size
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.budget_reserve = budget_reserve
        self.timeout = timeout
        self.calls = CallCounter()
        self._describes: dict[str, ObjectMetadata] = {}
        self._list_views: dict[tuple[str, str], ListView] = {}
        self._list_view_index: dict[str, list[dict[str, object]]] = {}
        self._writer = RecordWriter(
            _Transport(self),
            bulk_threshold=bulk_threshold,
            transient_retries=record_retries,
            retry_pause=record_retry_pause,
        )

    def __repr__(self) -> str:
        auth = (
            getattr(self._hook.__dict__.get("conn"), "auth_type", "not connected")
            if self._hook
            else "not connected"
        )
        return f"SalesforceAccess(conn_id={self.conn_id!r}, auth={auth!r})"

    # ------------------------------------------------------------------------------------------ plumbing

    @property
    def conn_id(self) -> str:
        hook = self._hook_or_conn_id
        return hook if isinstance(hook, str) else str(hook.conn_id)

    @property
    def hook(self) -> SalesforceHook:
        """The provider hook (built from the connection id on first use; building it makes no calls)."""
        if self._hook is None:
            from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

            self._hook = SalesforceHook(salesforce_conn_id=self.conn_id)
        return self._hook

    @property
    def bulk_threshold(self) -> int:
        return self._writer.bulk_threshold

    @bulk_threshold.setter
    def bulk_threshold(self, value: int) -> None:
        self._writer.bulk_threshold = value

    @property
    def api_calls(self) -> dict[str, int]:
        """HTTP requests sent so far, by endpoint kind (``query``, ``query_more``, ``composite``, ...)."""
        return self.calls.as_dict()

    @property
    def api_calls_total(self) -> int:
        """All requests that count against the daily allocation (logins do not)."""
        return sum(n for kind, n in self.calls.counts.items() if kind != "login")

    def _query_more(self, url: str, headers: dict[str, str]) -> dict[str, Any]:
        """The next page of a query (the client is looked up per call: a renewed session replaces it)."""
        return self._client().query_more(url, identifier_is_url=True, headers=headers)

    def _restful(self, path: str) -> Any:  # the API's JSON answer
        return self._client().restful(path)

    def _client(self) -> Salesforce:
        """The hook's cached simple-salesforce client, logging in on first use.

        Before the first login the hook gets an HTTP session with our call counter and default timeouts,
        so the login itself is counted and no request can hang forever. A session the caller gave the
        hook (e.g. with a custom adapter) is kept as it is; only the counter is added to it.
        """
        hook = self.hook
        if "conn" not in hook.__dict__:
            if hook.session is None and not self._connection_has_proxies(hook):
                session = requests.Session()
                adapter = TimeoutAdapter(self.timeout)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                hook.session = session
            if hook.session is not None:
                self.calls.install(hook.session)
        sf = hook.get_conn()
        self.calls.install(sf.session)
        return sf

    @staticmethod
    def _connection_has_proxies(hook: SalesforceHook) -> bool:
        """simple-salesforce ignores the ``proxies`` extra when given a session, so leave those alone."""
        extras = hook.get_connection(hook.conn_id).extra_dejson
        return bool(extras.get("proxies") or extras.get("extra__salesforce__proxies"))

    def _can_log_in_again(self) -> bool:
        sf = self.hook.__dict__.get("conn")
        return sf is not None and getattr(sf, "_salesforce_login_partial", None) is not None

    def _log_in_again(self) -> None:
        """Renew the session with the connection's credentials (simple-salesforce's own mechanism).

        simple-salesforce does this by itself for REST calls; Bulk 2.0 calls go through a different path
        without it, which is why this layer does it as well.
        """
        log.info("Salesforce session expired or invalid; logging in again")
        self._client()._refresh_session()

    def _call(
        self,
        action: str,
        fn: Callable[[], T],
        *,
        retry: Callable[[BaseException], bool] = is_transient,
        renew_if: Callable[[SalesforceExpiredSession], bool] | None = None,
        check_reserve: bool = True,
    ) -> T:
        """Run one API interaction with budget reserve, session renewal, retries and typed errors.

        :param action: what is being done, for messages and logs (no record data, no credentials).
        :param retry: which failures are retried (with backoff, honouring ``Retry-After``). Default: any
            transient one. Inserts pass :func:`~salesforce_access.errors.is_refused_transiently`: after a
            5xx or a lost connection a create may have happened, so only explicit refusals are retried.
        :param renew_if: decides whether a request that failed with an expired session may be sent
            again after logging in (default: yes).
        :param check_reserve: refuse the call when the budget reserve is reached (not for ``/limits``).
        """
        if check_reserve:
            self._check_reserve()

        def attempt() -> T:
            try:
                return fn()
            except SalesforceExpiredSession as exc:
                if not self._can_log_in_again():
                    raise
                if renew_if is not None and not renew_if(exc):
                    raise SessionExpiredError(
                        f"The Salesforce session expired while trying to {action}, after the request may "
                        "already have taken effect, so it was not sent again. Check the job under Setup > "
                        "Bulk Data Load Jobs, then re-run; the next call logs in again by itself."
                    ) from exc
                self._log_in_again()
                return fn()

        backoff = wait_exponential_jitter(
            initial=self.backoff_initial, max=self.backoff_max, jitter=self.backoff_initial
        )

        def wait(state: RetryCallState) -> float:
            retry_after = self.calls.last_retry_after
            return max(backoff(state), min(retry_after, self.backoff_max)) if retry_after else backoff(state)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait,
            retry=retry_if_exception(retry),
            before_sleep=self._log_retry(action),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except SalesforceAccessError:
            raise
        except SalesforceOperationError as exc:
            raise BulkJobError(f"Bulk API 2.0 job failed while trying to {action}: {exc}") from exc
        except (SalesforceError, requests.RequestException) as exc:
            raise classify(exc, action) from exc

    def _log_retry(self, action: str) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            status = getattr(exc, "code", None) if isinstance(exc, SalesforceAuthenticationFailed) else None
            status = status or getattr(exc, "status", None) or type(exc).__name__
            pause = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "Salesforce call to %s failed (%s); retry %d of %d in %.1f s",
                action,
                status,
                state.attempt_number,
                self.max_attempts - 1,
                pause,
            )

        return before_sleep

    def _check_reserve(self) -> None:
        if self.budget_reserve is None:
            return
        budget = self._header_budget()
        if budget is not None:
            ensure_budget(budget, self.budget_reserve)

    # --------------------------------------------------------------------------------------------- reads

    def iter_query(
        self, soql: str, include_deleted: bool = False, batch_size: int = 2000
    ) -> Iterator[list[SfRecord]]:
        """Run *soql* and yield its records page by page, fetching the next page only when asked.

        :param include_deleted: use ``queryAll`` (soft-deleted and merged records too).
        :param batch_size: page size asked for through ``Sforce-Query-Options`` (200-2000; Salesforce
            may return fewer).
        """
        if not 200 <= batch_size <= 2000:
            raise ValueError("batch_size must be between 200 and 2000 (Salesforce's limits for query pages)")
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        match = _FROM_OBJECT.search(soql)
        what = match.group(1) if match else "records"
        verb = "queryAll" if include_deleted else "query"
        page = self._call(
            f"{verb} {what}", lambda: self._client().query(soql, include_deleted, headers=headers)
        )
        seen: set[str] = set()
        count = 0
        number = 1
        while True:
            records = [_without_attributes(r) for r in page.get("records", [])]
            count += len(records)
            log.info(
                "%s %s page %d: %d records so far of %d", verb, what, number, count, page.get("totalSize", 0)
            )
            if records:
                yield records
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            if next_url in seen:
                raise SalesforceRequestError(
                    f"Salesforce returned the same query page twice while reading {what}"
                )
            seen.add(next_url)
            number += 1
            page = self._call(
                f"read page {number} of {what}",
                functools.partial(self._query_more, next_url, headers),
            )

    def iter_records(
        self,
        sobject: str,
        fields: Sequence[str],
        *,
        scope: ReadScope = "all",
        since: datetime | None = None,
        record_ids: Sequence[str] | None = None,
        include_deleted: bool = False,
        overlap: timedelta | None = None,
        order_by: str | None = None,
        batch_size: int = 2000,
    ) -> Iterator[list[SfRecord]]:
        """Yield pages of *sobject* records in *scope*, optionally only changed ones or only some ids.

        :param fields: fields to read; ``Id`` is always added.
        :param scope: ``"all"``, or a list view's id or developer name: the view's filter (and scope)
            applies, with our field list.
        :param since: only records with ``SystemModstamp`` after this (minus *overlap*); timezone-aware.
        :param record_ids: only these records (queried in chunks of ``id_chunk_size``).
        :param order_by: an ``ORDER BY`` expression; for a list view it replaces the view's ordering.
        """
        check_field_name(sobject)
        wanted = ["Id", *fields]
        where = modstamp_condition(since, self.overlap if overlap is None else overlap) if since else None
        view = None if scope == "all" else self.list_view(sobject, scope)
        if record_ids is None:
            id_chunks: list[list[str] | None] = [None]
        else:
            unique = list(dict.fromkeys(check_record_id(i) for i in record_ids))
            id_chunks = list(chunked(unique, self.id_chunk_size))
        for chunk in id_chunks:
            condition = and_conditions(where, id_in_condition(chunk) if chunk else None)
            if view is None:
                soql = build_query(sobject, wanted, condition, order_by)
            else:
                soql = rewrite_query(view.query, wanted, condition, order_by, expected_object=sobject)
            yield from self.iter_query(soql, include_deleted=include_deleted, batch_size=batch_size)

    def ids_created_since(self, sobject: str, field: str, values: Sequence[str],
                          since: datetime) -> dict[str, str]:
        """Value of *field* -> id of the first record (oldest) created since *since* holding it.

        Used by a retried apply to find records an earlier attempt created but could not record.

        :param values: the exact values to look for (e.g. ``+<E.164 digits>`` phones); duplicates are read once.
        """
        wanted = sorted(set(values))
        if not wanted:
            return {}
        condition = and_conditions(value_in_condition(field, wanted), created_since_condition(since))
        soql = build_query(sobject, ["Id", field], condition, order_by="CreatedDate")
        found: dict[str, str] = {}
        for page in self.iter_query(soql):
            for record in page:
                found.setdefault(str(record.get(field)), str(record["Id"]))
        return found

    def list_view(self, sobject: str, id_or_name: str) -> ListView:
        """Resolve a list view by id or developer name and fetch the SOQL behind it (cached).

        :raises ListViewNotFound: no such view on *sobject* (the message lists the ones that exist).
        :raises ListViewNotQueryable: the view's filter can't be run as SOQL.
        """
        views = self._all_list_views(check_field_name(sobject))
        wanted = id_or_name.strip()
        found = next((v for v in views if _same_id(str(v.get("id", "")), wanted)), None) or next(
            (v for v in views if str(v.get("developerName", "")).lower() == wanted.lower()), None
        )
        if found is None:
            names = ", ".join(sorted(str(v.get("developerName")) for v in views)) or "(none)"
            raise ListViewNotFound(
                f"List view '{wanted}' not found on {sobject}; available: {names}. Use a list view's "
                "developer name or id in the object's scope setting, or scope 'all'."
            )
        key = (sobject.lower(), str(found["id"]))
        if key in self._list_views:
            return self._list_views[key]
        name = str(found.get("developerName"))
        if not found.get("soqlCompatible", True):
            raise ListViewNotQueryable(
                f"List view '{name}' on {sobject} cannot be read through SOQL (soqlCompatible is false): its "
                "filter uses features the query language lacks. Simplify its filters or use another view."
            )
        view_id = str(found["id"])
        described = self._call(
            f"describe list view {name} of {sobject}",
            lambda: self._client().restful(f"sobjects/{sobject}/listviews/{view_id}/describe"),
        )
        query = (described or {}).get("query")
        if not query:
            raise ListViewNotQueryable(f"List view '{name}' on {sobject} has no query in its describe.")
        view = ListView(view_id, name, str(found.get("label", name)), sobject, str(query))
        self._list_views[key] = view
        return view

    def _all_list_views(self, sobject: str) -> list[dict[str, object]]:
        """The object's list views (``sobjects/{Obj}/listviews``, every page), fetched once per instance."""
        if sobject.lower() in self._list_view_index:
            return self._list_view_index[sobject.lower()]
        page = self._call(
            f"list the list views of {sobject}",
            lambda: self._client().restful(f"sobjects/{sobject}/listviews"),
        )
        views = list((page or {}).get("listviews", []))
        while page and not page.get("done", True) and page.get("nextRecordsUrl"):
            path = _data_relative(str(page["nextRecordsUrl"]))
            page = self._call(f"list the list views of {sobject}", functools.partial(self._restful, path))
            views.extend((page or {}).get("listviews", []))
        self._list_view_index[sobject.lower()] = views
        return views

    def in_list_view(self, sobject: str, list_view: str, ids: Sequence[str]) -> set[str]:
        """Which of *ids* the list view currently contains (its filter AND ``Id IN (...)``).

        Ids come back in the form they were given (15- or 18-character).
        """
        view = self.list_view(sobject, list_view)
        given = {check_record_id(i)[:15]: i for i in ids}
        found: set[str] = set()
        for chunk in chunked(list(dict.fromkeys(given.values())), self.id_chunk_size):
            soql = rewrite_query(view.query, ["Id"], id_in_condition(chunk), "Id", expected_object=sobject)
            for page in self.iter_query(soql):
                found.update(given[str(r["Id"])[:15]] for r in page if str(r["Id"])[:15] in given)
        return found

    def deleted_ids(self, sobject: str, start: datetime, end: datetime) -> ChangeWindow:
        """Ids deleted in ``[start, end]`` (the ``deleted`` resource; about 15 days of history).

        :raises FullResyncRequired: Salesforce's delete log starts after *start* - deletes before that
            are invisible, so only a full read can tell which records are gone.
        """
        start, end = _utc_window(start, end)
        raw = self._replication_call("deleted", sobject, start, end)
        earliest = _opt_datetime(raw.get("earliestDateAvailable"))
        if earliest is not None and start < earliest:
            raise FullResyncRequired(
                f"Salesforce only keeps {sobject} deletes since {earliest.isoformat()}, but the sync needs "
                f"them since {start.isoformat()}. Run a full sync of {sobject} (reconcile) to find deleted "
                "records.",
                start=start,
                earliest_available=earliest,
            )
        ids = [str(item["id"]) for item in raw.get("deletedRecords", [])]
        log.info(
            "%s deleted between %s and %s: %d ids", sobject, start.isoformat(), end.isoformat(), len(ids)
        )
        return ChangeWindow(ids, _opt_datetime(raw.get("latestDateCovered")), earliest)

    def updated_ids(self, sobject: str, start: datetime, end: datetime) -> ChangeWindow:
        """Ids created or updated in ``[start, end]`` (the ``updated`` resource; at most 30 days back).

        :raises FullResyncRequired: *start* is further back than Salesforce keeps.
        """
        start, end = _utc_window(start, end)
        oldest = datetime.now(UTC) - UPDATED_WINDOW
        if start < oldest:
            raise FullResyncRequired(
                f"Salesforce reports {sobject} changes for the last 30 days only, but the sync needs them "
                f"since {start.isoformat()}. Run a full sync of {sobject} instead.",
                start=start,
                earliest_available=oldest,
            )
        raw = self._replication_call("updated", sobject, start, end)
        ids = [str(i) for i in raw.get("ids", [])]
        log.info(
            "%s updated between %s and %s: %d ids", sobject, start.isoformat(), end.isoformat(), len(ids)
        )
        return ChangeWindow(ids, _opt_datetime(raw.get("latestDateCovered")))

    def _replication_call(
        self, resource: Literal["deleted", "updated"], sobject: str, start: datetime, end: datetime
    ) -> dict[str, Any]:  # the API's JSON answer
        sftype = check_field_name(sobject)
        try:
            raw = self._call(
                f"read {resource} {sobject} ids",
                lambda: getattr(getattr(self._client(), sftype), resource)(start, end),
            )
        except SalesforceRequestError as exc:
            if exc.error_code == "INVALID_REPLICATION_DATE":
                raise FullResyncRequired(
                    f"Salesforce no longer has {resource} {sobject} ids back to {start.isoformat()}; run "
                    f"a full sync of {sobject} instead.",
                    start=start,
                    earliest_available=start,
                ) from exc
            raise
        return dict(raw or {})

    def newest_change(self, sobject: str, after: datetime | None) -> datetime | None:
        """``SystemModstamp`` of the newest *sobject* record changed (or deleted) after *after*; ``None`` if none.

        One ``queryAll`` call with ``LIMIT 1`` (deleted records count: the recycle bin is included), the change
        watcher's poll. ``after=None`` asks for the newest record at all.
        """
        where = f" WHERE SystemModstamp > {soql_datetime(after)}" if after is not None else ""
        soql = (f"SELECT Id, SystemModstamp FROM {check_field_name(sobject)}{where} "
                "ORDER BY SystemModstamp DESC LIMIT 1")
        page = self._call(f"look for a {sobject} change", lambda: self._client().query(soql, True))
        records = page.get("records") or []
        return parse_sf_datetime(str(records[0]["SystemModstamp"])) if records else None

    def describe_json(self, sobject: str) -> dict[str, Any]:
        """The object's describe as Salesforce answers it (one call, counted: the run's history counts it)."""
        sftype = check_field_name(sobject)
        return dict(self._call(f"describe {sobject}", lambda: getattr(self._client(), sftype).describe()))

    def describe(self, sobject: str) -> ObjectMetadata:
        """The object's field metadata (one describe call per object per instance)."""
        key = check_field_name(sobject).lower()
        if key not in self._describes:
            raw = self._call(f"describe {sobject}", lambda: getattr(self._client(), sobject).describe())
            self._describes[key] = ObjectMetadata.from_describe(raw)
            log.info("described %s: %d fields", sobject, len(self._describes[key].fields))
        return self._describes[key]

    # -------------------------------------------------------------------------------------------- writes

    def create(self, sobject: str, records: Sequence[Record]) -> list[WriteResult]:
        """Insert records; one :class:`WriteResult` per record, in input order (new Ids on success)."""
        return self._writer.write("insert", check_field_name(sobject), records)

    def update(self, sobject: str, records: Sequence[Record]) -> list[WriteResult]:
        """Update records (each carries its ``Id``); one result per record, in input order."""
        return self._writer.write("update", check_field_name(sobject), records)

    def delete(self, ids: Sequence[str], sobject: str | None = None) -> list[WriteResult]:
        """Delete records by Id; one result per id, in input order.

        :param sobject: needed only for Bulk 2.0 (above ``bulk_threshold``); without it deletes always
            go through Collections, which accept mixed object types.
        """
        return self._writer.write("delete", sobject and check_field_name(sobject), [{"Id": i} for i in ids])

    def iter_write(
        self, op: WriteOp, sobject: str | None, records: Sequence[Record]
    ) -> Iterator[list[WriteResult]]:
        """Like create/update/delete, but yields each chunk's final results (to checkpoint as it goes)."""
        return self._writer.iter_write(op, sobject and check_field_name(sobject), records)

    def iter_upsert(self, sobject: str, external_id: str, records: Sequence[Record]) -> Iterator[list[WriteResult]]:
        """Upsert on an external id field: Collections (200 a call) up to ``bulk_threshold`` records, one Bulk
        2.0 upsert job above it. Each result says whether the record was ``created``; writing the same records
        again creates nothing, which is what makes a rerun after a kill safe."""
        return self._writer.iter_write("upsert", check_field_name(sobject), records,
                                       external_id=check_field_name(external_id))

    # -------------------------------------------------------------------------------------------- budget

    def daily_budget(self, refresh: bool = True) -> ApiBudget:
        """``(used, max)`` of the org's DailyApiRequests.

        :param refresh: read ``/limits`` (one API call). Without it, use the ``Sforce-Limit-Info`` header of
            the last response (free, and as fresh as the last call), falling back to ``/limits``.
        """
        if not refresh:
            budget = self._header_budget()
            if budget is not None:
                return budget
        limits = self._call("read the org's limits", lambda: self._client().limits(), check_reserve=False)
        budget = budget_from_limits(limits)
        log.info(
            "Salesforce daily API budget: %d of %d used (%d left)", budget.used, budget.max, budget.remaining
        )
        return budget

    def check_budget(self, min_remaining: int, refresh: bool = False) -> ApiBudget:
        """Raise :class:`~salesforce_access.errors.BudgetExhausted` if fewer than *min_remaining* are left."""
        return ensure_budget(self.daily_budget(refresh=refresh), min_remaining)

    def last_seen_budget(self) -> ApiBudget | None:
        """The budget the last response's ``Sforce-Limit-Info`` header carried (no call); ``None`` before one."""
        return self._header_budget()

    def _header_budget(self) -> ApiBudget | None:
        budget = budget_from_header(self.calls.last_limit_info)
        if budget is None:
            sf = self._hook.__dict__.get("conn") if self._hook else None
            usage = getattr(sf, "api_usage", {}).get("api-usage") if sf is not None else None
            if usage is not None:
                budget = ApiBudget(used=usage.used, max=usage.total, source="header")
        return budget


class _Transport:
    """The two write channels of :class:`~salesforce_access.writes.RecordWriter`, through ``_call``."""

    def __init__(self, access: SalesforceAccess) -> None:
        self.access = access

    def collections(
        self, op: WriteOp, sobject: str | None, records: Sequence[Record], **upsert: str
    ) -> list[Mapping[str, object]]:
        kwargs = collection_request(op, sobject, records)
        path = collection_path(op, sobject, upsert.get("external_id"))
        raw = self.access._call(
            f"{op} {len(records)} {sobject or 'records'} records",
            lambda: self.access._client().restful(path, **kwargs),
            retry=is_refused_transiently if op == "insert" else is_transient,
        )
        if not isinstance(raw, list):
            raise SalesforceRequestError(
                "Salesforce answered a Collections request without per-record results"
            )
        return raw

    def bulk2(self, op: WriteOp, sobject: str, rows: Sequence[Mapping[str, str]], **upsert: str) -> BulkOutcome:
        access = self.access
        extra = {"external_id_field": upsert["external_id"]} if op == "upsert" else {}

        def run() -> list[dict[str, object]]:
            job_type = getattr(access._client().bulk2, sobject)
            return getattr(job_type, op)(records=list(rows), wait=access.bulk_poll_seconds, **extra)

        jobs = access._call(
            f"bulk {op} {len(rows)} {sobject} records", run, retry=_never, renew_if=_before_job_exists
        )
        outcome = BulkOutcome([], [], [])
        for job in jobs:
            job_id = str(job["job_id"])
            log.info(
                "Bulk 2.0 %s %s job %s: %s processed, %s failed",
                op,
                sobject,
                job_id,
                job.get("numberRecordsProcessed"),
                job.get("numberRecordsFailed"),
            )
            for texts, reader in (
                (outcome.successful, "get_successful_records"),
                (outcome.failed, "get_failed_records"),
                (outcome.unprocessed, "get_unprocessed_records"),
            ):
                texts.append(
                    access._call(
                        f"read Bulk 2.0 job {job_id} results",
                        functools.partial(self._job_results, sobject, reader, job_id),
                    )
                )
        return outcome

    def _job_results(self, sobject: str, reader: str, job_id: str) -> str:
        """One result file (CSV) of a Bulk 2.0 job: ``reader`` is the client's ``get_*_records`` method."""
        return getattr(getattr(self.access._client().bulk2, sobject), reader)(job_id)


def _never(exc: BaseException) -> bool:
    """A Bulk 2.0 ingest is several requests; after a failure midway it may be running - don't re-send."""
    return False


def _before_job_exists(exc: SalesforceExpiredSession) -> bool:
    """A Bulk 2.0 ingest may be re-sent after re-login only if the job-create request itself was refused.

    Later steps (upload, close, poll) belong to a job that may already be processing; sending the data
    again could insert it twice, so those surface as errors instead.
    """
    return str(exc.url).rstrip("/").endswith("/jobs/ingest")


def _without_attributes(record: dict[str, object]) -> SfRecord:
    """Drop the ``attributes`` blocks (type and URL), also from nested relationship records."""
    return {
        k: _without_attributes(v) if isinstance(v, dict) else v
        for k, v in record.items()
        if k != "attributes"
    }


def _same_id(a: str, b: str) -> bool:
    """Compare Salesforce ids in their 15- or 18-character forms."""
    return bool(a) and len(b) in (15, 18) and a[:15] == b[:15]


def _data_relative(url: str) -> str:
    """``/services/data/v59.0/sobjects/...`` -> ``sobjects/...`` (what ``restful()`` appends to its base)."""
    return re.sub(r"^(https://[^/]+)?/services/data/v[\d.]+/", "", url)


def _utc_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    for value in (start, end):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("start and end must be timezone-aware datetimes (UTC)")
    if end <= start:
        raise ValueError("end must be after start")
    return start.astimezone(UTC), end.astimezone(UTC)


def _opt_datetime(value: object) -> datetime | None:
    return parse_sf_datetime(str(value)) if value else None
