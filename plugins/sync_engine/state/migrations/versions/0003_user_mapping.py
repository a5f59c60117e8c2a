"""User mapping: which Salesforce user acts as which Heymarket user (written by ``heymarket_setup``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

The managed package kept this mapping in its own Salesforce object; here it lives in the state store so
the sync (and analysts) can look a Salesforce owner up as a Heymarket user. Ids only: names and e-mails
stay in Salesforce and Heymarket (and in the setup run's report artifact).

Frozen like 0001: plain column types, no import of ``models.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hm_sync_user_map",
        sa.Column("sf_user_id", sa.String(18), nullable=False, comment="Salesforce User Id (18 characters)."),
        sa.Column("hm_user_id", sa.BigInteger(), nullable=False, comment="Heymarket team member (user) id."),
        sa.Column(
            "source",
            sa.String(16),
            nullable=False,
            comment="email (same e-mail on both sides) | override (setup.user_mapping in the config).",
        ),
        sa.Column(
            "permission_set",
            sa.String(80),
            nullable=True,
            comment="API name of the Salesforce permission set the user was given, when known.",
        ),
        sa.Column(
            "assignment_id",
            sa.String(18),
            nullable=True,
            comment="PermissionSetAssignment Id, when this setup run created or found it.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the setup run that wrote this row ran.",
        ),
        sa.Column(
            "run_id", sa.String(250), nullable=True, comment="Airflow run id of that heymarket_setup run."
        ),
        sa.CheckConstraint("source IN ('email', 'override')", name=op.f("ck_hm_sync_user_map_source")),
        sa.PrimaryKeyConstraint("sf_user_id", name=op.f("pk_hm_sync_user_map")),
        comment="Salesforce user -> Heymarket user, as last applied by the heymarket_setup DAG.",
    )
    op.create_index(op.f("ix_hm_sync_user_map_hm_user_id"), "hm_sync_user_map", ["hm_user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_hm_sync_user_map_hm_user_id"), table_name="hm_sync_user_map")
    op.drop_table("hm_sync_user_map")
