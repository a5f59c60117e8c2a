"""The user mapping the ``heymarket_setup`` DAG applied: Salesforce user -> Heymarket user (ids only).

The table holds the mapping as last applied, so a new mapping replaces the old one whole: users who are no
longer mapped lose their row. Names and e-mails stay out (they are in the run folder's artifact only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from sync_engine.state.models import SyncUserMap, table_of

_table = table_of(SyncUserMap)
#: The columns a mapping row gives; any other key of the row (names, e-mails) is not stored.
USER_MAP_COLUMNS = ("sf_user_id", "hm_user_id", "source", "permission_set", "assignment_id")


def replace_user_map(
    conn: Connection, rows: Iterable[Mapping[str, object]], run_id: str | None, now: datetime
) -> int:
    """Make the stored mapping exactly *rows*; returns how many rows are stored now."""
    values = [
        {**{column: row.get(column) for column in USER_MAP_COLUMNS}, "updated_at": now, "run_id": run_id}
        for row in rows
    ]
    conn.execute(delete(_table))
    if values:
        conn.execute(insert(_table), values)
    return len(values)


def load_user_map(conn: Connection) -> list[dict[str, object]]:
    """The stored mapping, by Salesforce user id."""
    return [dict(row) for row in conn.execute(select(_table).order_by(_table.c.sf_user_id)).mappings()]
