"""Drift after a run: the run history counts linked pairs in and out of sync and held-back records.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10

Every run records, per object, how many active links agree on all mapped values after it (``in_sync``), how
many do not (``out_of_sync``) and how many records it held back, by reason (``held_duplicate``,
``held_invalid``, ``held_no_phone``, ``held_retry``); see ``sync_engine.drift``. They are rows of
``hm_sync_run_count`` with direction ``state``. The closed set of actions is checked in Python
(``COUNT_ACTIONS``): only the column comment changes here, as in 0005.

Frozen like 0001: plain column types, no import of ``models.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ACTION_COMMENT = (
    "created | updated | deleted | linked | unlinked | failed | skipped | invalid | duplicate | conflict "
    "| unchanged | waiting_retry."
)
NEW_ACTION_COMMENT = (
    "created | updated | deleted | linked | unlinked | failed | skipped | invalid | duplicate | conflict "
    "| unchanged | waiting_retry; drift after the run (direction state, migration 0006): in_sync | out_of_sync "
    "(active links whose sides agree / do not) | held_duplicate | held_invalid | held_no_phone | held_retry "
    "(records held back, by reason)."
)


def upgrade() -> None:
    with op.batch_alter_table("hm_sync_run_count") as batch:
        batch.alter_column("action", existing_type=sa.String(16), existing_nullable=False,
                           comment=NEW_ACTION_COMMENT, existing_comment=OLD_ACTION_COMMENT)


def downgrade() -> None:
    # Rows of drift actions stay: the column takes any text, and older code only reads them.
    with op.batch_alter_table("hm_sync_run_count") as batch:
        batch.alter_column("action", existing_type=sa.String(16), existing_nullable=False,
                           comment=OLD_ACTION_COMMENT, existing_comment=NEW_ACTION_COMMENT)
