"""``StateStore``: the one object the operators use to read and write sync state.

Every write method runs in its own transaction, unless it is given ``conn`` from
``StateStore.transaction()``; then it joins that transaction, so that an apply batch can write its
links, its errors, its retries and its watermark progress all-or-nothing::

    with store.transaction() as conn:
        store.apply_link_changes(upserts, deletes, run_id, conn=conn)
        store.record_errors(run_id, failures, conn=conn)
        store.set_watermark("salesforce", "Contact", batch_high_mark, run_id, conn=conn)

The store never creates tables on its own: call ``migrate()`` (idempotent, safe to race) first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from sync_engine.outcomes import RecordOutcome
from sync_engine.state import api_cache as _api_cache
from sync_engine.state import links as _links
from sync_engine.state import lock as _lock
from sync_engine.state import migrate as _migrate
from sync_engine.state import outside_view as _outside
from sync_engine.state import pending_messages as _pending
from sync_engine.state import phone_cache as _phones
from sync_engine.state import record_errors as _errors
from sync_engine.state import record_outcomes as _outcomes
from sync_engine.state import retry_queue as _retries
from sync_engine.state import run_queries as _run_queries
from sync_engine.state import runs as _runs
from sync_engine.state import user_map as _user_map
from sync_engine.state import watermarks as _watermarks
from sync_engine.state.engine import make_engine, read_connection, write_transaction
from sync_engine.state.exceptions import SchemaNotCurrent
from sync_engine.state.links import DeleteKey, LinkChanges, ReleaseKey
from sync_engine.state.lock import LockHeld, LockInfo
from sync_engine.state.outside_view import OutsideRecord
from sync_engine.state.pending_messages import PendingMessage
from sync_engine.state.phone_cache import PhoneResult
from sync_engine.state.record_outcomes import OutcomePage, StoredOutcome
from sync_engine.state.records import LinkRow, RecordRef, RetryRequest, WriteRejection, rows_from
from sync_engine.state.retry_queue import RetryPolicy
from sync_engine.state.run_queries import RunFilter
from sync_engine.state.runs import ApiCalls, Counts
from sync_engine.state.sqlhelpers import utcnow

log = logging.getLogger(__name__)

#: Name of the lock that serialises sync runs.
SYNC_LOCK = "heymarket_sync"


class StateStore:
    """Link table, watermarks, phone cache, run history, record errors, retry queue, sync lock and user mapping.

    :param url: SQLAlchemy URL (the operators build it from the state store Airflow connection).
        SQLite file or PostgreSQL; the URL's password never appears in ``repr`` or errors.
    :param retry_policy: backoff of the retry queue.
    :param clock: source of "now" (UTC); tests replace it to move time.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        retry_policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = make_engine(url)
        self._retry_policy = retry_policy or RetryPolicy()
        self._clock = clock

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for ad-hoc analyst queries and tests)."""
        return self._engine

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def __repr__(self) -> str:
        return f"StateStore({self._engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Close pooled connections (the store can still be used; it reconnects)."""
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schema ------------------------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> str | None:
        """Create or upgrade the schema (Alembic ``upgrade``); idempotent and safe to call concurrently.

        :returns: the revision the database is at afterwards.
        """
        before = self.current_revision()
        _migrate.upgrade(self._engine, revision)
        after = self.current_revision()
        if before != after:
            log.info("state store schema upgraded from %s to %s", before or "empty", after)
        return after

    def downgrade(self, revision: str) -> str | None:
        """Downgrade the schema; ``"base"`` drops every table of the store (and all its data)."""
        _migrate.downgrade(self._engine, revision)
        return self.current_revision()

    def current_revision(self) -> str | None:
        """Revision of the database schema, ``None`` if never migrated."""
        return _migrate.current_revision(self._engine)

    @staticmethod
    def head_revision() -> str:
        """Newest schema revision this code ships."""
        return _migrate.head_revision()

    def require_current_schema(self) -> None:
        """Fail early, with the fix, when the schema is not the one this code expects.

        :raises SchemaNotCurrent: the database is empty, behind or ahead of this code.
        """
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            raise SchemaNotCurrent(
                f"state store schema is at {current or 'nothing (empty database)'} but this code needs "
                f"{head}; run StateStore(url).migrate() or `python -m sync_engine.state.migrate upgrade "
                "<url>` (a newer schema means this code is older than the database: upgrade the code)"
            )

    # --- transactions ------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction for several calls: committed at the end, rolled back on exception."""
        with write_transaction(self._engine) as conn:
            yield conn

    def _write(self, conn: Connection | None) -> AbstractContextManager[Connection]:
        return nullcontext(conn) if conn is not None else self.transaction()

    def _read(self, conn: Connection | None) -> AbstractContextManager[Connection]:
        return nullcontext(conn) if conn is not None else read_connection(self._engine)

    # --- links -------------------------------------------------------------------------------------

    def load_links(
        self, objects: Iterable[str] | None = None, synced_keys: Iterable[str] = (), conn: Connection | None = None
    ) -> pd.DataFrame:
        """The link table as the planner's frame (see ``links_frame_columns``).

        :param objects: only these Salesforce objects (default: all).
        :param synced_keys: canonical keys whose ``synced.<key>`` column must exist even if no row
            has a value for it (the mapping's keys).
        """
        with self._read(conn) as c:
            return _links.load_links(c, objects, synced_keys)

    def load_active_pairs(self, objects: Iterable[str] | None = None, conn: Connection | None = None) -> pd.DataFrame:
        """The active links with a record, as ``object``, ``sf_id``, ``hm_id`` (no memory): the pairs to count."""
        with self._read(conn) as c:
            return _links.load_active_pairs(c, objects)

    def apply_link_changes(
        self,
        upserts: pd.DataFrame | Sequence[LinkRow],
        deletes: pd.DataFrame | Iterable[DeleteKey],
        run_id: str,
        conn: Connection | None = None,
        *,
        releases: Iterable[ReleaseKey] = (),
    ) -> LinkChanges:
        """Delete pairs, release pairs, then upsert pairs by (object, sf_id), in one transaction.

        See ``sync_engine.state.links.apply_link_changes`` for the accepted shapes, the
        hm_id-replacement rule and releases (``(object, sf_id, hm_id)``).
        """
        with self._write(conn) as c:
            result = _links.apply_link_changes(c, upserts, deletes, run_id, self._clock(), releases)
        log.debug("links: %d upserted, %d deleted, %d replaced, %d released", result.upserted, result.deleted,
                  result.replaced, result.released)
        return result

    def count_links(
        self, object_name: str | None = None, status: str | None = None, conn: Connection | None = None
    ) -> int:
        """Number of links, optionally of one object and/or status (for guards and summaries)."""
        with self._read(conn) as c:
            return _links.count_links(c, object_name, status)

    # --- records outside the list view --------------------------------------------------------------

    def replace_outside_view(
        self, object_name: str, list_view: str, records: Iterable[OutsideRecord], run_id: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """After reading every record: the object's records outside the view become exactly these."""
        with self._write(conn) as c:
            return _outside.replace_outside_view(c, object_name, list_view, records, self._clock(), run_id)

    def outside_view_scanned(self, object_name: str, list_view: str, conn: Connection | None = None) -> bool:
        """Whether the stored records outside the view were read for this list view."""
        with self._read(conn) as c:
            return _outside.outside_view_scanned(c, object_name, list_view)

    def update_outside_view(
        self,
        object_name: str,
        list_view: str,
        outside: Iterable[OutsideRecord],
        not_outside: Iterable[str],
        conn: Connection | None = None,
    ) -> None:
        """After an incremental read: write the records read outside the view, drop those read inside it."""
        with self._write(conn) as c:
            _outside.update_outside_view(c, object_name, list_view, outside, not_outside, self._clock())

    def load_outside_view(
        self, object_name: str, list_view: str, conn: Connection | None = None
    ) -> list[OutsideRecord]:
        """Records outside this list view as last read, without those that have an active link."""
        with self._read(conn) as c:
            return _outside.load_outside_view(c, object_name, list_view)

    # --- watermarks --------------------------------------------------------------------------------

    def get_watermark(self, system: str, object_name: str, conn: Connection | None = None) -> datetime | None:
        """Incremental cursor of one system/object, ``None`` before the first sync."""
        with self._read(conn) as c:
            return _watermarks.get_watermark(c, system, object_name)

    def set_watermark(
        self,
        system: str,
        object_name: str,
        value: datetime,
        run_id: str | None,
        *,
        force: bool = False,
        conn: Connection | None = None,
    ) -> datetime:
        """Advance the cursor (never backwards unless ``force``); returns the cursor now stored."""
        with self._write(conn) as c:
            return _watermarks.set_watermark(c, system, object_name, value, run_id, self._clock(), force=force)

    # --- API answers kept within their validity ---------------------------------------------------------

    def get_cached(self, key: str, conn: Connection | None = None) -> tuple[object, datetime] | None:
        """``(value, fetched_at)`` of a cached API answer (``sync_engine.api_cache``), ``None`` if never stored."""
        with self._read(conn) as c:
            return _api_cache.get_cached(c, key)

    def put_cached(self, key: str, value: object, conn: Connection | None = None) -> None:
        """Keep an API answer read just now (metadata or counts, never contact data)."""
        with self._write(conn) as c:
            _api_cache.put_cached(c, key, value, self._clock())

    # --- phone cache -------------------------------------------------------------------------------

    def get_phone_cache(
        self, raws: Iterable[str], region: str, conn: Connection | None = None
    ) -> dict[str, PhoneResult]:
        """Cached ``raw -> (E.164 digits or None, reason or None)`` for the raws found."""
        with self._read(conn) as c:
            return _phones.get_phone_cache(c, raws, region)

    def put_phone_cache(
        self, mapping: Mapping[str, PhoneResult], region: str, conn: Connection | None = None
    ) -> int:
        """Store normalisation results in bulk; returns how many were written."""
        with self._write(conn) as c:
            return _phones.put_phone_cache(c, mapping, region, self._clock())

    def prune_phone_cache(self, older_than: datetime, conn: Connection | None = None) -> int:
        """Drop cache entries not written since ``older_than``; returns how many."""
        with self._write(conn) as c:
            return _phones.prune_phone_cache(c, older_than)

    # --- user mapping (heymarket_setup) -------------------------------------------------------------

    def replace_user_map(
        self, rows: Iterable[Mapping[str, object]], run_id: str | None, conn: Connection | None = None
    ) -> int:
        """Replace the stored user mapping with *rows* in one transaction (ids only; other keys are ignored).

        :returns: how many rows the table holds now
        """
        with self._write(conn) as c:
            return _user_map.replace_user_map(c, rows, run_id, self._clock())

    def load_user_map(self, conn: Connection | None = None) -> list[dict[str, object]]:
        """The user mapping as last applied, by Salesforce user id."""
        with self._read(conn) as c:
            return _user_map.load_user_map(c)

    # --- the message copy --------------------------------------------------------------------------

    def linked_records(self, conn: Connection | None = None) -> dict[str, tuple[str, str]]:
        """``phone -> (object, sf_id)`` of the active links with a record: where a message's Task goes."""
        with self._read(conn) as c:
            return _pending.linked_records(c)

    def links_changed_at(self, conn: Connection | None = None) -> datetime | None:
        """When the link table last changed (``None`` while it is empty)."""
        with self._read(conn) as c:
            return _pending.links_changed_at(c)

    def keep_pending_messages(
        self, messages: Sequence[PendingMessage], run_id: str | None, conn: Connection | None = None
    ) -> int:
        """Add or refresh messages waiting to become Tasks (ids, dates and reason codes only)."""
        with self._write(conn) as c:
            return _pending.keep_pending(c, messages, run_id, self._clock())

    def pending_messages(self, reasons: Iterable[str] | None = None,
                         conn: Connection | None = None) -> list[PendingMessage]:
        """The waiting messages, oldest first (optionally of some reasons only)."""
        with self._read(conn) as c:
            return _pending.load_pending(c, reasons)

    def drop_pending_messages(self, message_ids: Iterable[int], conn: Connection | None = None) -> int:
        """Forget waiting messages (copied, or gone from Heymarket)."""
        with self._write(conn) as c:
            return _pending.drop_pending(c, message_ids)

    def count_pending_messages(self, conn: Connection | None = None) -> dict[str, int]:
        """Waiting messages by reason."""
        with self._read(conn) as c:
            return _pending.count_pending(c)

    # --- runs --------------------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        dag_id: str,
        *,
        trigger: str,
        mode: str,
        objects: Iterable[str],
        dry_run: bool = False,
        params: Mapping[str, object] | None = None,
        started_at: datetime | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Open the run's history row (status ``running``); params are stored redacted."""
        with self._write(conn) as c:
            _runs.start_run(
                c, run_id=run_id, dag_id=dag_id, trigger=trigger, mode=mode, objects=objects,
                dry_run=dry_run, params=params or {}, started_at=started_at or self._clock(),
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        counts: Counts,
        api_calls: ApiCalls | None = None,
        error_summary: str | None = None,
        *,
        ended_at: datetime | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Close the run row and write its ``hm_sync_run_count`` rows (again, if called twice).

        :param counts: object -> direction -> action -> n.
        :param api_calls: system -> endpoint -> calls.
        :raises UnknownRun: ``start_run`` was never called for ``run_id``.
        """
        with self._write(conn) as c:
            _runs.finish_run(
                c, run_id=run_id, status=status, counts=counts, api_calls=api_calls or {},
                error_summary=error_summary, ended_at=ended_at or self._clock(),
            )

    def get_run(self, run_id: str, conn: Connection | None = None) -> dict[str, object] | None:
        """One run's history row as a dict, ``None`` if unknown."""
        with self._read(conn) as c:
            return _runs.get_run(c, run_id)

    def list_runs(self, limit: int = 50, dag_id: str | None = None) -> list[dict[str, object]]:
        """Newest runs first (UI page, CLI summary)."""
        with self._read(None) as c:
            return _runs.list_runs(c, limit, dag_id)

    def query_runs(self, run_filter: RunFilter, *, limit: int, offset: int = 0) -> list[dict[str, object]]:
        """One page of the runs ``run_filter`` selects, newest first (the Sync history page)."""
        with self._read(None) as c:
            return _run_queries.query_runs(c, run_filter, limit=limit, offset=offset)

    def count_runs(self, run_filter: RunFilter) -> int:
        """How many runs ``run_filter`` selects."""
        with self._read(None) as c:
            return _run_queries.count_runs(c, run_filter)

    def iter_runs(self, run_filter: RunFilter) -> Iterator[dict[str, object]]:
        """Every run ``run_filter`` selects, newest first, read in chunks in one snapshot (the page's exports)."""
        with self._read(None) as c:
            yield from _run_queries.iter_runs(c, run_filter)

    def runs_failed_since_last_success(self, conn: Connection | None = None) -> list[str]:
        """Runs that failed (or ended partial, cancelled, or never ended) after the last successful one."""
        with self._read(conn) as c:
            return _runs.runs_failed_since_last_success(c)

    # --- record errors -----------------------------------------------------------------------------

    def record_errors(
        self, run_id: str, rows: pd.DataFrame | Iterable[WriteRejection], conn: Connection | None = None
    ) -> int:
        """Record rejected records; an open error of the same record/target/action counts one more attempt.

        :param rows: ``WriteRejection`` objects or a frame with their column names.
        """
        failures = rows_from(rows, WriteRejection)
        with self._write(conn) as c:
            return _errors.record_errors(c, run_id, failures, self._clock())

    def resolve_errors(
        self, keys: pd.DataFrame | Iterable[RecordRef], run_id: str, conn: Connection | None = None
    ) -> int:
        """Resolve the open errors of records whose write has now succeeded; returns how many."""
        refs = rows_from(keys, RecordRef)
        with self._write(conn) as c:
            return _errors.resolve_errors(c, refs, run_id, self._clock())

    def load_errors(
        self, *, open_only: bool = True, run_id: str | None = None, conn: Connection | None = None
    ) -> pd.DataFrame:
        """Record errors as a frame (open ones by default; ``run_id``: those last seen in that run)."""
        with self._read(conn) as c:
            return _errors.load_errors(c, open_only=open_only, run_id=run_id)

    # --- record-level outcomes -------------------------------------------------------------------

    def write_record_outcomes(
        self, run_id: str, outcomes: Iterable[RecordOutcome], *, planned: bool = False,
        conn: Connection | None = None,
    ) -> int:
        """Store what the run did with each record (bulk insert; all rows checked before any is written).

        :param planned: a dry run's rows: what it would have done.
        :returns: how many rows were written.
        """
        with self._write(conn) as c:
            return _outcomes.write_outcomes(c, run_id, outcomes, self._clock(), planned=planned)

    def replace_record_outcomes(
        self, run_id: str, outcomes: Iterable[RecordOutcome], *, actions: Collection[str], planned: bool = False,
        conn: Connection | None = None,
    ) -> int:
        """Replace the run's rows of these *actions* by *outcomes*, in one transaction (idempotent: ``record_run``
        writes the held-back records and may be retried)."""
        with self._write(conn) as c:
            return _outcomes.replace_outcomes(c, run_id, outcomes, self._clock(), actions=actions, planned=planned)

    def record_outcomes(
        self, run_id: str, *, object: str | None = None, action: str | None = None,  # noqa: A002 - the column
        limit: int = 100, offset: int = 0, conn: Connection | None = None,
    ) -> OutcomePage:
        """One page of a run's record outcomes (optionally of one object and/or action) and the total count."""
        with self._read(conn) as c:
            return _outcomes.run_outcomes(c, run_id, object_name=object, action=action, limit=limit, offset=offset)

    def record_history(
        self, *, sf_id: str | None = None, hm_id: int | None = None, limit: int = 100,
        conn: Connection | None = None,
    ) -> tuple[StoredOutcome, ...]:
        """One record's outcomes across runs, newest first (by Salesforce Id and/or Heymarket id)."""
        with self._read(conn) as c:
            return _outcomes.record_history(c, sf_id=sf_id, hm_id=hm_id, limit=limit)

    def prune_record_outcomes(self, older_than: datetime, conn: Connection | None = None) -> int:
        """Delete record outcomes recorded before ``older_than``; returns how many."""
        with self._write(conn) as c:
            return _outcomes.prune_outcomes(c, older_than)

    # --- retry queue -------------------------------------------------------------------------------

    def enqueue_retries(
        self,
        rows: pd.DataFrame | Iterable[RetryRequest],
        run_id: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Queue failed writes (or count another attempt for queued ones) with backoff."""
        requests = rows_from(rows, RetryRequest)
        with self._write(conn) as c:
            return _retries.enqueue_retries(c, requests, run_id, self._clock(), self._retry_policy)

    def due_retries(
        self,
        now: datetime | None = None,
        fingerprints: Mapping[str, str] | None = None,
        conn: Connection | None = None,
    ) -> pd.DataFrame:
        """Queued writes due now, or at once for records whose fingerprint changed.

        :param fingerprints: ``record_key`` -> current ``record_fingerprint`` of records seen this run.
        """
        with self._read(conn) as c:
            return _retries.due_retries(c, now or self._clock(), fingerprints)

    def clear_retries(self, keys: pd.DataFrame | Iterable[RecordRef], conn: Connection | None = None) -> int:
        """Remove queued writes of these records; returns how many."""
        refs = rows_from(keys, RecordRef)
        with self._write(conn) as c:
            return _retries.clear_retries(c, refs)

    # --- sync lock ---------------------------------------------------------------------------------

    def acquire_lock(
        self,
        name: str,
        run_id: str,
        ttl_seconds: int,
        *,
        raise_if_held: bool = True,
        conn: Connection | None = None,
    ) -> bool:
        """Take the lock for ``run_id`` (again, if it already holds it: task retries re-enter).

        :returns: ``True`` when ``run_id`` holds the lock; ``False`` when another run does and
            ``raise_if_held`` is off.
        :raises LockHeld: another run holds an unexpired lock (message names it and the fix).
        """
        holder: LockInfo | None = None
        with self._write(conn) as c:
            # A holder may release between our attempt and our look at it: then simply try again.
            for _ in range(3):
                if _lock.try_acquire(c, name, run_id, ttl_seconds, self._clock()):
                    log.info("sync lock %r taken by run %r for %ss", name, run_id, ttl_seconds)
                    return True
                holder = _lock.lock_holder(c, name)
                if holder is not None:
                    break
        log.warning("sync lock %r refused to run %r: held by run %r", name, run_id,
                    holder.holder_run_id if holder else "?")
        if raise_if_held:
            raise LockHeld(holder, name, run_id)
        return False

    def heartbeat(
        self, name: str, run_id: str, ttl_seconds: int | None = None, conn: Connection | None = None
    ) -> LockInfo:
        """Extend the lease; raises ``LockLost`` if ``run_id`` no longer holds the lock."""
        with self._write(conn) as c:
            return _lock.heartbeat(c, name, run_id, self._clock(), ttl_seconds)

    def release_lock(self, name: str, run_id: str, conn: Connection | None = None) -> bool:
        """Free the lock if ``run_id`` holds it; ``False`` (nothing changed) if it does not."""
        with self._write(conn) as c:
            released = _lock.release(c, name, run_id)
        if released:
            log.info("sync lock %r released by run %r", name, run_id)
        return released

    def lock_holder(self, name: str, conn: Connection | None = None) -> LockInfo | None:
        """Who holds the lock (possibly expired), ``None`` if free."""
        with self._read(conn) as c:
            return _lock.lock_holder(c, name)

    def break_lock(self, name: str, conn: Connection | None = None) -> LockInfo | None:
        """Remove a stale lock whoever holds it; returns what was removed. Only for operators."""
        with self._write(conn) as c:
            removed = _lock.break_lock(c, name)
        if removed is not None:
            log.warning("sync lock %r of run %r broken by hand", name, removed.holder_run_id)
        return removed
