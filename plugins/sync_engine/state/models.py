"""Tables of the sync state store (SQLAlchemy 2.0 declarative).

Analysts query these tables directly, so every table and column carries a comment (stored as a
database comment on PostgreSQL). The schema itself is created and upgraded only by the Alembic
migrations in ``migrations/versions``; these classes describe it for queries and for
``alembic revision --autogenerate`` (a test checks that both agree).

All timestamps are UTC. Ids are ids: no table here stores names, e-mails or message payloads; the
link table and the phone cache hold phone numbers because matching on phone is their purpose.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sync_engine.state.sqltypes import BigIntPK, JSONDocument, UTCDateTime
from sync_engine.vocabulary import (
    COUNT_DIRECTIONS,
    HEYMARKET_ONLY,
    OBJECT_NAMES,
    OUTCOME_ACTIONS,
    PENDING_REASONS,
    TARGETS,
)

# --- closed sets (kept in one place; CHECK constraints and Python validation both use them) -------------

LinkStatus = Literal["active", "sf_deleted", "out_of_scope", "released"]
System = Literal["salesforce", "heymarket"]
RunStatus = Literal["running", "success", "partial", "failed", "cancelled", "dry_run"]

SF_OBJECTS: Final = OBJECT_NAMES
LINK_STATUSES: Final = ("active", "sf_deleted", "out_of_scope", "released")
SYSTEMS: Final = ("salesforce", "heymarket")
#: ``messages``: the message copy's cursor (every message dated at or before it was copied or is pending);
#: ``message_links``: the link table's last change that the pending messages were checked against.
WATERMARK_OBJECTS: Final = ("Contact", "Lead", "contacts", "messages", "message_links")
RUN_STATUSES: Final = ("running", "success", "partial", "failed", "cancelled", "dry_run")
#: ``hm_sync_record_outcome.object``: a Salesforce object, or the marker of a Heymarket contact alone.
OUTCOME_OBJECTS: Final = (*OBJECT_NAMES, HEYMARKET_ONLY)
# The count directions and actions (COUNT_DIRECTIONS, COUNT_ACTIONS) and the error/retry TARGETS are the
# project's vocabulary (sync_engine.vocabulary): the planner and the history speak them too.

#: Airflow allows run ids up to 250 characters.
RUN_ID_LENGTH: Final = 250
#: Longest message kept per record error; the rest is cut (messages must never carry payloads).
ERROR_MESSAGE_LENGTH: Final = 500

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    """SQL text for ``column IN (...)``, for CHECK constraints on closed sets."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so constraint names are stable across backends."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The model's :class:`~sqlalchemy.Table` (SQLAlchemy types ``__table__`` as any ``FromClause``; a declarative
    class without ``__table__`` overrides always has a ``Table``)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a Table")
    return table


