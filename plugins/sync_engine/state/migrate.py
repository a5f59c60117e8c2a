"""Alembic, configured in code: no ``alembic.ini`` is needed, from a checkout or an installed package.

Command line, for operators and developers::

    python -m sync_engine.state.migrate upgrade  sqlite:///state.db   # create / upgrade to head
    python -m sync_engine.state.migrate current  sqlite:///state.db
    python -m sync_engine.state.migrate downgrade sqlite:///state.db --revision base
    python -m sync_engine.state.migrate revision sqlite:///state.db -m "add x"   # autogenerate

Upgrades take a database-wide lock first (``BEGIN IMMEDIATE`` on SQLite, an advisory transaction
lock on PostgreSQL), so several workers may call it at the same time: one migrates, the others wait
and then find nothing to do.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from sync_engine.state.engine import make_engine, write_transaction

#: Alembic bookkeeping table; not ``alembic_version`` so the store can share a database with Airflow.
VERSION_TABLE = "hm_sync_alembic_version"
#: Key of the PostgreSQL advisory lock that serialises migrations (any fixed 64-bit number).
_PG_MIGRATION_LOCK_KEY = 0x686D5F73796E63  # "hm_sync"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config pointing at this package's migrations.

    :param url: database URL, used by ``env.py`` when no connection is passed (e.g. offline SQL).
    :param connection: an open connection to run on; it joins that connection's transaction.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_table", VERSION_TABLE)
    if url is not None:
        # ConfigParser interpolation would choke on '%' in URL-encoded passwords.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, ``None`` for an empty (never migrated) database."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def _serialise_migrations(conn: Connection) -> None:
    """Wait for any other migration in progress (SQLite: BEGIN IMMEDIATE already did)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY})


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema in one transaction, serialised against concurrent callers."""
    with write_transaction(engine) as conn:
        _serialise_migrations(conn)
        command.upgrade(alembic_config(connection=conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the schema (``"base"`` drops every table of the store)."""
    with write_transaction(engine) as conn:
        _serialise_migrations(conn)
        command.downgrade(alembic_config(connection=conn), revision)


def main(argv: list[str] | None = None) -> None:
    """Command line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m sync_engine.state.migrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["upgrade", "downgrade", "current", "heads", "revision"])
    parser.add_argument("url", help="SQLAlchemy URL of the state store")
    parser.add_argument("--revision", default=None, help="target revision (upgrade: head, downgrade: -1)")
    parser.add_argument("-m", "--message", default="change", help="message of a new revision")
    args = parser.parse_args(argv)

    engine = make_engine(args.url)
    try:
        if args.action == "upgrade":
            upgrade(engine, args.revision or "head")
        elif args.action == "downgrade":
            downgrade(engine, args.revision or "-1")
        elif args.action == "heads":
            print(head_revision())
        elif args.action == "revision":
            command.revision(alembic_config(url=args.url), message=args.message, autogenerate=True)
        print(f"database at revision {current_revision(engine)} (head {head_revision()})")
    finally:
        engine.dispose()


if __name__ == "__main__":  # pragma: no cover
    main()
