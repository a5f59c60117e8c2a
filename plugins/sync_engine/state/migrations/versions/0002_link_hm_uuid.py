"""Link table remembers the Heymarket contact UUID (the v2 endpoints' contact_id).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: pairs made before this revision learn their UUID on their next sync.
    with op.batch_alter_table("hm_sync_link") as batch:
        batch.add_column(
            sa.Column("hm_uuid", sa.String(36), nullable=True,
                      comment="Heymarket contact UUID (v2 contact_id), when known.")
        )
    # A plain unique index: NULLs never collide, on SQLite and PostgreSQL alike.
    op.create_index(op.f("ix_hm_sync_link_hm_uuid"), "hm_sync_link", ["hm_uuid"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_hm_sync_link_hm_uuid"), table_name="hm_sync_link")
    with op.batch_alter_table("hm_sync_link") as batch:
        batch.drop_column("hm_uuid")