class SyncLink(Base):
    """A Salesforce record paired with a Heymarket contact, with the field values last synced.

    A row outlives its pair as memory: ``sf_deleted`` / ``out_of_scope`` keep the record's Id, ``released``
    (the record moved to another number) keeps only the contact (``sf_id`` NULL). Unique keys ignore NULLs, so
    any number of released rows may share an object.
    """

    __tablename__ = "hm_sync_link"
    __table_args__ = (
        UniqueConstraint("object", "sf_id"),
        UniqueConstraint("hm_id"),
        CheckConstraint(_in("object", SF_OBJECTS), name="object"),
        CheckConstraint(_in("status", LINK_STATUSES), name="status"),
        Index(None, "phone"),
        Index(None, "hm_uuid", unique=True),
        {"comment": "Pairs of Salesforce record and Heymarket contact (one row per pair ever made)."},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="Surrogate key.")
    object: Mapped[str] = mapped_column(String(16), comment="Salesforce object: Contact or Lead.")
    sf_id: Mapped[str | None] = mapped_column(
        String(18), comment="Salesforce record Id (18 characters); NULL once released (migration 0005)."
    )
    hm_id: Mapped[int] = mapped_column(BigInteger, comment="Heymarket contact id.")
    hm_uuid: Mapped[str | None] = mapped_column(
        String(36), comment="Heymarket contact UUID (v2 contact_id), when known."
    )
    phone: Mapped[str | None] = mapped_column(
        String(16), comment="Match key at last sync: E.164 digits without '+', e.g. 14155550134."
    )
    status: Mapped[str] = mapped_column(
        String(16),
        server_default="active",
        comment="active | sf_deleted (record deleted in Salesforce) | out_of_scope (left its list view) | "
        "released (its record moved to another number; sf_id is NULL).",
    )
    synced: Mapped[dict[str, str]] = mapped_column(
        JSONDocument,
        comment="Canonical field key -> value as last written to both sides (keys as in docs/contracts.md).",
    )
    sf_modstamp: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="Salesforce SystemModstamp at last sync."
    )
    hm_rev: Mapped[int | None] = mapped_column(BigInteger, comment="Heymarket contact rev at last sync.")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="When the pair was first made.")
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, comment="When this row last changed (the pair's last sync)."
    )
    last_run_id: Mapped[str | None] = mapped_column(
        String(RUN_ID_LENGTH), comment="hm_sync_run.run_id of the run that last changed this row."
    )


class SyncWatermark(Base):
    """Incremental cursor per system and object; advanced only explicitly, after a successful write."""

    __tablename__ = "hm_sync_watermark"
    __table_args__ = (
        CheckConstraint(_in("system", SYSTEMS), name="system"),
        {"comment": "Incremental extract cursors; each moves forward only after a successful write."},
    )

    system: Mapped[str] = mapped_column(String(16), primary_key=True, comment="salesforce | heymarket.")
    object: Mapped[str] = mapped_column(
        String(16), primary_key=True, comment="Contact | Lead (Salesforce) or contacts (Heymarket)."
    )
    value: Mapped[datetime] = mapped_column(
        UTCDateTime, comment="Records modified at or before this instant have been synced."
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="When the cursor last moved.")
    run_id: Mapped[str | None] = mapped_column(
        String(RUN_ID_LENGTH), comment="hm_sync_run.run_id of the run that moved it."
    )


class ApiCacheEntry(Base):
    """An API answer that stays valid for a while (an object's describe, the org's limits, Heymarket's inboxes
    and contact fields), so that a run which changes nothing does not pay for it again (issue 14)."""

    __tablename__ = "hm_sync_api_cache"
    __table_args__ = ({"comment": "API answers reused within their validity (metadata and limits, no contact data)."},)

    key: Mapped[str] = mapped_column(String(64), primary_key=True, comment="What was read, e.g. salesforce.describe.Contact.")
    value: Mapped[object] = mapped_column(JSONDocument, comment="The answer as JSON (metadata or counts only).")
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="When the API answered it.")


class PhoneCacheEntry(Base):
    """Result of normalising one raw phone string in one default region (saves re-parsing)."""

    __tablename__ = "hm_sync_phone_cache"
    __table_args__ = ({"comment": "Cache of raw phone text -> E.164 digits, per default region."},)

    raw: Mapped[str] = mapped_column(Text, primary_key=True, comment="Phone text exactly as stored.")
    region: Mapped[str] = mapped_column(
        String(8), primary_key=True, comment="Default region used to parse it (ISO 3166 alpha-2)."
    )
    phone: Mapped[str | None] = mapped_column(
        String(16), comment="E.164 digits without '+'; NULL when the text is not a valid number."
    )
    reason: Mapped[str | None] = mapped_column(
        String(64), comment="Why phone is NULL (e.g. invalid_number, not_a_number); NULL when valid."
    )
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="When this entry was last written.")


