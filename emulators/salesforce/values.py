"""Converting field values between the wire (JSON, CSV, SOQL) and what the store keeps.

The store keeps Python values (``datetime`` in UTC with millisecond precision, ``date``, ``bool``,
``float``/``int``, ``str``); everything that crosses the wire is converted here, with the error a
real org gives for a value of the wrong shape.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from emulators.salesforce import ids
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.fields import FieldDef

UTC = dt.UTC
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def now() -> dt.datetime:
    """The current time as the store keeps times: UTC, millisecond precision."""
    return truncate_ms(dt.datetime.now(UTC))


def truncate_ms(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def parse_datetime(text: str) -> dt.datetime:
    """Parse the ISO-8601 forms Salesforce accepts (``Z``, ``+0000``, ``+00:00`` or no offset = UTC).

    :raises ValueError: when *text* is not a datetime.
    """
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return truncate_ms(value.astimezone(UTC))


def format_datetime(value: dt.datetime) -> str:
    """``2024-05-01T12:00:00.000+0000``, the REST API's datetime format (*value* is in UTC)."""
    return value.isoformat(timespec="milliseconds")[:23] + "+0000"


def format_datetime_csv(value: dt.datetime) -> str:
    """``2024-05-01T12:00:00.000Z``, the Bulk API's CSV datetime format (*value* is in UTC)."""
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def to_json(fdef: FieldDef, value: Any) -> Any:
    """A stored value as the REST API returns it."""
    if value is None:
        return None
    kind = fdef.kind
    if kind == "datetime":
        return format_datetime(value)
    if kind == "date":
        return value.isoformat()
    return value


def to_csv(fdef: FieldDef, value: Any) -> str:
    """A stored value as Bulk API 2.0 CSV writes it (null is the empty string)."""
    if value is None:
        return ""
    kind = fdef.kind
    if kind == "datetime":
        return format_datetime_csv(value)
    if kind == "date":
        return value.isoformat()
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "address":
        return json.dumps(value)
    return str(value)


def to_display(fdef: FieldDef, value: Any) -> str | None:
    """A stored value as list view ``results`` shows it (every value a string)."""
    if value is None:
        return None
    if fdef.kind == "datetime":
        return value.strftime("%a %b %d %H:%M:%S GMT %Y")
    return to_csv(fdef, value)


def _json_token(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_STRING"


def _cannot_deserialize(type_name: str, value: Any) -> SalesforceError:
    shown = value if not isinstance(value, (dict, list)) else json.dumps(value)[:40]
    return SalesforceError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {type_name} from {_json_token(value)} value {shown} "
        "or request may be missing a required field at [line:1, column:1]",
    )


def coerce(fdef: FieldDef, value: Any, *, from_csv: bool = False) -> Any:
    """Convert a value a client wrote into the stored form, validating it like the real API.

    :param fdef: the field written.
    :param value: the JSON (or CSV text) value.
    :param from_csv: the value came from Bulk CSV, where every value is text.
    :raises SalesforceError: ``JSON_PARSER_ERROR``, ``STRING_TOO_LONG``, ``INVALID_EMAIL_ADDRESS``,
        ``MALFORMED_ID`` as a real org answers.
    """
    kind = fdef.kind
    if value is None:
        return False if kind == "boolean" else None
    if kind == "string":
        return _coerce_string(fdef, value)
    if kind == "id":
        return _coerce_id(fdef, value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise _cannot_deserialize("boolean", value)
    if kind in ("int", "double"):
        return _coerce_number(fdef, value)
    if kind == "date":
        if isinstance(value, str) and _DATE_RE.match(value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        if from_csv and isinstance(value, str):
            try:
                return parse_datetime(value).date()
            except ValueError:
                pass
        raise _cannot_deserialize("date", value)
    if kind == "datetime":
        if isinstance(value, str):
            try:
                return parse_datetime(value)
            except ValueError:
                pass
        raise _cannot_deserialize("datetime", value)
    raise SalesforceError(
        400,
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {fdef.name}. Please check the security settings "
        "of this field and verify that it is read/write for your profile or permission set.",
        [fdef.name],
    )


def _coerce_string(fdef: FieldDef, value: Any) -> str | None:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise _cannot_deserialize("string", value)
    if text == "":
        return None  # Salesforce stores empty text as null
    if fdef.length and len(text) > fdef.length:
        raise SalesforceError(
            400,
            "STRING_TOO_LONG",
            f"{fdef.label}: data value too large: {text[:40]} (max length={fdef.length})",
            [fdef.name],
        )
    if fdef.type == "email" and not _EMAIL_RE.match(text):
        raise SalesforceError(
            400, "INVALID_EMAIL_ADDRESS", f"{fdef.label}: invalid email address: {text}", [fdef.name]
        )
    return text


def _coerce_id(fdef: FieldDef, value: Any) -> str | None:
    if value == "":
        return None
    if not ids.looks_like_id(value):
        raise SalesforceError(
            400, "MALFORMED_ID", f"{fdef.label}: id value of incorrect type: {value}", [fdef.name]
        )
    return ids.to18(value)


def _coerce_number(fdef: FieldDef, value: Any) -> int | float | None:
    if isinstance(value, bool):
        raise _cannot_deserialize("double" if fdef.kind == "double" else "int", value)
    if isinstance(value, str):
        if value.strip() == "":
            return None
        try:
            value = float(value) if fdef.kind == "double" or "." in value else int(value)
        except ValueError:
            raise _cannot_deserialize(fdef.kind, value) from None
    if not isinstance(value, (int, float)):
        raise _cannot_deserialize(fdef.kind, value)
    if fdef.kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise _cannot_deserialize("int", value)
        return int(value)
    return float(value)
