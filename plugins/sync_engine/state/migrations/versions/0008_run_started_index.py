"""The Sync history page reads runs newest first across both DAGs: an index on ``hm_sync_run.started_at``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

The existing index (``dag_id``, ``started_at``) serves one DAG's history; the page, its JSON API and its
exports read both DAGs' runs (``heymarket_sync`` and ``heymarket_sync_manual``) ordered by ``started_at`` and
``run_id``, filtered by a date range, and page through them (``LIMIT``/``OFFSET`` or a keyset on both
columns). Without this index PostgreSQL sorts the whole table on every page.

Frozen like 0001: plain names, no import of ``models.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_hm_sync_run_started_at_run_id"


def upgrade() -> None:
    op.create_index(INDEX, "hm_sync_run", ["started_at", "run_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="hm_sync_run")