class SyncRun(Base):
    """One row per sync run: what was asked, how it ended, and what it did."""

    __tablename__ = "hm_sync_run"
    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        Index(None, "dag_id", "started_at"),
        Index(None, "started_at", "run_id"),  # the history page: both DAGs' runs, newest first (0008)
        {"comment": "Run history: one row per DAG run of the sync."},
    )

    run_id: Mapped[str] = mapped_column(
        String(RUN_ID_LENGTH), primary_key=True, comment="Airflow run_id (unique per DAG)."
    )
    dag_id: Mapped[str] = mapped_column(String(RUN_ID_LENGTH), comment="Airflow dag_id.")
    trigger: Mapped[str] = mapped_column(String(32), comment="scheduled | manual | backfill | asset ...")
    mode: Mapped[str] = mapped_column(String(32), comment="incremental | full | record_ids ...")
    objects: Mapped[list[str]] = mapped_column(JSONDocument, comment="Salesforce objects in scope.")
    dry_run: Mapped[bool] = mapped_column(Boolean, comment="True when nothing was written.")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="When the run started.")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="When the run ended (NULL: running).")
    status: Mapped[str] = mapped_column(
        String(16), comment="running | success | partial | failed | cancelled | dry_run."
    )
    counts: Mapped[dict[str, object]] = mapped_column(
        JSONDocument, comment="object -> direction -> action -> n (same numbers as hm_sync_run_count)."
    )
    api_calls: Mapped[dict[str, object]] = mapped_column(
        JSONDocument, comment="API calls made, per system and endpoint."
    )
    error_summary: Mapped[str | None] = mapped_column(Text, comment="Short failure summary, no secrets.")
    params: Mapped[dict[str, object]] = mapped_column(
        JSONDocument, comment="Run parameters as given, with secret-looking values redacted."
    )


class SyncRunCount(Base):
    """The counts of ``hm_sync_run.counts`` as rows, for analysts' GROUP BY."""

    __tablename__ = "hm_sync_run_count"
    __table_args__ = (
        CheckConstraint(_in("direction", COUNT_DIRECTIONS), name="direction"),
        CheckConstraint("n >= 0", name="n_not_negative"),
        {"comment": "Per run counts by object, direction and action (normalised hm_sync_run.counts)."},
    )

    run_id: Mapped[str] = mapped_column(
        String(RUN_ID_LENGTH),
        ForeignKey("hm_sync_run.run_id", ondelete="CASCADE"),
        primary_key=True,
        comment="hm_sync_run.run_id.",
    )
    object: Mapped[str] = mapped_column(
        String(16), primary_key=True, comment="Contact | Lead; Task for the message copy (migration 0009)."
    )
    direction: Mapped[str] = mapped_column(
        String(16), primary_key=True, comment="to_heymarket | to_salesforce | state."
    )
    action: Mapped[str] = mapped_column(
        String(16),
        primary_key=True,
        comment="created | updated | deleted | linked | unlinked | failed | skipped | invalid | duplicate "
        "| conflict | unchanged | waiting_retry; drift after the run (direction state, migration 0006): "
        "in_sync | out_of_sync (active links whose sides agree / do not) | held_duplicate | held_invalid "
        "| held_no_phone | held_retry (records held back, by reason); message copy (object Task, migration "
        "0009): unmatched (messages whose phone matches no record, kept pending); consent writes (migration "
        "0010): opted_out | opted_in (opt-out states written to that side, also counted as created/updated).",
    )
    n: Mapped[int] = mapped_column(Integer, comment="Number of records.")


