"""Salesforce record ids: 15-character case-sensitive ids, their 18-character form, and key prefixes.

Clients keep ids in link tables and compare them, so the emulator makes ids exactly like the real
ones: a 3-character key prefix naming the object, 12 base-62 characters, and the 3-character
case-folding checksum that turns the 15-character id into the 18-character one the REST API returns.
"""

from __future__ import annotations

import functools
import re
import time

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-5]{3})?$")

#: the pod/instance part of every id this emulator makes ("5g" is a real-looking instance, "0" reserved)
_INSTANCE = "5g0"


_UPPER_TO_1 = str.maketrans({c: "1" if "A" <= c <= "Z" else "0" for c in _BASE62})


def checksum_suffix(id15: str) -> str:
    """The 3 characters that make a 15-character id case-insensitively unique.

    Each 5-character chunk gives one character: bit *i* is set when character *i* is upper case.

    :param id15: a 15-character id.
    """
    flags = id15.translate(_UPPER_TO_1)
    return "".join(_CHECKSUM_CHARS[int(flags[i : i + 5][::-1], 2)] for i in (0, 5, 10))


def to18(value: str) -> str:
    """Normalise a 15- or 18-character id to 18 characters (the REST API always answers with 18).

    :param value: an id as a client may send it.
    :raises ValueError: when *value* is not shaped like an id.
    """
    if not looks_like_id(value):
        raise ValueError(f"invalid id: {value!r}")
    if len(value) == 18:
        # The suffix records which of the first 15 characters are upper case, so an id that went
        # through a case-insensitive system (e.g. a spreadsheet) is restored exactly.
        restored = []
        for chunk in range(3):
            bits = _CHECKSUM_CHARS.index(value[15 + chunk].upper())
            for pos, char in enumerate(value[chunk * 5 : chunk * 5 + 5]):
                restored.append(char.upper() if bits & (1 << pos) else char.lower())
        id15 = "".join(restored)
        return id15 + checksum_suffix(id15)
    return value + checksum_suffix(value)


def looks_like_id(value: object) -> bool:
    """True for strings shaped like a Salesforce id (any prefix)."""
    return isinstance(value, str) and bool(_ID_RE.match(value))


_PAIRS = [a + b for a in _BASE62 for b in _BASE62]


@functools.lru_cache(maxsize=4096)
def _base62_high(number: int) -> str:
    chars = []
    while number:
        number, rem = divmod(number, 62)
        chars.append(_BASE62[rem])
    return "".join(reversed(chars))


def _base62(number: int, width: int) -> str:
    """*number* in base 62, zero-padded; the high digits are cached because ids are made in sequence."""
    high, low = divmod(number, 3844)
    return (_base62_high(high) + _PAIRS[low]).rjust(width, "0")[-width:]


class IdFactory:
    """Makes new 18-character ids, never repeating one within a process (even across resets).

    The counter starts at the current time in microseconds so that an emulator restarted or reset
    while a client still remembers old ids does not hand the same ids to different records.
    """

    def __init__(self) -> None:
        self._counter = time.time_ns() // 1000

    def new(self, key_prefix: str) -> str:
        """A fresh 18-character id with *key_prefix* (e.g. ``003`` for Contact)."""
        self._counter += 1
        id15 = key_prefix + _INSTANCE + _base62(self._counter, 9)
        return id15 + checksum_suffix(id15)
