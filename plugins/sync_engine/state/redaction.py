"""Keep secrets and personal data out of the history tables.

Run parameters can carry a token someone pasted into the trigger form, and API error texts often echo
the rejected value (a phone number or an e-mail). Both are stored for analysts, so both are cleaned
here before they reach the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

REDACTED = "***"
_MASK = "<redacted>"

_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|apikey|auth|credential|private|jwt|bearer|session|cookie|"
    r"(^|[_-])key$",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# A run of 7+ digits, possibly with phone punctuation, not glued to letters (Salesforce ids are).
_PHONE = re.compile(r"(?<![\w])\+?\d[\d\s().-]{5,}\d(?![\w])")


def redact_params(params: Mapping[str, object]) -> dict[str, object]:
    """A JSON-safe copy of run parameters with secret-looking values replaced by ``***``.

    Nested mappings and lists are walked; values that JSON cannot hold become their ``str()``.
    """
    cleaned = _redact(dict(params))
    # Round trip through JSON so that whatever is returned can be stored in a JSON column.
    return json.loads(json.dumps(cleaned, default=str))


def _redact(value: object, key: str = "") -> object:
    if key and _SECRET_KEY.search(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_redact(v) for v in value]
    return value


def scrub_message(message: str | None, limit: int) -> str | None:
    """Error text without e-mails or phone numbers, cut to ``limit`` characters."""
    if message is None:
        return None
    text = _PHONE.sub(_MASK, _EMAIL.sub(_MASK, str(message))).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text or None
