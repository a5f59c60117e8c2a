"""Small SQL building blocks shared by the store's modules: upserts and chunked IN lists."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, Connection, Table, bindparam, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite

from sync_engine.state.exceptions import UnsupportedDatabase

#: Bound parameters per IN list; well under SQLite's limit of 32,766 variables per statement.
IN_CHUNK = 5_000
#: Rows per executemany call of an upsert; bounds memory and lock time per round trip.
UPSERT_CHUNK = 10_000

_T = TypeVar("_T")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind of time the store handles)."""
    return datetime.now(UTC)


def chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` with ``ON CONFLICT`` support for the connection's backend.

    Both SQLite (3.24+) and PostgreSQL spell upserts the same way, so one statement shape serves
    both, and executemany batches it (no per-row round trips on PostgreSQL thanks to SQLAlchemy's
    insertmanyvalues).
    """
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise UnsupportedDatabase(f"upserts are not implemented for {name!r}; use SQLite or PostgreSQL")


def bulk_upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, object]],
    *,
    conflict: Sequence[str],
    update: Sequence[str] = (),
    update_expressions: Mapping[str, ColumnElement[object]] | None = None,
    conflict_where: ColumnElement[bool] | None = None,
) -> None:
    """Insert ``rows`` (all with the same keys), updating rows whose ``conflict`` key exists.

    :param update: columns to overwrite with the incoming value on conflict.
    :param update_expressions: further ``column -> SQL expression`` assignments on conflict
        (e.g. ``attempts + 1``).
    :param conflict_where: predicate of a partial unique index that is the conflict target.

    SQLite gets one ``executemany`` per chunk (the sqlite3 module loops in C). PostgreSQL gets one
    ``INSERT .. SELECT FROM unnest(<one array per column>) .. ON CONFLICT`` statement per chunk of
    ``UPSERT_CHUNK`` rows: psycopg2's executemany would make a round trip per row (~20 s for 100,000
    rows), the unnest form makes ten for the same rows.
    """
    if not rows:
        return
    columns = list(rows[0])
    if conn.dialect.name == "postgresql":
        _pg_unnest_upsert(conn, table, rows, columns, conflict, update, update_expressions, conflict_where)
        return
    stmt = dialect_insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(conflict),
        index_where=conflict_where,
        set_={**{name: stmt.excluded[name] for name in update}, **(update_expressions or {})},
    )
    for part in chunks(rows, UPSERT_CHUNK):
        conn.execute(stmt, list(part))


def _pg_unnest_upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, object]],
    columns: list[str],
    conflict: Sequence[str],
    update: Sequence[str],
    update_expressions: Mapping[str, ColumnElement[object]] | None,
    conflict_where: ColumnElement[bool] | None,
) -> None:
    # Each column's values travel as one typed array; ARRAY applies the column type's own bind
    # processing (JSON serialisation, UTC conversion) to every element.
    arrays = [cast(bindparam(f"arr_{name}", type_=postgresql.ARRAY(table.c[name].type)),
                   postgresql.ARRAY(table.c[name].type)) for name in columns]
    source = func.unnest(*arrays).table_valued(*columns).render_derived(name="incoming")
    stmt = postgresql.insert(table).from_select(columns, select(*(source.c[name] for name in columns)))
    stmt = stmt.on_conflict_do_update(
        index_elements=list(conflict),
        index_where=conflict_where,
        set_={**{name: stmt.excluded[name] for name in update}, **(update_expressions or {})},
    )
    for part in chunks(rows, UPSERT_CHUNK):
        conn.execute(stmt, {f"arr_{name}": [row[name] for row in part] for name in columns})


def unique_in_order(values: Iterable[_T]) -> list[_T]:
    """Values without duplicates, first occurrence kept, order preserved."""
    return list(dict.fromkeys(values))