class SyncRecordError(Base):
    """A record that a target system rejected; open until the same write succeeds."""

    __tablename__ = "hm_sync_record_error"
    __table_args__ = (
        CheckConstraint(_in("target", TARGETS), name="target"),
        Index(
            "uq_hm_sync_record_error_open",
            "target",
            "action",
            "record_key",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index(None, "last_seen_run"),
        {"comment": "Per-record write errors (ids only, no personal data). Open while resolved_at IS NULL."},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="Surrogate key.")
    object: Mapped[str | None] = mapped_column(String(16), comment="Contact | Lead, when known.")
    sf_id: Mapped[str | None] = mapped_column(String(18), comment="Salesforce record Id, when known.")
    hm_id: Mapped[int | None] = mapped_column(BigInteger, comment="Heymarket contact id, when known.")
    record_key: Mapped[str] = mapped_column(
        String(80), comment="object/sf_id/hm_id with '-' for unknown parts (NULL-safe uniqueness)."
    )
    target: Mapped[str] = mapped_column(String(16), comment="System written to: heymarket | salesforce | state.")
    action: Mapped[str] = mapped_column(String(32), comment="Plan action, e.g. create_heymarket.")
    error_code: Mapped[str] = mapped_column(String(64), comment="Error code from the target, or our own.")
    message: Mapped[str | None] = mapped_column(
        String(ERROR_MESSAGE_LENGTH), comment="Error text, truncated, phone numbers and e-mails masked."
    )
    first_seen_run: Mapped[str] = mapped_column(String(RUN_ID_LENGTH), comment="Run that first hit it.")
    last_seen_run: Mapped[str] = mapped_column(String(RUN_ID_LENGTH), comment="Run that last hit it.")
    attempts: Mapped[int] = mapped_column(Integer, comment="How many times the write failed.")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="First failure.")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="Last failure.")
    resolved_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="When the same write succeeded (NULL: still open)."
    )
    resolved_run: Mapped[str | None] = mapped_column(String(RUN_ID_LENGTH), comment="Run that resolved it.")


class SyncRetry(Base):
    """A failed write waiting to be tried again (backoff, or at once when the record changes)."""

    __tablename__ = "hm_sync_retry"
    __table_args__ = (
        UniqueConstraint("target", "action", "record_key"),
        CheckConstraint(_in("target", TARGETS), name="target"),
        {"comment": "Retry queue of failed writes."},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="Surrogate key.")
    object: Mapped[str | None] = mapped_column(String(16), comment="Contact | Lead, when known.")
    sf_id: Mapped[str | None] = mapped_column(String(18), comment="Salesforce record Id, when known.")
    hm_id: Mapped[int | None] = mapped_column(BigInteger, comment="Heymarket contact id, when known.")
    record_key: Mapped[str] = mapped_column(
        String(80), comment="object/sf_id/hm_id with '-' for unknown parts (NULL-safe uniqueness)."
    )
    target: Mapped[str] = mapped_column(String(16), comment="System to write to: heymarket | salesforce | state.")
    action: Mapped[str] = mapped_column(String(32), comment="Plan action to retry, e.g. update_salesforce.")
    attempts: Mapped[int] = mapped_column(Integer, comment="Failed attempts so far.")
    next_attempt_after: Mapped[datetime] = mapped_column(
        UTCDateTime, comment="Not retried before this time unless the record changes."
    )
    last_error_code: Mapped[str | None] = mapped_column(String(64), comment="Error code of the last failure.")
    fingerprint: Mapped[str | None] = mapped_column(
        String(64), comment="Hash of the record's values when it failed; a different hash means it changed."
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="First failure.")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="Last failure.")
    last_run_id: Mapped[str | None] = mapped_column(String(RUN_ID_LENGTH), comment="Run of the last failure.")


class SyncLock(Base):
    """The sync lock: at most one run writes at a time, even if Airflow's max_active_runs fails."""

    __tablename__ = "hm_sync_lock"
    __table_args__ = ({"comment": "Named locks held by running syncs (a row exists while held)."},)

    name: Mapped[str] = mapped_column(String(64), primary_key=True, comment="Lock name, e.g. heymarket_sync.")
    holder_run_id: Mapped[str] = mapped_column(String(RUN_ID_LENGTH), comment="Run holding the lock.")
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="When the holder took it.")
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="Holder's last sign of life.")
    expires_at: Mapped[datetime] = mapped_column(
        UTCDateTime, comment="After this, another run may take the lock over."
    )
    ttl_seconds: Mapped[int] = mapped_column(Integer, comment="Lifetime granted by each heartbeat.")


