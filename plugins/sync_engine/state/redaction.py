"""Keep secrets and personal data out of the history tables.

Run parameters can carry a token someone pasted into the trigger form, and API error texts often echo
the rejected value (a phone number or an e-mail). Both are stored for analysts, so both are cleaned
here before they reach the database.

Error texts echo more than whole values: Salesforce's ``STRING_TOO_LONG`` quotes the first 40 characters of
the value (``Last Name: data value too large: <first 40 characters> (max length=80)``), and a message may
name the record (``duplicate of Jane Doe``) although the write never sent the name. So a message is
scrubbed of every value the run holds for the record (sent or not), of any prefix of one that it echoes
(:data:`MIN_ECHO` characters or more), and of every word of one (a first or last name alone), before phones
and e-mails are masked and the text is cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

REDACTED = "***"
_MASK = "<redacted>"
#: What a value (or a part of one) of the record becomes in an error text.
VALUE_MASK = "<value>"
#: The shortest echoed prefix of a value that is masked (shorter ones are caught as words, if they are words).
MIN_ECHO = 4
#: The shortest word of a value masked wherever it stands alone (a first name, a last name, a city).
MIN_WORD = 3
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")

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


def scrub_values(message: str, values: Iterable[object]) -> str:
    """*message* without any of *values*, any echoed prefix of one, or any word of one (case-insensitive).

    :param values: everything the run holds for the record: the values sent, the values last synced, names.
    """
    texts = sorted({str(v).strip() for v in values if v is not None and len(str(v).strip()) >= 2}, key=len,
                   reverse=True)
    for value in texts:
        message = _without_prefixes(message, value)
    words = sorted({w for value in texts for w in _WORD.findall(value) if len(w) >= MIN_WORD}, key=len, reverse=True)
    for word in words:
        message = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", VALUE_MASK, message, flags=re.IGNORECASE)
    return message


def _without_prefixes(message: str, value: str) -> str:
    """Mask *value* and, longest first, every prefix of it of at least :data:`MIN_ECHO` characters in *message*
    (inside other text too: an echo may be glued to the API's punctuation)."""
    for length in range(len(value), MIN_ECHO - 1, -1):  # a shorter value is masked as a word only
        prefix = value[:length].strip()
        if len(prefix) >= MIN_ECHO and prefix.casefold() in message.casefold():
            message = re.sub(re.escape(prefix), VALUE_MASK, message, flags=re.IGNORECASE)
    return message


def scrub_message(message: str | None, limit: int, values: Iterable[object] = ()) -> str | None:
    """Error text without the record's *values* (:func:`scrub_values`), e-mails or phone numbers, cut to
    ``limit`` characters."""
    if message is None:
        return None
    text = _PHONE.sub(_MASK, _EMAIL.sub(_MASK, scrub_values(str(message), values))).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text or None
