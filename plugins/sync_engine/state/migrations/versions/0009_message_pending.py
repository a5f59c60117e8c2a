"""The message copy: Heymarket messages waiting to become Salesforce Tasks, and its ``unmatched`` count.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

The ``heymarket_messages`` DAG copies every Heymarket message as a completed Task. A message whose phone
matches no linked record, or whose Task Salesforce refused, waits in ``hm_sync_message_pending`` (ids and
dates only: the message is read again from Heymarket by its date) until its record appears or the write
succeeds. Its run counts are ``hm_sync_run_count`` rows of object ``Task``; ``unmatched`` is a new action
(checked in Python, ``COUNT_ACTIONS``: only the column comment changes, as in 0005/0006).

Frozen like 0001: plain column types, no import of ``models.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "hm_sync_message_pending"
OLD_ACTION_COMMENT = (
    "created | updated | deleted | linked | unlinked | failed | skipped | invalid | duplicate | conflict "
    "| unchanged | waiting_retry; drift after the run (direction state, migration 0006): in_sync | out_of_sync "
    "(active links whose sides agree / do not) | held_duplicate | held_invalid | held_no_phone | held_retry "
    "(records held back, by reason)."
)
NEW_ACTION_COMMENT = (
    "created | updated | deleted | linked | unlinked | failed | skipped | invalid | duplicate | conflict "
    "| unchanged | waiting_retry; drift after the run (direction state, migration 0006): in_sync | out_of_sync "
    "(active links whose sides agree / do not) | held_duplicate | held_invalid | held_no_phone | held_retry "
    "(records held back, by reason); message copy (object Task, migration 0009): unmatched (messages whose "
    "phone matches no record, kept pending)."
)


OLD_OBJECT_COMMENT = "Contact | Lead."
NEW_OBJECT_COMMENT = "Contact | Lead; Task for the message copy (migration 0009)."


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False,
                  comment="Heymarket message id."),
        sa.Column("message_at", sa.DateTime(timezone=True), nullable=False,
                  comment="The message's date (UTC): where the listing's cursor finds it again."),
        sa.Column("reason", sa.String(16), nullable=False,
                  comment="no_record (its phone matches no linked record) | failed (Salesforce refused the "
                  "Task)."),
        sa.Column("error_code", sa.String(64), nullable=True,
                  comment="Salesforce's error code when reason is failed (e.g. INACTIVE_OWNER_OR_USER)."),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False,
                  comment="When a run first kept it pending."),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False, comment="When a run last tried it."),
        sa.Column("run_id", sa.String(250), nullable=True,
                  comment="hm_sync_run.run_id of the run that last tried it."),
        sa.CheckConstraint("reason IN ('no_record', 'failed')", name=op.f("ck_hm_sync_message_pending_reason")),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_hm_sync_message_pending")),
        comment="Heymarket messages waiting to become Salesforce Tasks (ids and dates only).",
    )
    op.create_index(op.f("ix_hm_sync_message_pending_message_at"), TABLE, ["message_at"])
    with op.batch_alter_table("hm_sync_run_count") as batch:
        batch.alter_column("action", existing_type=sa.String(16), existing_nullable=False,
                           comment=NEW_ACTION_COMMENT, existing_comment=OLD_ACTION_COMMENT)
        batch.alter_column("object", existing_type=sa.String(16), existing_nullable=False,
                           comment=NEW_OBJECT_COMMENT, existing_comment=OLD_OBJECT_COMMENT)


def downgrade() -> None:
    with op.batch_alter_table("hm_sync_run_count") as batch:
        batch.alter_column("action", existing_type=sa.String(16), existing_nullable=False,
                           comment=OLD_ACTION_COMMENT, existing_comment=NEW_ACTION_COMMENT)
        batch.alter_column("object", existing_type=sa.String(16), existing_nullable=False,
                           comment=OLD_OBJECT_COMMENT, existing_comment=NEW_OBJECT_COMMENT)
    op.drop_table(TABLE)