USER_MAP_SOURCES: Final = ("email", "override")


class SyncUserMap(Base):
    """Salesforce user -> Heymarket user, written by the ``heymarket_setup`` DAG (migration 0003)."""

    __tablename__ = "hm_sync_user_map"
    __table_args__ = (
        CheckConstraint(_in("source", USER_MAP_SOURCES), name="source"),
        Index(None, "hm_user_id"),
        {"comment": "Salesforce user -> Heymarket user, as last applied by the heymarket_setup DAG."},
    )

    sf_user_id: Mapped[str] = mapped_column(
        String(18), primary_key=True, comment="Salesforce User Id (18 characters)."
    )
    hm_user_id: Mapped[int] = mapped_column(BigInteger, comment="Heymarket team member (user) id.")
    source: Mapped[str] = mapped_column(
        String(16), comment="email (same e-mail on both sides) | override (setup.user_mapping in the config)."
    )
    permission_set: Mapped[str | None] = mapped_column(
        String(80), comment="API name of the Salesforce permission set the user was given, when known."
    )
    assignment_id: Mapped[str | None] = mapped_column(
        String(18), comment="PermissionSetAssignment Id, when this setup run created or found it."
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, comment="When the setup run that wrote this row ran."
    )
    run_id: Mapped[str | None] = mapped_column(
        String(RUN_ID_LENGTH), comment="Airflow run id of that heymarket_setup run."
    )


class SyncOutsideView(Base):
    """A Salesforce record outside the configured list view, with its phone (migration 0004).

    Full comparisons rebuild these rows; incremental runs update the records they read and take the
    rest from here, so auto-create never makes a second record for a phone held outside the view.
    """

    __tablename__ = "hm_sync_outside_view"
    __table_args__ = (
        CheckConstraint(_in("object", SF_OBJECTS), name="object"),
        {"comment": "Salesforce records outside the configured list view that have a phone (list-view scope only)."},
    )

    object: Mapped[str] = mapped_column(
        String(16), primary_key=True, comment="Salesforce object: Contact or Lead."
    )
    sf_id: Mapped[str] = mapped_column(
        String(18), primary_key=True, comment="Salesforce record Id (18 characters)."
    )
    list_view: Mapped[str] = mapped_column(
        String(80), comment="The list view (id or developer name, as configured) the record was outside of."
    )
    phone_raw: Mapped[str] = mapped_column(Text, comment="The record's phone field as stored.")
    modstamp: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="The record's SystemModstamp when it was read."
    )
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="When a sync run last wrote this row.")


class SyncOutsideViewScan(Base):
    """Per object, which list view ``hm_sync_outside_view`` was last filled for, and when (migration 0004).

    An incremental run trusts the stored rows only for the view they were read for; without a scan of the
    current view (auto-create just switched on, or the view changed) it reads the records outside it first.
    """

    __tablename__ = "hm_sync_outside_view_scan"
    __table_args__ = (
        CheckConstraint(_in("object", SF_OBJECTS), name="object"),
        {"comment": "Per object, the list view and time of the last full read of the records outside it."},
    )

    object: Mapped[str] = mapped_column(
        String(16), primary_key=True, comment="Salesforce object: Contact or Lead."
    )
    list_view: Mapped[str] = mapped_column(
        String(80), comment="The list view whose outside records hm_sync_outside_view holds for this object."
    )
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="When every record was last read.")
    run_id: Mapped[str | None] = mapped_column(
        String(RUN_ID_LENGTH), comment="Airflow run id of the run that read them."
    )


