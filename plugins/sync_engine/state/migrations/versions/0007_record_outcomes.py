"""Record-level outcomes: one row per record a run wrote, had rejected or held back.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

The run history says how many records each run created, rejected or held back; this table says which ones
(ids only) and why (action and reason codes, the names of the fields written), so an admin can answer "why
did this Contact not sync?" and analysts can follow one record's history. Never values, phones, e-mails or
names. Indexed for a run's records, a record's history (by Salesforce Id or Heymarket id) and pruning by
age (``history.record_outcome_days``, default 90).

Frozen like 0001: plain column types, no import of ``models.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE = "hm_sync_record_outcome"
OBJECTS = "object IN ('Contact', 'Lead', '(heymarket)')"
ACTIONS = (
    "action IN ('created', 'updated', 'deleted', 'linked', 'unlinked', 'failed', 'duplicate', 'conflict', "
    "'invalid', 'no_phone', 'waiting_retry', 'skipped')"
)
DIRECTIONS = "direction IN ('to_heymarket', 'to_salesforce', 'state')"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False, comment="Surrogate key."),
        sa.Column("run_id", sa.String(250), nullable=False,
                  comment="hm_sync_run.run_id of the run the outcome belongs to."),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False,
                  comment="When the row was written (UTC)."),
        sa.Column("object", sa.String(16), nullable=False,
                  comment="Contact | Lead, or (heymarket) for a Heymarket contact that no record is part of."),
        sa.Column("sf_id", sa.String(18), nullable=True,
                  comment="Salesforce record Id (18 characters), when the record has one."),
        sa.Column("hm_id", sa.BigInteger(), nullable=True, comment="Heymarket contact id, when known."),
        sa.Column("action", sa.String(16), nullable=False,
                  comment="What happened. Written: created | updated | deleted | linked | unlinked; rejected by "
                  "the target: failed; held back (nothing written): duplicate | conflict | invalid | no_phone | "
                  "waiting_retry | skipped."),
        sa.Column("direction", sa.String(16), nullable=True,
                  comment="Where the write went: to_heymarket | to_salesforce | state (the link table); NULL "
                  "when held back."),
        sa.Column("reason", sa.String(64), nullable=True,
                  comment="Code saying why: the plan reason of a write (no_match, takeover, sf_deleted...), the "
                  "target's error code of a failure, the phone's reason of invalid/skipped, or a hold reason "
                  "(phone_taken, owner_outside_run, salesforce_kept, heymarket_kept, both_kept, no_record, "
                  "retry_not_due)."),
        sa.Column("fields", sa.Text(), nullable=True,
                  comment="Comma-separated canonical keys written or attempted (first,last,email,custom.<name>,"
                  "phone); for a conflict the keys in conflict. Names only, never values."),
        sa.Column("planned", sa.Boolean(), server_default=sa.false(), nullable=False,
                  comment="True for a dry run's rows: what the run would have done (nothing was written)."),
        sa.CheckConstraint(OBJECTS, name=op.f("ck_hm_sync_record_outcome_object")),
        sa.CheckConstraint(ACTIONS, name=op.f("ck_hm_sync_record_outcome_action")),
        sa.CheckConstraint(DIRECTIONS, name=op.f("ck_hm_sync_record_outcome_direction")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hm_sync_record_outcome")),
        comment="Record-level outcomes: one row per record a run wrote, had rejected or held back "
        "(ids and codes only).",
    )
    op.create_index(op.f("ix_hm_sync_record_outcome_run_id_object_action"), TABLE,
                    ["run_id", "object", "action"])
    op.create_index(op.f("ix_hm_sync_record_outcome_sf_id_recorded_at"), TABLE, ["sf_id", "recorded_at"])
    op.create_index(op.f("ix_hm_sync_record_outcome_hm_id_recorded_at"), TABLE, ["hm_id", "recorded_at"])
    op.create_index(op.f("ix_hm_sync_record_outcome_recorded_at"), TABLE, ["recorded_at"])


def downgrade() -> None:
    op.drop_table(TABLE)
