"""Alembic migrations of the sync state store (a package so that it ships with the wheel)."""
