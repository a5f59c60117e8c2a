"""API answers reused within their validity: ``hm_sync_api_cache``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

A run that changes nothing used to pay 14 API calls, half of them for answers that had not changed since the
last run (each object's describe, the org's limits, Heymarket's inboxes and contact fields). Preflight keeps
them here with the time they were read and reads them again only when they are older than their validity
(``sync_engine.api_cache``). Metadata and counts only, never contact data.

Frozen like 0001: plain column types, no import of ``models.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hm_sync_api_cache",
        sa.Column("key", sa.String(64), nullable=False, comment="What was read, e.g. salesforce.describe.Contact."),
        sa.Column("value", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False,
                  comment="The answer as JSON (metadata or counts only)."),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False, comment="When the API answered it."),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_hm_sync_api_cache")),
        comment="API answers reused within their validity (metadata and limits, no contact data).",
    )


def downgrade() -> None:
    op.drop_table("hm_sync_api_cache")
