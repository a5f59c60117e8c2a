"""Salesforce record ids as people type them: checked, normalised to 18 characters, routed to their object.

A record id is 15 case-sensitive letters and digits, or those 15 plus a 3-character suffix that encodes which
of them are upper case (so the id survives tools that ignore case, such as spreadsheets). Salesforce refuses
a query whose ``Id IN (...)`` holds a malformed id as a whole ("invalid ID field"), so one mistyped id would
fail a run that syncs several records. :func:`check_record_ids` therefore checks every id on its own, before
any query, and says what is wrong with each in words, with an example of a good one.

The first three characters name the object (the *key prefix*). Contact and Lead have the same prefix in
every org (``003`` and ``00Q``), so an id can be sent to the right object's query and an id of any other
object (an Account, an Opportunity) is reported instead of being looked up in vain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: The suffix alphabet: character *n* of this string stands for the 5-bit number *n*.
CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
#: Key prefixes of the objects the sync handles (the same in every Salesforce org).
KEY_PREFIXES: Mapping[str, str] = {"003": "Contact", "00Q": "Lead"}
#: A well-formed Contact id, quoted in messages.
EXAMPLE_ID = "0035g00000AbCdEAAV"
_SHAPE = re.compile(r"^[A-Za-z0-9]+$")
_SEPARATORS = re.compile(r"[\s,;]+")


class RecordIdError(ValueError):
    """An id that cannot be a Salesforce record id; the message says why, in words, with an example."""


def checksum(id15: str) -> str:
    """The 3-character suffix of a 15-character id: bit *i* of chunk *k* says character *5k+i* is upper case."""
    out = []
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(id15[start:start + 5]) if "A" <= char <= "Z")
        out.append(CHECKSUM_CHARS[bits])
    return "".join(out)


def normalise_record_id(value: object) -> str:
    """The 18-character form of a record id typed or pasted by a person.

    A 15-character id gets its suffix. An 18-character id must have a suffix that fits its first 15
    characters; when those lost their case (all upper or all lower case letters), the suffix restores it.

    :raises RecordIdError: with a sentence that says what is wrong and what a good id looks like.
    """
    if not isinstance(value, str):
        raise RecordIdError(f"{value!r} is not text; give record ids as text, e.g. {EXAMPLE_ID}")
    text = value.strip()
    if not text:
        raise RecordIdError(f"an empty record id; give 15 or 18 letters and digits, e.g. {EXAMPLE_ID}")
    if not _SHAPE.match(text):
        raise RecordIdError(f"'{text}' holds characters other than letters and digits; a record id is 15 or 18 "
                            f"letters and digits, e.g. {EXAMPLE_ID} (copy it from the record's address bar)")
    if len(text) not in (15, 18):
        raise RecordIdError(f"'{text}' has {len(text)} characters; a record id has 15 or 18, e.g. {EXAMPLE_ID}")
    if len(text) == 15:
        return text + checksum(text)
    id15, suffix = text[:15], text[15:].upper()
    if any(char not in CHECKSUM_CHARS for char in suffix):
        raise RecordIdError(f"'{text}' is not a valid 18-character id: its last 3 characters can only be letters "
                            f"or the digits 0-5 (a character was mistyped); copy the id again, e.g. {EXAMPLE_ID}")
    if checksum(id15) == suffix:
        return id15 + suffix
    letters = [char for char in id15 if char.isalpha()]
    if letters and (all(c.isupper() for c in letters) or all(c.islower() for c in letters)):
        restored = _restore_case(id15, suffix)
        if restored is not None:
            return restored + suffix
    raise RecordIdError(f"'{text}' is not a valid 18-character id: its last 3 characters ({text[15:]}) do not "
                        f"match the first 15 (expected {checksum(id15)}), so a character was changed or lost; "
                        f"copy the id again from the record, e.g. {EXAMPLE_ID}")


def _restore_case(id15: str, suffix: str) -> str | None:
    """The first 15 characters with the case the suffix records; ``None`` when the suffix marks a digit."""
    restored = []
    for chunk, char in enumerate(suffix):
        bits = CHECKSUM_CHARS.index(char)
        for position, original in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            upper = bool(bits & (1 << position))
            if upper and not original.isalpha():
                return None
            restored.append(original.upper() if upper else original.lower())
    return "".join(restored)


def record_object(record_id: str) -> str | None:
    """``Contact`` or ``Lead`` from the id's key prefix, ``None`` for any other object."""
    return KEY_PREFIXES.get(record_id[:3])


@dataclass
class RecordIds:
    """Record ids of one run, sorted out: what to read per object, and what cannot be synced and why.

    :param by_object: object -> its 18-character ids, in the order given, each once.
    :param problems: id as given -> why it is not synced (never contact data: the id and a reason).
    """

    by_object: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> list[str]:
        """Every id that will be read, 18 characters, sorted."""
        return sorted(i for ids in self.by_object.values() for i in ids)


def split_record_ids(values: Iterable[object]) -> list[object]:
    """Entries as typed: the trigger form gives one per line, people paste several on one line too."""
    out: list[object] = []
    for value in values:
        if isinstance(value, str):
            out.extend(part for part in _SEPARATORS.split(value) if part)
        else:
            out.append(value)
    return out


def check_record_ids(values: Iterable[object], objects: Iterable[str]) -> RecordIds:
    """Check every id on its own and route it to its object; problems are collected, never raised.

    :param values: the run's ``record_ids`` as given (15/18 characters, any case, several per line).
    :param objects: the objects this run syncs; an id of another object is reported, not read.
    """
    wanted = list(objects)
    result = RecordIds(by_object={name: [] for name in wanted})
    for value in split_record_ids(values):
        try:
            record_id = normalise_record_id(value)
        except RecordIdError as exc:
            result.problems[str(value)] = str(exc)
            continue
        name = record_object(record_id)
        if name is None:
            known = ", ".join(f"{obj} ids start with {prefix}" for prefix, obj in KEY_PREFIXES.items())
            result.problems[str(value)] = (f"'{value}' is not a Contact or Lead id ({known}); only Contacts and "
                                           "Leads are synced")
        elif name not in wanted:
            result.problems[str(value)] = (f"'{value}' is a {name} id, but this run syncs only "
                                           f"{' and '.join(wanted)} (add {name} to objects)")
        elif record_id not in result.by_object[name]:
            result.by_object[name].append(record_id)
    return result
