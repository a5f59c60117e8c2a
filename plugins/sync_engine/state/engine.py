"""Engine construction and transactions that behave well on both SQLite and PostgreSQL.

SQLite needs care to be a safe multi-process store: WAL so that readers never block the writer,
a busy timeout so that a second writer waits instead of failing, foreign keys switched on, and write
transactions opened with ``BEGIN IMMEDIATE`` so that a read-then-write transaction cannot fail
half-way with "database is locked" (SQLite does not wait when upgrading a read lock).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from sync_engine.state.exceptions import UnsupportedDatabase

#: How long a SQLite writer waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Execution option that marks a connection whose next transaction writes.
_WRITE_OPTION = "hm_sync_write"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def make_engine(url: str | URL) -> Engine:
    """Create the engine for a state store URL, with the SQLite hardening described above.

    :param url: SQLAlchemy URL, e.g. ``sqlite:////var/lib/hm_sync/state.db`` or
        ``postgresql+psycopg2://user@host/db``. The parent folder of a SQLite file is created.
    :raises UnsupportedDatabase: for backends other than SQLite and PostgreSQL, whose upsert
        statements the store relies on.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise UnsupportedDatabase(
            f"state store backend {backend!r} is not supported; use a sqlite:/// file or a "
            "postgresql:// database in the state store connection"
        )
    # Statement parameters are phone numbers and record values: keep them out of logs and of the text
    # of database errors (which end up in task logs).
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)

    in_memory = parsed.database in (None, "", ":memory:")
    if in_memory:
        # One shared connection, otherwise every pooled connection would see its own empty database.
        engine = create_engine(
            parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}, hide_parameters=True
        )
    else:
        Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, hide_parameters=True
        )
    _harden_sqlite(engine, wal=not in_memory)
    return engine


def _harden_sqlite(engine: Engine, *, wal: bool) -> None:
    """Install the connect/begin hooks that make pysqlite transactional and patient."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling defers it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction: committed on success, rolled back on any exception.

    On SQLite the transaction takes the write lock up front (``BEGIN IMMEDIATE``), waiting up to the
    busy timeout for another writer; on PostgreSQL it is an ordinary READ COMMITTED transaction.
    """
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            yield conn


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads; its implicit transaction gives one consistent snapshot and is rolled back."""
    with engine.connect() as conn:
        yield conn
