"""Which API answers a run may take from the last run instead of asking again, and for how long.

A run that changes nothing used to spend most of its API calls on answers that had not changed since the
previous run: each object's describe, the org's limits, Heymarket's inboxes and contact fields (issue 14).
Preflight now reads them through :class:`ApiCache`, which keeps them in the state store with the time they
were read and asks the API again only when they are older than their validity below. A run that finds an
answer stale re-reads it and so keeps the cache warm for the next one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast

T = TypeVar("T")

#: An object's describe: fields change when an admin edits the org, rarely; the daily full comparison and an
#: incremental run at least once a day re-read it, and a missing field fails the extract with a clear error.
DESCRIBE_VALID = dt.timedelta(hours=24)
#: Heymarket's inboxes (only id and name are kept) and custom contact fields: set up once, rarely changed.
HEYMARKET_METADATA_VALID = dt.timedelta(hours=1)
#: The org's daily API budget: a rolling 24 h window shared with other integrations. ``/limits`` itself is only
#: refreshed by Salesforce every few minutes; a cached reading is trusted this long, and only while it leaves
#: at least twice the configured reserve (:func:`budget_still_valid`).
LIMITS_VALID = dt.timedelta(minutes=15)


def describe_key(object_name: str) -> str:
    return f"salesforce.describe.{object_name}"


LIMITS_KEY = "salesforce.limits"
INBOXES_KEY = "heymarket.inboxes"
CONTACT_FIELDS_KEY = "heymarket.contact_fields"


class BudgetReading(Protocol):
    """The daily API budget as a client read it (``salesforce_access.budget.ApiBudget``)."""

    @property
    def used(self) -> int: ...

    @property
    def max(self) -> int: ...


class CacheStore(Protocol):
    """The state store's two cache methods."""

    def get_cached(self, key: str) -> tuple[object, dt.datetime] | None: ...

    def put_cached(self, key: str, value: object) -> None: ...


@dataclass
class ApiCache:
    """Answers from the state store while valid, else from the API (then stored).

    :param open_store: opens the state store on first use (a run whose connections fail never opens it).
    :param now: the clock (tests move it).
    """

    open_store: Callable[[], CacheStore]
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    _store: CacheStore | None = None

    @property
    def store(self) -> CacheStore:
        if self._store is None:
            self._store = self.open_store()
        return self._store

    def fetch(self, key: str, valid_for: dt.timedelta, read: Callable[[], T],
              still_valid: Callable[[object], bool] = lambda _: True) -> T:
        """The answer under *key* if it is younger than *valid_for* and *still_valid*; otherwise *read* it now.

        *read* must return plain JSON (it is stored as such); what comes from the cache is that JSON.
        """
        cached = self.store.get_cached(key)
        if cached is not None:
            value, fetched_at = cached
            if self.now() - fetched_at < valid_for and still_valid(value):
                return cast(T, value)  # stored by this method from a T
        fresh = read()
        self.store.put_cached(key, fresh)
        return fresh


def budget_still_valid(min_remaining: int) -> Callable[[object], bool]:
    """A cached ``{"used": .., "max": ..}`` reading is trusted only while it leaves twice the reserve: close to
    the reserve, the budget is read again so that the guard decides on a fresh number."""

    def check(value: object) -> bool:
        if not isinstance(value, dict):
            return False
        try:
            return int(value["max"]) - int(value["used"]) >= 2 * min_remaining
        except (KeyError, TypeError, ValueError):
            return False

    return check
