"""The tests' own phone reading, independent of the sync's (``sync_engine.phones``): an oracle must not share
the code it checks. Plain ``phonenumbers``, region US, as the test data are written."""

from __future__ import annotations

import phonenumbers


def e164_digits(raw: object) -> str | None:
    """E.164 digits without ``+`` of a valid number, else None (empty, unparsable or invalid)."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
