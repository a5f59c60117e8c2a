"""Errors of the state store. Each message says what is wrong and how to fix it."""

from __future__ import annotations


class StateStoreError(Exception):
    """Base class of every state store error."""


class UnsupportedDatabase(StateStoreError):
    """The URL names a database the store cannot use (it needs SQLite or PostgreSQL upserts)."""


class SchemaNotCurrent(StateStoreError):
    """The database schema is older (or newer) than this code expects."""


class UnknownRun(StateStoreError, KeyError):
    """A run id that has no ``hm_sync_run`` row (``start_run`` was not called for it)."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""
