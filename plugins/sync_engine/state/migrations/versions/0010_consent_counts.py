"""Consent counts: the run history counts the opt-out states a run wrote.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Opt-out sync (issue 15) writes a person's SMS opt-out to both sides under compliance rules
(``sync_engine.plan.consent``). Every such write is counted per direction as ``opted_out`` (an opt-out
written to Heymarket or a Salesforce box ticked) or ``opted_in`` (the Salesforce box cleared after the person
opted back in through Heymarket), in ``hm_sync_run_count`` next to the write's own ``created`` / ``updated``.
The closed set of actions is checked in Python (``COUNT_ACTIONS``): only the column comment changes here,
as in 0005, 0006 and 0009.

Frozen like 0001: plain column types, no import of ``models.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ACTION_COMMENT = (
    "created | updated | deleted | linked | unlinked | failed | skipped | invalid | duplicate | conflict "
    "| unchanged | waiting_retry; drift after the run (direction state, migration 0006): in_sync | out_of_sync "
    "(active links whose sides agree / do not) | held_duplicate | held_invalid | held_no_phone | held_retry "
    "(records held back, by reason); message copy (object Task, migration 0009): unmatched (messages whose "
    "phone matches no record, kept pending)."
)
NEW_ACTION_COMMENT = (
    "created | updated | deleted | linked | unlinked | failed | skipped | invalid | duplicate | conflict "
    "| unchanged | waiting_retry; drift after the run (direction state, migration 0006): in_sync | out_of_sync "
    "(active links whose sides agree / do not) | held_duplicate | held_invalid | held_no_phone | held_retry "
    "(records held back, by reason); message copy (object Task, migration 0009): unmatched (messages whose "
    "phone matches no record, kept pending); consent writes (migration 0010): opted_out | opted_in (opt-out "
    "states written to that side, also counted as created/updated)."
)


def upgrade() -> None:
    with op.batch_alter_table("hm_sync_run_count") as batch:
        batch.alter_column("action", existing_type=sa.String(16), existing_nullable=False,
                           comment=NEW_ACTION_COMMENT, existing_comment=OLD_ACTION_COMMENT)


def downgrade() -> None:
    # Rows of consent counts stay: the column takes any text, and older code only reads them.
    with op.batch_alter_table("hm_sync_run_count") as batch:
        batch.alter_column("action", existing_type=sa.String(16), existing_nullable=False,
                           comment=OLD_ACTION_COMMENT, existing_comment=NEW_ACTION_COMMENT)