class SyncRecordOutcome(Base):
    """What one run did with one record: written, rejected or held back (migration 0007).

    Analysts and the Sync history page answer "why did this Contact not sync?" from it. Ids, action and
    reason codes and field *names* only: never a value, phone, e-mail or name. Unchanged records get no
    row. Rows are pruned after ``history.record_outcome_days`` (default 90) by the sync itself.
    """

    __tablename__ = "hm_sync_record_outcome"
    __table_args__ = (
        CheckConstraint(_in("object", OUTCOME_OBJECTS), name="object"),
        CheckConstraint(_in("action", OUTCOME_ACTIONS), name="action"),
        CheckConstraint(_in("direction", COUNT_DIRECTIONS), name="direction"),
        Index(None, "run_id", "object", "action"),
        Index(None, "sf_id", "recorded_at"),
        Index(None, "hm_id", "recorded_at"),
        Index(None, "recorded_at"),
        {"comment": "Record-level outcomes: one row per record a run wrote, had rejected or held back "
                    "(ids and codes only)."},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, comment="Surrogate key.")
    run_id: Mapped[str] = mapped_column(
        String(RUN_ID_LENGTH), comment="hm_sync_run.run_id of the run the outcome belongs to."
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="When the row was written (UTC).")
    object: Mapped[str] = mapped_column(
        String(16),
        comment=f"Contact | Lead, or {HEYMARKET_ONLY} for a Heymarket contact that no record is part of.",
    )
    sf_id: Mapped[str | None] = mapped_column(
        String(18), comment="Salesforce record Id (18 characters), when the record has one."
    )
    hm_id: Mapped[int | None] = mapped_column(BigInteger, comment="Heymarket contact id, when known.")
    action: Mapped[str] = mapped_column(
        String(16),
        comment="What happened. Written: created | updated | deleted | linked | unlinked; rejected by the "
        "target: failed; held back (nothing written): duplicate | conflict | invalid | no_phone | "
        "waiting_retry | skipped.",
    )
    direction: Mapped[str | None] = mapped_column(
        String(16),
        comment="Where the write went: to_heymarket | to_salesforce | state (the link table); NULL when "
        "held back.",
    )
    reason: Mapped[str | None] = mapped_column(
        String(64),
        comment="Code saying why: the plan reason of a write (no_match, takeover, sf_deleted...), the "
        "target's error code of a failure, the phone's reason of invalid/skipped, or a hold reason "
        "(phone_taken, owner_outside_run, salesforce_kept, heymarket_kept, both_kept, no_record, "
        "retry_not_due).",
    )
    fields: Mapped[str | None] = mapped_column(
        Text,
        comment="Comma-separated canonical keys written or attempted (first,last,email,custom.<name>,phone); "
        "for a conflict the keys in conflict. Names only, never values.",
    )
    planned: Mapped[bool] = mapped_column(
        Boolean,
        server_default=false(),
        comment="True for a dry run's rows: what the run would have done (nothing was written).",
    )


class SyncPendingMessage(Base):
    """A Heymarket message not yet copied as a Task: its phone matches no record, or Salesforce refused it.

    Ids and dates only: the message is read again from Heymarket (by its date, the listing's cursor) when
    it is retried, so no phone or text is kept here (migration 0009).
    """

    __tablename__ = "hm_sync_message_pending"
    __table_args__ = (
        CheckConstraint(_in("reason", PENDING_REASONS), name="reason"),
        Index(None, "message_at"),
        {"comment": "Heymarket messages waiting to become Salesforce Tasks (ids and dates only)."},
    )

    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False,
                                            comment="Heymarket message id.")
    message_at: Mapped[datetime] = mapped_column(
        UTCDateTime, comment="The message's date (UTC): where the listing's cursor finds it again."
    )
    reason: Mapped[str] = mapped_column(
        String(16), comment="no_record (its phone matches no linked record) | failed (Salesforce refused the Task)."
    )
    error_code: Mapped[str | None] = mapped_column(
        String(64), comment="Salesforce's error code when reason is failed (e.g. INACTIVE_OWNER_OR_USER)."
    )
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="When a run first kept it pending.")
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, comment="When a run last tried it.")
    run_id: Mapped[str | None] = mapped_column(
        String(RUN_ID_LENGTH), comment="hm_sync_run.run_id of the run that last tried it."
    )
