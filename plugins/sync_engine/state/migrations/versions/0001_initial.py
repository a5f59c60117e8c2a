"""Initial schema of the sync state store.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Frozen on purpose: it spells out plain column types rather than importing the models, so that later
changes to ``models.py`` go into new revisions and never rewrite history.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_ID = sa.String(250)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    """timestamptz on PostgreSQL; UTC text on SQLite (the models' UTCDateTime converts)."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hm_sync_link",
        sa.Column("id", BIGINT_PK, nullable=False, comment="Surrogate key."),
        sa.Column("object", sa.String(16), nullable=False, comment="Salesforce object: Contact or Lead."),
        sa.Column("sf_id", sa.String(18), nullable=False, comment="Salesforce record Id (18 characters)."),
        sa.Column("hm_id", sa.BigInteger(), nullable=False, comment="Heymarket contact id."),
        sa.Column("phone", sa.String(16), nullable=True,
                  comment="Match key at last sync: E.164 digits without '+', e.g. 14155550134."),
        sa.Column("status", sa.String(16), server_default="active", nullable=False,
                  comment="active | sf_deleted (record deleted in Salesforce) | out_of_scope (left its list view)."),
        sa.Column("synced", JSON_DOC, nullable=False,
                  comment="Canonical field key -> value as last written to both sides "
                          "(keys as in docs/contracts.md)."),
        sa.Column("sf_modstamp", _ts(), nullable=True, comment="Salesforce SystemModstamp at last sync."),
        sa.Column("hm_rev", sa.BigInteger(), nullable=True, comment="Heymarket contact rev at last sync."),
        sa.Column("created_at", _ts(), nullable=False, comment="When the pair was first made."),
        sa.Column("updated_at", _ts(), nullable=False, comment="When this row last changed (the pair's last sync)."),
        sa.Column("last_run_id", RUN_ID, nullable=True,
                  comment="hm_sync_run.run_id of the run that last changed this row."),
        sa.CheckConstraint("object IN ('Contact', 'Lead')", name=op.f("ck_hm_sync_link_object")),
        sa.CheckConstraint("status IN ('active', 'sf_deleted', 'out_of_scope')",
                           name=op.f("ck_hm_sync_link_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hm_sync_link")),
        sa.UniqueConstraint("hm_id", name=op.f("uq_hm_sync_link_hm_id")),
        sa.UniqueConstraint("object", "sf_id", name=op.f("uq_hm_sync_link_object_sf_id")),
        comment="Pairs of Salesforce record and Heymarket contact (one row per pair ever made).",
    )
    op.create_index(op.f("ix_hm_sync_link_phone"), "hm_sync_link", ["phone"])

    op.create_table(
        "hm_sync_watermark",
        sa.Column("system", sa.String(16), nullable=False, comment="salesforce | heymarket."),
        sa.Column("object", sa.String(16), nullable=False,
                  comment="Contact | Lead (Salesforce) or contacts (Heymarket)."),
        sa.Column("value", _ts(), nullable=False,
                  comment="Records modified at or before this instant have been synced."),
        sa.Column("updated_at", _ts(), nullable=False, comment="When the cursor last moved."),
        sa.Column("run_id", RUN_ID, nullable=True, comment="hm_sync_run.run_id of the run that moved it."),
        sa.CheckConstraint("system IN ('salesforce', 'heymarket')", name=op.f("ck_hm_sync_watermark_system")),
        sa.PrimaryKeyConstraint("system", "object", name=op.f("pk_hm_sync_watermark")),
        comment="Incremental extract cursors; each moves forward only after a successful write.",
    )

    op.create_table(
        "hm_sync_phone_cache",
        sa.Column("raw", sa.Text(), nullable=False, comment="Phone text exactly as stored."),
        sa.Column("region", sa.String(8), nullable=False,
                  comment="Default region used to parse it (ISO 3166 alpha-2)."),
        sa.Column("phone", sa.String(16), nullable=True,
                  comment="E.164 digits without '+'; NULL when the text is not a valid number."),
        sa.Column("reason", sa.String(64), nullable=True,
                  comment="Why phone is NULL (e.g. invalid_number, not_a_number); NULL when valid."),
        sa.Column("seen_at", _ts(), nullable=False, comment="When this entry was last written."),
        sa.PrimaryKeyConstraint("raw", "region", name=op.f("pk_hm_sync_phone_cache")),
        comment="Cache of raw phone text -> E.164 digits, per default region.",
    )

    op.create_table(
        "hm_sync_run",
        sa.Column("run_id", RUN_ID, nullable=False, comment="Airflow run_id (unique per DAG)."),
        sa.Column("dag_id", RUN_ID, nullable=False, comment="Airflow dag_id."),
        sa.Column("trigger", sa.String(32), nullable=False, comment="scheduled | manual | backfill | asset ..."),
        sa.Column("mode", sa.String(32), nullable=False, comment="incremental | full | record_ids ..."),
        sa.Column("objects", JSON_DOC, nullable=False, comment="Salesforce objects in scope."),
        sa.Column("dry_run", sa.Boolean(), nullable=False, comment="True when nothing was written."),
        sa.Column("started_at", _ts(), nullable=False, comment="When the run started."),
        sa.Column("ended_at", _ts(), nullable=True, comment="When the run ended (NULL: running)."),
        sa.Column("status", sa.String(16), nullable=False,
                  comment="running | success | partial | failed | cancelled | dry_run."),
        sa.Column("counts", JSON_DOC, nullable=False,
                  comment="object -> direction -> action -> n (same numbers as hm_sync_run_count)."),
        sa.Column("api_calls", JSON_DOC, nullable=False, comment="API calls made, per system and endpoint."),
        sa.Column("error_summary", sa.Text(), nullable=True, comment="Short failure summary, no secrets."),
        sa.Column("params", JSON_DOC, nullable=False,
                  comment="Run parameters as given, with secret-looking values redacted."),
        sa.CheckConstraint("status IN ('running', 'success', 'partial', 'failed', 'cancelled', 'dry_run')",
                           name=op.f("ck_hm_sync_run_status")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_hm_sync_run")),
        comment="Run history: one row per DAG run of the sync.",
    )
    op.create_index(op.f("ix_hm_sync_run_dag_id_started_at"), "hm_sync_run", ["dag_id", "started_at"])

    op.create_table(
        "hm_sync_run_count",
        sa.Column("run_id", RUN_ID, nullable=False, comment="hm_sync_run.run_id."),
        sa.Column("object", sa.String(16), nullable=False, comment="Contact | Lead."),
        sa.Column("direction", sa.String(16), nullable=False, comment="to_heymarket | to_salesforce | state."),
        sa.Column("action", sa.String(16), nullable=False,
                  comment="created | updated | deleted | linked | unlinked | failed | skipped | invalid "
                          "| duplicate | conflict | unchanged."),
        sa.Column("n", sa.Integer(), nullable=False, comment="Number of records."),
        sa.CheckConstraint("direction IN ('to_heymarket', 'to_salesforce', 'state')",
                           name=op.f("ck_hm_sync_run_count_direction")),
        sa.CheckConstraint("n >= 0", name=op.f("ck_hm_sync_run_count_n_not_negative")),
        sa.ForeignKeyConstraint(["run_id"], ["hm_sync_run.run_id"], ondelete="CASCADE",
                                name=op.f("fk_hm_sync_run_count_run_id_hm_sync_run")),
        sa.PrimaryKeyConstraint("run_id", "object", "direction", "action", name=op.f("pk_hm_sync_run_count")),
        comment="Per run counts by object, direction and action (normalised hm_sync_run.counts).",
    )

    op.create_table(
        "hm_sync_record_error",
        sa.Column("id", BIGINT_PK, nullable=False, comment="Surrogate key."),
        sa.Column("object", sa.String(16), nullable=True, comment="Contact | Lead, when known."),
        sa.Column("sf_id", sa.String(18), nullable=True, comment="Salesforce record Id, when known."),
        sa.Column("hm_id", sa.BigInteger(), nullable=True, comment="Heymarket contact id, when known."),
        sa.Column("record_key", sa.String(80), nullable=False,
                  comment="object/sf_id/hm_id with '-' for unknown parts (NULL-safe uniqueness)."),
        sa.Column("target", sa.String(16), nullable=False,
                  comment="System written to: heymarket | salesforce | state."),
        sa.Column("action", sa.String(32), nullable=False, comment="Plan action, e.g. create_heymarket."),
        sa.Column("error_code", sa.String(64), nullable=False, comment="Error code from the target, or our own."),
        sa.Column("message", sa.String(500), nullable=True,
                  comment="Error text, truncated, phone numbers and e-mails masked."),
        sa.Column("first_seen_run", RUN_ID, nullable=False, comment="Run that first hit it."),
        sa.Column("last_seen_run", RUN_ID, nullable=False, comment="Run that last hit it."),
        sa.Column("attempts", sa.Integer(), nullable=False, comment="How many times the write failed."),
        sa.Column("created_at", _ts(), nullable=False, comment="First failure."),
        sa.Column("updated_at", _ts(), nullable=False, comment="Last failure."),
        sa.Column("resolved_at", _ts(), nullable=True, comment="When the same write succeeded (NULL: still open)."),
        sa.Column("resolved_run", RUN_ID, nullable=True, comment="Run that resolved it."),
        sa.CheckConstraint("target IN ('heymarket', 'salesforce', 'state')",
                           name=op.f("ck_hm_sync_record_error_target")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hm_sync_record_error")),
        comment="Per-record write errors (ids only, no personal data). Open while resolved_at IS NULL.",
    )
    op.create_index(op.f("ix_hm_sync_record_error_last_seen_run"), "hm_sync_record_error", ["last_seen_run"])
    # At most one OPEN error per record, target and action; resolved ones are kept as history.
    op.create_index(
        "uq_hm_sync_record_error_open", "hm_sync_record_error", ["target", "action", "record_key"], unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"), postgresql_where=sa.text("resolved_at IS NULL"),
    )

    op.create_table(
        "hm_sync_retry",
        sa.Column("id", BIGINT_PK, nullable=False, comment="Surrogate key."),
        sa.Column("object", sa.String(16), nullable=True, comment="Contact | Lead, when known."),
        sa.Column("sf_id", sa.String(18), nullable=True, comment="Salesforce record Id, when known."),
        sa.Column("hm_id", sa.BigInteger(), nullable=True, comment="Heymarket contact id, when known."),
        sa.Column("record_key", sa.String(80), nullable=False,
                  comment="object/sf_id/hm_id with '-' for unknown parts (NULL-safe uniqueness)."),
        sa.Column("target", sa.String(16), nullable=False,
                  comment="System to write to: heymarket | salesforce | state."),
        sa.Column("action", sa.String(32), nullable=False, comment="Plan action to retry, e.g. update_salesforce."),
        sa.Column("attempts", sa.Integer(), nullable=False, comment="Failed attempts so far."),
        sa.Column("next_attempt_after", _ts(), nullable=False,
                  comment="Not retried before this time unless the record changes."),
        sa.Column("last_error_code", sa.String(64), nullable=True, comment="Error code of the last failure."),
        sa.Column("fingerprint", sa.String(64), nullable=True,
                  comment="Hash of the record's values when it failed; a different hash means it changed."),
        sa.Column("created_at", _ts(), nullable=False, comment="First failure."),
        sa.Column("updated_at", _ts(), nullable=False, comment="Last failure."),
        sa.Column("last_run_id", RUN_ID, nullable=True, comment="Run of the last failure."),
        sa.CheckConstraint("target IN ('heymarket', 'salesforce', 'state')",
                           name=op.f("ck_hm_sync_retry_target")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hm_sync_retry")),
        sa.UniqueConstraint("target", "action", "record_key", name=op.f("uq_hm_sync_retry_target_action_record_key")),
        comment="Retry queue of failed writes.",
    )

    op.create_table(
        "hm_sync_lock",
        sa.Column("name", sa.String(64), nullable=False, comment="Lock name, e.g. heymarket_sync."),
        sa.Column("holder_run_id", RUN_ID, nullable=False, comment="Run holding the lock."),
        sa.Column("acquired_at", _ts(), nullable=False, comment="When the holder took it."),
        sa.Column("heartbeat_at", _ts(), nullable=False, comment="Holder's last sign of life."),
        sa.Column("expires_at", _ts(), nullable=False, comment="After this, another run may take the lock over."),
        sa.Column("ttl_seconds", sa.Integer(), nullable=False, comment="Lifetime granted by each heartbeat."),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_hm_sync_lock")),
        comment="Named locks held by running syncs (a row exists while held).",
    )


def downgrade() -> None:
    op.drop_table("hm_sync_lock")
    op.drop_table("hm_sync_retry")
    op.drop_index("uq_hm_sync_record_error_open", table_name="hm_sync_record_error")
    op.drop_index(op.f("ix_hm_sync_record_error_last_seen_run"), table_name="hm_sync_record_error")
    op.drop_table("hm_sync_record_error")
    op.drop_table("hm_sync_run_count")
    op.drop_index(op.f("ix_hm_sync_run_dag_id_started_at"), table_name="hm_sync_run")
    op.drop_table("hm_sync_run")
    op.drop_table("hm_sync_phone_cache")
    op.drop_table("hm_sync_watermark")
    op.drop_index(op.f("ix_hm_sync_link_phone"), table_name="hm_sync_link")
    op.drop_table("hm_sync_link")
