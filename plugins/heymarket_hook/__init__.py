"""Heymarket REST API hook for Airflow.

Kept import-light on purpose: Airflow imports :mod:`heymarket_hook.provider_info` while it loads its
own configuration, which imports this package first. Importing the hook here would import Airflow
from inside Airflow's start-up, so the public names are resolved lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from heymarket_hook.hook import BatchResult, BulkResult, ContactRejection, HeymarketHook

__all__ = ["BatchResult", "BulkResult", "ContactRejection", "HeymarketHook"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from heymarket_hook import hook

        return getattr(hook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
