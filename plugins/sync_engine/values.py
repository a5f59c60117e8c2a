"""One text form per value, so that the two systems' values compare equal when they mean the same thing.

The three-way diff compares Salesforce values, Heymarket values and the values remembered in the link
table. If one extractor produced ``"3.0"`` and the other ``"3"``, or ``""`` and ``None``, every run would
see a change that isn't one and write it back (an echo). Every extractor therefore passes every mapped
value through :func:`normalise_value`.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import numpy as np
import pandas as pd

__all__ = ["normalise_value", "normalise_series"]


def normalise_value(value: object) -> str | None:
    """The canonical text of one field value.

    ``None`` for null, NaN, NaT and empty or blank strings; strings stripped; booleans ``"true"`` /
    ``"false"``; integers and integral floats as plain digits (``3.0`` -> ``"3"``); other numbers as plain
    decimal text without exponent (``1e-7`` -> ``"0.0000001"``); dates and times as ISO 8601.

    :param value: a value as an API client or a DataFrame cell holds it.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return _float_text(float(value))
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    return str(value).strip() or None


def _float_text(number: float) -> str | None:
    if math.isnan(number):
        return None
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if number.is_integer():
        return str(int(number))
    # repr() is the shortest text that round-trips; Decimal then writes it without an exponent.
    return _decimal_text(Decimal(repr(number)))


def _decimal_text(number: Decimal) -> str | None:
    if number.is_nan():
        return None
    if number.is_infinite():
        return "inf" if number > 0 else "-inf"
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def normalise_series(values: pd.Series) -> pd.Series:
    """:func:`normalise_value` over a column, returned as object dtype holding ``str`` or ``None``.

    Text columns (the usual case) take a vectorised path: strip, then blank -> ``None``.

    :param values: one canonical column as read from an API or a file.
    """
    if values.dtype != object and pd.api.types.is_string_dtype(values.dtype):
        stripped = values.str.strip()
        keep = stripped.notna() & (stripped != "")
        return stripped.astype(object).where(keep, None)
    return pd.Series([normalise_value(v) for v in values], index=values.index, dtype=object)
