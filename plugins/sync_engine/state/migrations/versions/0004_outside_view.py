"""Phones of Salesforce records outside a list view, kept between full comparisons.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

With ``scope: list_view`` and auto-create on, the plan must know every phone Salesforce holds before it
creates a record for a Heymarket contact nobody claimed. A full comparison reads them; an incremental run
reads only changed records, so it takes the others from this table (kept up to date by both kinds of
run) instead of creating a second record for an unchanged one outside the view.

Frozen like 0001: plain column types, no import of ``models.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hm_sync_outside_view",
        sa.Column("object", sa.String(16), nullable=False, comment="Salesforce object: Contact or Lead."),
        sa.Column("sf_id", sa.String(18), nullable=False, comment="Salesforce record Id (18 characters)."),
        sa.Column(
            "list_view",
            sa.String(80),
            nullable=False,
            comment="The list view (id or developer name, as configured) the record was outside of.",
        ),
        sa.Column("phone_raw", sa.Text(), nullable=False, comment="The record's phone field as stored."),
        sa.Column(
            "modstamp",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="The record's SystemModstamp when it was read.",
        ),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), nullable=False, comment="When a sync run last wrote this row."
        ),
        sa.CheckConstraint("object IN ('Contact', 'Lead')", name=op.f("ck_hm_sync_outside_view_object")),
        sa.PrimaryKeyConstraint("object", "sf_id", name=op.f("pk_hm_sync_outside_view")),
        comment="Salesforce records outside the configured list view that have a phone (list-view scope only).",
    )
    op.create_table(
        "hm_sync_outside_view_scan",
        sa.Column("object", sa.String(16), nullable=False, comment="Salesforce object: Contact or Lead."),
        sa.Column(
            "list_view",
            sa.String(80),
            nullable=False,
            comment="The list view whose outside records hm_sync_outside_view holds for this object.",
        ),
        sa.Column(
            "scanned_at", sa.DateTime(timezone=True), nullable=False, comment="When every record was last read."
        ),
        sa.Column("run_id", sa.String(250), nullable=True, comment="Airflow run id of the run that read them."),
        sa.CheckConstraint("object IN ('Contact', 'Lead')", name=op.f("ck_hm_sync_outside_view_scan_object")),
        sa.PrimaryKeyConstraint("object", name=op.f("pk_hm_sync_outside_view_scan")),
        comment="Per object, the list view and time of the last full read of the records outside it.",
    )


def downgrade() -> None:
    op.drop_table("hm_sync_outside_view_scan")
    op.drop_table("hm_sync_outside_view")
