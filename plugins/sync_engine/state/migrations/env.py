"""Alembic environment of the state store, configured from code (see ``sync_engine.state.migrate``).

Runs on the connection passed in ``config.attributes["connection"]`` (joining its transaction), or
else opens the URL in the ``sqlalchemy.url`` option.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from sync_engine.state.engine import make_engine
from sync_engine.state.migrate import VERSION_TABLE
from sync_engine.state.models import Base

target_metadata = Base.metadata


def _in_alembic() -> bool:
    """True when Alembic runs this file (not a stray import, e.g. by a plugin scanner)."""
    return hasattr(context, "config")


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass a connection or set sqlalchemy.url in the Alembic config")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if _in_alembic():  # a stray import (e.g. a plugin scanner) must not touch any database
    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()
