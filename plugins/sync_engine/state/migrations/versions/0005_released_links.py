"""Released links: the memory of a contact whose record moved to another number (sf_id NULL).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08

The phone decides which record owns a Heymarket contact. When a linked record moves to a number that
another contact already has, it takes that contact over and its old contact is *released*: the link row
stays as memory (``hm_id``, ``phone``, ``synced``) with status ``released`` and no Salesforce record, so
the contact is never auto-created back into Salesforce and a later record with its number takes it over.

Also: the run history may count ``waiting_retry`` (writes held back until their retry is due); the closed
set is checked in Python (``COUNT_ACTIONS``), only the column comment changes here.

Frozen like 0001: plain column types, no import of ``models.py``. On SQLite, batch mode rebuilds the
table (``env.py``), keeping the other constraints and indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('active', 'sf_deleted', 'out_of_scope')"
NEW_STATUSES = "status IN ('active', 'sf_deleted', 'out_of_scope', 'released')"
OLD_STATUS_COMMENT = "active | sf_deleted (record deleted in Salesforce) | out_of_scope (left its list view)."
NEW_STATUS_COMMENT = (
    "active | sf_deleted (record deleted in Salesforce) | out_of_scope (left its list view) | "
    "released (its record moved to another number; sf_id is NULL)."
)
OLD_SF_ID_COMMENT = "Salesforce record Id (18 characters)."
NEW_SF_ID_COMMENT = "Salesforce record Id (18 characters); NULL once released (migration 0005)."
OLD_ACTION_COMMENT = (
    "created | updated | deleted | linked | unlinked | failed | skipped | invalid | duplicate | conflict "
    "| unchanged."
)
NEW_ACTION_COMMENT = (
    "created | updated | deleted | linked | unlinked | failed | skipped | invalid | duplicate | conflict "
    "| unchanged | waiting_retry."
)


def upgrade() -> None:
    with op.batch_alter_table("hm_sync_link") as batch:
        batch.drop_constraint(op.f("ck_hm_sync_link_status"), type_="check")
        batch.alter_column("sf_id", existing_type=sa.String(18), nullable=True,
                           comment=NEW_SF_ID_COMMENT, existing_comment=OLD_SF_ID_COMMENT)
        batch.alter_column("status", existing_type=sa.String(16), existing_nullable=False,
                           existing_server_default="active", comment=NEW_STATUS_COMMENT,
                           existing_comment=OLD_STATUS_COMMENT)
        batch.create_check_constraint(op.f("ck_hm_sync_link_status"), NEW_STATUSES)
    with op.batch_alter_table("hm_sync_run_count") as batch:
        batch.alter_column("action", existing_type=sa.String(16), existing_nullable=False,
                           comment=NEW_ACTION_COMMENT, existing_comment=OLD_ACTION_COMMENT)


def downgrade() -> None:
    # Released rows have no record: the old schema cannot hold them. Their memory is dropped (the only
    # consequence: such a contact may be auto-created into Salesforce by the older code).
    op.execute(sa.text("DELETE FROM hm_sync_link WHERE status = 'released' OR sf_id IS NULL"))
    with op.batch_alter_table("hm_sync_run_count") as batch:
        batch.alter_column("action", existing_type=sa.String(16), existing_nullable=False,
                           comment=OLD_ACTION_COMMENT, existing_comment=NEW_ACTION_COMMENT)
    with op.batch_alter_table("hm_sync_link") as batch:
        batch.drop_constraint(op.f("ck_hm_sync_link_status"), type_="check")
        batch.alter_column("status", existing_type=sa.String(16), existing_nullable=False,
                           existing_server_default="active", comment=OLD_STATUS_COMMENT,
                           existing_comment=NEW_STATUS_COMMENT)
        batch.alter_column("sf_id", existing_type=sa.String(18), nullable=False,
                           comment=OLD_SF_ID_COMMENT, existing_comment=NEW_SF_ID_COMMENT)
        batch.create_check_constraint(op.f("ck_hm_sync_link_status"), OLD_STATUSES)
