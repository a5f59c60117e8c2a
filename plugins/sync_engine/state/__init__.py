"""Sync state store: link table, watermarks, phone cache, run history, record errors, retry queue, lock,
and the phones of records outside a list view.

SQLAlchemy over a SQLite file (default) or PostgreSQL (production); the schema is created and upgraded
by the Alembic migrations shipped in ``migrations/`` (``StateStore.migrate()``), never at import.
Table names start with ``hm_sync_``; see ``models.py`` for what each column means.
"""

from sync_engine.outcomes import RecordOutcome
from sync_engine.state.exceptions import SchemaNotCurrent, StateStoreError, UnknownRun, UnsupportedDatabase
from sync_engine.state.links import (
    LINK_FRAME_BASE_COLUMNS,
    SYNCED_PREFIX,
    DeleteKey,
    LinkChanges,
    ReleaseKey,
    links_frame_columns,
)
from sync_engine.state.lock import LockError, LockHeld, LockInfo, LockLost
from sync_engine.state.outside_view import OutsideRecord
from sync_engine.state.pending_messages import PendingMessage
from sync_engine.state.record_outcomes import OutcomePage, StoredOutcome
from sync_engine.state.records import (
    LinkRow,
    RecordRef,
    RetryRequest,
    WriteRejection,
    record_fingerprint,
    record_key,
)
from sync_engine.state.retry_queue import RetryPolicy
from sync_engine.state.run_queries import RunFilter
from sync_engine.state.store import SYNC_LOCK, StateStore

__all__ = [
    "LINK_FRAME_BASE_COLUMNS",
    "SYNCED_PREFIX",
    "SYNC_LOCK",
    "DeleteKey",
    "LinkChanges",
    "LinkRow",
    "LockError",
    "LockHeld",
    "LockInfo",
    "LockLost",
    "OutcomePage",
    "OutsideRecord",
    "PendingMessage",
    "RecordOutcome",
    "RecordRef",
    "ReleaseKey",
    "RetryPolicy",
    "RetryRequest",
    "RunFilter",
    "SchemaNotCurrent",
    "StateStore",
    "StateStoreError",
    "StoredOutcome",
    "UnknownRun",
    "UnsupportedDatabase",
    "WriteRejection",
    "links_frame_columns",
    "record_fingerprint",
    "record_key",
]
