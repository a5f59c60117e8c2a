"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time zone type and no JSONB; these decorators hide that so the rest of the store only
ever sees timezone-aware UTC datetimes and plain Python JSON values, whatever the backend.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

#: JSON everywhere, JSONB on PostgreSQL so analysts can index and query into it.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")

#: Surrogate keys: BIGINT on PostgreSQL; SQLite only auto-increments a column declared ``INTEGER``.
BigIntPK: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """``timestamptz`` on PostgreSQL, UTC text on SQLite; always timezone-aware UTC in Python.

    Naive datetimes are refused instead of guessed: a watermark read as local time would silently
    skip or repeat records, which is far worse than an error at the call site.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        to_pydatetime = getattr(value, "to_pydatetime", None)
        if to_pydatetime is not None:  # pandas.Timestamp: hand the driver a plain datetime
            value = to_pydatetime()
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                "naive datetime given to the state store; pass a timezone-aware value, "
                "e.g. datetime.now(UTC) or pandas.Timestamp(..., tz='UTC')"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # Stored as naive UTC text so that text comparison in SQL equals time comparison.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
