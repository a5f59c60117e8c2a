"""Phone numbers to the match key: E.164 digits without ``+``, the form Heymarket stores.

Salesforce holds phones as people typed them (``(415) 555-0134``, ``415.555.0134``, ``+44 20 7946 0000``,
``415-555-0134 ext. 12``). ``phonenumbers`` parses all of them, but at about 11,000 numbers a second, which
would make a million-record plan take minutes. So :func:`normalise_phones` does three things before it
calls ``phonenumbers.parse`` on a value:

1. it works on distinct raw values only (a column is factorised, results are mapped back);
2. it looks raw values up in a caller-provided cache (the state store keeps it between runs, so a warm
   run parses only raw values it has never seen);
3. for values made only of digits, spaces, ``().-`` and one leading ``+`` (nearly all real data) it
   applies ``phonenumbers``' own metadata to the digits with vectorised regular expressions (pyarrow's
   RE2), in the same order ``is_valid_number`` does. It takes that fast answer only when the number is
   valid and only in the cases where ``parse`` provably leaves the digits alone (no national prefix, no
   international dialling prefix, no ambiguous country code). Everything else, including every invalid
   number, goes through ``phonenumbers.parse`` itself, so the reasons in the report are its reasons.

``tests/unit/test_phones.py`` checks the fast path against plain ``phonenumbers`` for thousands of numbers
of every region.
"""

from __future__ import annotations

import functools
import re
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat

from sync_engine.values import normalise_value

__all__ = [
    "REASONS",
    "PhoneCache",
    "format_e164",
    "normalise_phone",
    "normalise_phones",
    "to_heymarket",
]

#: ``phone_reason`` values: ``ok`` (``phone`` holds the key), ``empty`` (no number at all), ``unparseable``
#: (not a phone number: letters, too few digits, unknown country code), ``not_possible`` (wrong length for
#: its country), ``invalid`` (right length, but not a number range in use).
REASONS = ("ok", "empty", "unparseable", "not_possible", "invalid", "too_short")
#: Heymarket refuses numbers of fewer than 8 digits (country code included): a handful of valid
#: numbering plans (Niue, Tokelau...) have them. They are reported, not matched, so one such number
#: cannot fail a whole run at validation.
HEYMARKET_MIN_DIGITS = 8

PhoneCache = MutableMapping[str, tuple[str | None, str | None]]
"""Raw phone text -> (E.164 digits or None, reason). Only valid for one default region."""

# Digits with optional formatting and at most one leading "+": the values the fast path may take.
_ELIGIBLE = r"^[ \t().\-]*\+?[0-9 \t().\-]*$"
_FORMATTING = r"[ \t().\-]"
_BARE_E164 = re.compile(r"[0-9]{11,15}")
_BARE_E164_ARROW = r"^[0-9]{11,15}$"
_BARE_MARK = "="  # prefixes bare-digit values in the fast path, which may be retried as international
_E164_DIGITS = re.compile(r"[1-9][0-9]{6,14}")
# The number-type descriptions a valid number must match one of (see phonenumbers' _number_type_helper).
_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


# --------------------------------------------------------------------------------------------- public API
def normalise_phones(
    raw: pd.Series,
    default_region: str = "US",
    cache: PhoneCache | None = None,
) -> pd.DataFrame:
    """The match key of every raw phone value, with the reason when there is none.

    :param raw: phone values as stored in Salesforce (any format, ``None``/NaN for none).
    :param default_region: ISO region for numbers written without a country code (``US``, ``GB``...).
    :param cache: raw text -> (phone, reason) from earlier runs; read first, and every newly parsed raw
        value is added to it. A cache belongs to one default region: keep one per region.
    :returns: frame with the index of ``raw`` and columns ``phone`` (E.164 digits without ``+`` or
        ``None``) and ``phone_reason`` (one of :data:`REASONS`).
    """
    region = _checked_region(default_region)
    encoded = pc.dictionary_encode(_raw_text(raw))
    texts: list[str] = encoded.dictionary.to_pylist()
    codes = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)

    phones = np.empty(len(texts) + 1, dtype=object)
    reasons = np.empty(len(texts) + 1, dtype=object)
    phones[-1], reasons[-1] = None, "empty"  # code -1 (null) takes the last slot
    if cache is not None:
        hits = list(map(cache.get, texts))
        todo = [i for i, hit in enumerate(hits) if hit is None]
        for i, hit in enumerate(hits):
            if hit is not None:
                phones[i], reasons[i] = hit
    else:
        todo = list(range(len(texts)))

    if todo:
        new_phones, new_reasons = _normalise_distinct([texts[i] for i in todo], region)
        index = np.asarray(todo, dtype=np.int64)
        phones[index] = new_phones
        reasons[index] = new_reasons
        if cache is not None:
            cache.update(
                zip(
                    (texts[i] for i in todo),
                    zip(new_phones.tolist(), new_reasons.tolist(), strict=True),
                    strict=True,
                )
            )

    for i, phone in enumerate(phones):
        if phone is not None and len(phone) < HEYMARKET_MIN_DIGITS:
            phones[i], reasons[i] = None, "too_short"
    return pd.DataFrame(
        {
            "phone": pd.Series(phones.take(codes), index=raw.index, dtype=object),
            "phone_reason": pd.Series(reasons.take(codes), index=raw.index, dtype=object),
        }
    )


def normalise_phone(raw: str | None, default_region: str = "US") -> tuple[str | None, str]:
    """One value through the exact (slow) path: for single records, e.g. a record id run or a test.

    :returns: (E.164 digits without ``+`` or ``None``, reason)
    """
    if raw is None or not isinstance(raw, str):
        raw = normalise_value(raw) or ""
    phone, reason = _parse_one(raw, _checked_region(default_region))
    if phone is not None and len(phone) < HEYMARKET_MIN_DIGITS:
        return None, "too_short"
    return phone, reason


def to_heymarket(e164: str) -> str:
    """The phone as Heymarket's API wants it: E.164 digits, no ``+``.

    :param e164: ``+14155550134`` or ``14155550134`` (what :func:`normalise_phones` returns)
    :raises ValueError: the value is not an E.164 number; normalise it first.
    """
    digits = e164.strip().removeprefix("+")
    if not _E164_DIGITS.fullmatch(digits):
        raise ValueError(
            "not an E.164 number (expected 7 to 15 digits with an optional leading '+'); "
            "pass the value through normalise_phones() first"
        )
    return digits


def format_e164(digits: str) -> str:
    """``14155550134`` -> ``+14155550134`` (the form Salesforce phone fields and people read).

    :raises ValueError: the value is not an E.164 number.
    """
    return "+" + to_heymarket(digits)


# --------------------------------------------------------------------------------------------- exact path
def _parse_one(text: str, region: str) -> tuple[str | None, str]:
    """``phonenumbers`` on one value, plus one rule of ours.

    The rule: a value of 11 to 15 bare digits (no ``+``, no formatting) that is not a valid national
    number of the default region is tried once more as E.164 without the ``+``, the form Heymarket shows
    and exports (``447911123456`` is a UK mobile; ``14155550134`` a US number for a UK-based org).
    Formatted values are never reinterpreted: ``(415) 555-01345`` is a mistyped US number, not a Swiss
    one, and is reported rather than texted abroad.
    """
    text = text.strip()
    if not text:
        return None, "empty"
    result = _parse_with_region(text, region)
    if result[1] != "ok" and _BARE_E164.fullmatch(text):
        retry = _parse_with_region("+" + text, region)
        if retry[1] == "ok":
            return retry
    return result


def _parse_with_region(text: str, region: str) -> tuple[str | None, str]:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None, "unparseable"
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:], "ok"
    if not phonenumbers.is_possible_number(number):
        return None, "not_possible"
    return None, "invalid"


def _checked_region(region: str) -> str:
    code = (region or "").strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"unknown default phone region {region!r}: use a two-letter ISO 3166 region code that "
            "phonenumbers supports, such as US, CA, GB or DE"
        )
    return code


# --------------------------------------------------------------------------------------------- fast path
def _normalise_distinct(texts: Sequence[str], region: str) -> tuple[np.ndarray, np.ndarray]:
    """Phones and reasons of distinct raw texts: fast path where it is exact, ``phonenumbers`` elsewhere."""
    phones = np.full(len(texts), None, dtype=object)
    reasons = np.full(len(texts), None, dtype=object)
    if not texts:
        return phones, reasons
    trimmed = pc.utf8_trim_whitespace(pa.array(texts, type=pa.large_string()))
    eligible = _bools(pc.match_substring_regex(trimmed, _ELIGIBLE)) & (_ints(pc.utf8_length(trimmed)) > 0)
    eligible_at = np.flatnonzero(eligible)
    if len(eligible_at):
        values = trimmed.take(pa.array(eligible_at))
        stripped = pc.replace_substring_regex(values, _FORMATTING, "")
        bare = pc.match_substring_regex(values, _BARE_E164_ARROW)
        keys = pc.if_else(
            bare,
            pc.binary_join_element_wise(
                pa.scalar(_BARE_MARK, pa.large_string()), stripped, pa.scalar("", pa.large_string())
            ),
            stripped,
        )
        encoded = pc.dictionary_encode(keys)
        fast_phones, fast_reasons = _fast_results(encoded.dictionary, region)
        indices = _ints(encoded.indices)
        phones[eligible_at] = fast_phones.take(indices)
        reasons[eligible_at] = fast_reasons.take(indices)
    for i in np.flatnonzero(reasons == None).tolist():  # noqa: E711 - elementwise on an object array
        phones[i], reasons[i] = _parse_one(texts[i], region)
    return phones, reasons


def _fast_results(keys: pa.Array, region: str) -> tuple[np.ndarray, np.ndarray]:
    """(phone, reason) of distinct digit strings where they are certain; reason ``None`` where not.

    :param keys: distinct values of only digits, each with at most one leading ``+``; bare digit values
        that our retry rule applies to (see :func:`_parse_one`) are marked with a leading ``=``.
    """
    n = len(keys)
    phones = np.full(n, None, dtype=object)
    reasons = np.full(n, None, dtype=object)
    bare = _bools(pc.starts_with(keys, _BARE_MARK))
    plus = _bools(pc.starts_with(keys, "+"))
    body = pc.if_else(pa.array(plus | bare), pc.utf8_slice_codeunits(keys, 1), keys)
    length = _ints(pc.utf8_length(body))
    sane = (length >= 3) & (length <= 20) & _bools(pc.match_substring_regex(body, r"^[0-9]+$"))

    # Digits only: phonenumbers reads them as a number of the default region.
    digits_at = np.flatnonzero(sane & ~plus)
    national = _national_reading(body.take(pa.array(digits_at)), region)
    national_valid = national.valid()
    _put(phones, reasons, digits_at, national, national_valid)
    national_invalid = national.exact & ~national_valid
    retried = national_invalid & bare[digits_at]
    not_retried = np.flatnonzero(national_invalid & ~bare[digits_at])
    reasons[digits_at[not_retried]] = national.failure_reasons(not_retried)

    # Written with "+", and bare digits whose national reading is certainly invalid: international.
    intl_at = np.concatenate([np.flatnonzero(sane & plus), digits_at[retried]])
    international = _international_reading(body.take(pa.array(intl_at)))
    intl_valid = international.valid()
    _put(phones, reasons, intl_at, international, intl_valid)
    intl_plus = plus[intl_at]
    certain_failure = (international.exact & ~intl_valid) | international.fails
    # "+" values that certainly fail: their own reason.
    plus_failed = intl_plus & certain_failure
    reasons[intl_at[plus_failed & international.fails]] = "unparseable"
    failed_at = np.flatnonzero(plus_failed & ~international.fails)
    reasons[intl_at[failed_at]] = international.failure_reasons(failed_at)
    # Bare digits whose retry certainly fails too: the reason of their national reading.
    retry_failed = intl_at[~intl_plus & certain_failure]
    national_failed = np.flatnonzero(np.isin(digits_at, retry_failed))
    reasons[digits_at[national_failed]] = national.failure_reasons(national_failed)
    return phones, reasons


def _put(
    phones: np.ndarray, reasons: np.ndarray, at: np.ndarray, reading: _Reading, valid: np.ndarray
) -> None:
    rows = np.flatnonzero(valid)
    phones[at[rows]] = reading.e164(rows)
    reasons[at[rows]] = "ok"


@dataclass
class _Reading:
    """One way of reading digit strings: country code + national significant number, per value.

    ``exact`` marks the values for which this reading is provably what ``phonenumbers.parse`` returns;
    ``fails`` the values for which ``parse`` certainly raises.
    """

    cc: np.ndarray  # int country calling code, 0 where not exact
    nsn: list[str | None]  # national significant number, None where not exact
    exact: np.ndarray  # bool
    fails: np.ndarray  # bool

    def valid(self) -> np.ndarray:
        """``phonenumbers.is_valid_number`` of the exact readings (False elsewhere)."""
        valid = np.zeros(len(self.cc), dtype=bool)
        for code in np.unique(self.cc[self.exact]).tolist():
            at = np.flatnonzero(self.exact & (self.cc == code))
            valid[at] = _valid_for_code(code, pa.array([self.nsn[i] for i in at], type=pa.large_string()))
        return valid

    def e164(self, rows: np.ndarray) -> list[str]:
        return [f"{self.cc[i]}{self.nsn[i]}" for i in rows.tolist()]

    def failure_reasons(self, rows: np.ndarray) -> list[str]:
        """``not_possible`` / ``invalid`` of exact readings that are not valid (phonenumbers' length test)."""
        return [
            "invalid" if _possible(int(self.cc[i]), str(self.nsn[i])) else "not_possible"
            for i in rows.tolist()
        ]


def _international_reading(body: pa.Array) -> _Reading:
    """Digits after a ``+``: country code by phonenumbers' rule (the shortest known prefix of 1-3 digits)."""
    n = len(body)
    cc = np.zeros(n, dtype=np.int64)
    cc_len = np.zeros(n, dtype=np.int64)
    for size in (3, 2, 1):  # longest first, so that the shortest known prefix wins
        prefix = pc.utf8_slice_codeunits(body, 0, size)
        known = _bools(pc.is_in(prefix, value_set=_country_codes(size)))
        cc_len[known] = size
        cc[known] = np.asarray(prefix.filter(pa.array(known)).to_numpy(zero_copy_only=False), dtype=np.int64)
    values = body.to_pylist()
    nsn: list[str | None] = [v[k:] if k else None for v, k in zip(values, cc_len.tolist(), strict=True)]
    nsn_len = np.array([len(v) if v is not None else 0 for v in nsn], dtype=np.int64)
    # No known country code, or too few digits after it: parse() raises. (After "+0" parse() retries the
    # digits as a national number, so those are left to it.)
    leading_zero = _bools(pc.starts_with(body, "0"))
    fails = ((cc == 0) & ~leading_zero) | ((cc > 0) & (nsn_len < 2))
    exact = (cc > 0) & (nsn_len >= 2) & (nsn_len <= 17)
    for code in np.unique(cc[exact]).tolist():
        at = np.flatnonzero(exact & (cc == code))
        exact[at] = ~_changes_with_national_prefix([v for i in at if (v := nsn[i]) is not None], _main_metadata(code))
    return _Reading(
        np.where(exact, cc, 0),
        [v if e else None for v, e in zip(nsn, exact.tolist(), strict=True)],
        exact,
        fails,
    )


def _national_reading(body: pa.Array, region: str) -> _Reading:
    """Digits without ``+`` in the default region, as ``parse`` / ``_maybe_extract_country_code`` read them.

    Exact only where neither an international dialling prefix nor a national prefix is involved; a value
    starting with the region's own country code counts only where parse certainly strips it (the whole
    value is no national number of the region but the rest is).
    """
    metadata = PhoneMetadata.metadata_for_region(region)
    if (metadata is None or metadata.country_code is None or metadata.general_desc is None
            or metadata.general_desc.national_number_pattern is None):
        raise ValueError(f"phonenumbers has no metadata for region {region!r}")
    code: int = metadata.country_code
    code_text = str(code)
    n = len(body)
    candidates = np.ones(n, dtype=bool)
    if metadata.international_prefix:
        candidates &= ~_bools(pc.match_substring_regex(body, f"^(?:{metadata.international_prefix})"))
    starts = candidates & _bools(pc.starts_with(body, code_text))
    values = body.to_pylist()
    general: str = metadata.general_desc.national_number_pattern
    strip_code = np.zeros(n, dtype=bool)
    starts_at = np.flatnonzero(starts)
    if len(starts_at):
        whole = [values[i] for i in starts_at]
        rest = [v[len(code_text) :] for v in whole]
        # parse() strips a national prefix twice here: once with the region's metadata while taking the
        # country code off, once with the metadata of the code's main region (CA -> US) afterwards.
        strip_code[starts_at] = (
            ~_regex_list(whole, general, full=True)
            & _regex_list(rest, general, full=True)
            & ~_changes_with_national_prefix(rest, metadata)
            & ~_changes_with_national_prefix(rest, _main_metadata(code))
        )
    as_national = candidates & ~starts
    national_at = np.flatnonzero(as_national)
    as_national[national_at] = ~_changes_with_national_prefix([values[i] for i in national_at], metadata)
    nsn: list[str | None] = [None] * n
    for i in np.flatnonzero(strip_code).tolist():
        nsn[i] = values[i][len(code_text) :]
    for i in np.flatnonzero(as_national).tolist():
        nsn[i] = values[i]
    nsn_len = np.array([len(v) if v is not None else 0 for v in nsn], dtype=np.int64)
    exact = (strip_code | as_national) & (nsn_len >= 2) & (nsn_len <= 17)
    return _Reading(
        np.where(exact, code, 0),
        [v if e else None for v, e in zip(nsn, exact.tolist(), strict=True)],
        exact,
        np.zeros(n, dtype=bool),
    )


def _valid_for_code(code: int, nsn: pa.Array) -> np.ndarray:
    """``phonenumbers.is_valid_number`` of national numbers of one country code, vectorised.

    Mirrors ``region_code_for_number`` (the first region of the code whose leading digits match, or which
    validates the number) followed by ``is_valid_number_for_region``.
    """
    lengths = _ints(pc.utf8_length(nsn))
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    if len(regions) == 1:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
        return (
            _of_known_type(nsn, lengths, metadata) if metadata is not None else np.zeros(len(nsn), dtype=bool)
        )
    valid = np.zeros(len(nsn), dtype=bool)
    undecided = np.arange(len(nsn))
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if not len(undecided):
            break
        values = nsn.take(pa.array(undecided))
        if metadata.leading_digits is not None:
            chosen = _bools(_regex(values, f"^(?:{metadata.leading_digits})"))
            at = undecided[chosen]
            valid[at] = _of_known_type(nsn.take(pa.array(at)), lengths[at], metadata)
            undecided = undecided[~chosen]
        else:
            typed = _of_known_type(values, lengths[undecided], metadata)
            valid[undecided[typed]] = True
            undecided = undecided[~typed]
    return valid


def _of_known_type(nsn: pa.Array, lengths: np.ndarray, metadata: PhoneMetadata) -> np.ndarray:
    """``_number_type_helper(nsn, metadata) != UNKNOWN``: the general description and one number type."""
    general = np.flatnonzero(_matches_desc(nsn, lengths, metadata.general_desc))
    typed = np.zeros(len(general), dtype=bool)
    for name in _TYPE_DESCS:
        todo = np.flatnonzero(~typed)
        if not len(todo):
            break
        at = general[todo]
        typed[todo] = _matches_desc(nsn.take(pa.array(at)), lengths[at], getattr(metadata, name, None))
    result = np.zeros(len(nsn), dtype=bool)
    result[general[typed]] = True
    return result


def _matches_desc(nsn: pa.Array, lengths: np.ndarray, desc: object) -> np.ndarray:
    """phonenumbers' ``_is_number_matching_desc``: possible length, then a full match of the pattern."""
    result = np.zeros(len(nsn), dtype=bool)
    pattern = getattr(desc, "national_number_pattern", None)
    if desc is None or not pattern or not len(nsn):
        return result
    possible = tuple(getattr(desc, "possible_length", None) or ())
    if possible:
        table = np.zeros(64, dtype=bool)
        table[[p for p in possible if 0 <= p < 64]] = True
        at = np.flatnonzero(table[np.clip(lengths, 0, 63)])
    else:
        at = np.arange(len(nsn))
    if len(at):
        result[at] = _bools(_regex(nsn.take(pa.array(at)), f"^(?:{pattern})$"))
    return result


def _changes_with_national_prefix(numbers: list[str], metadata: PhoneMetadata | None) -> np.ndarray:
    """Where ``_maybe_strip_national_prefix_carrier_code`` might alter a number (then: not exact).

    An empty match with no captured group leaves the number as it is (some regions' prefix patterns are
    entirely optional); any other match may strip or transform, so it counts as a change.
    """
    changes = np.zeros(len(numbers), dtype=bool)
    pattern = getattr(metadata, "national_prefix_for_parsing", None)
    if not pattern or not numbers:
        return changes
    maybe = np.flatnonzero(_regex_list(numbers, pattern, full=False))
    compiled = _compiled(pattern)
    for i in maybe.tolist():
        match = compiled.match(numbers[i])
        changes[i] = match is not None and (match.end() > 0 or any(g is not None for g in match.groups()))
    return changes


def _possible(code: int, nsn: str) -> bool:
    """``phonenumbers.is_possible_number`` of a parsed number (a length test only, cheap)."""
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(nsn))
    if len(nsn) > 1 and nsn[0] == "0":
        zeros = len(nsn) - len(nsn.lstrip("0"))
        number.italian_leading_zero = True
        number.number_of_leading_zeros = max(1, min(zeros, len(nsn) - 1))
    return phonenumbers.is_possible_number(number)


def _regex_list(values: list[str], pattern: str, full: bool) -> np.ndarray:
    if not values:
        return np.zeros(0, dtype=bool)
    anchored = f"^(?:{pattern})$" if full else f"^(?:{pattern})"
    return _bools(_regex(pa.array(values, type=pa.large_string()), anchored))


def _regex(values: pa.Array, anchored: str) -> pa.Array:
    try:
        return pc.match_substring_regex(values, anchored)
    except pa.ArrowInvalid:  # a pattern RE2 can't compile: Python's re, slower but the same answer
        compiled = _compiled(anchored)
        return pa.array([v is not None and compiled.match(v) is not None for v in values.to_pylist()])


def _bools(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _ints(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _raw_text(raw: pd.Series) -> pa.Array:
    """Raw values as Arrow text (null for none); non-text values (numbers) as their plain digits."""
    try:
        array = pa.array(raw, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array(
            [v if isinstance(v, str) else normalise_value(v) for v in raw], type=pa.large_string()
        )
    if isinstance(array, pa.ChunkedArray):
        chunks = [chunk.cast(pa.large_string()) for chunk in array.chunks]
        array = pa.concat_arrays(chunks) if chunks else pa.array([], type=pa.large_string())
    return array


@functools.cache
def _country_codes(size: int) -> pa.Array:
    return pa.array(
        sorted(str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE if len(str(c)) == size),
        type=pa.large_string(),
    )


@functools.cache
def _main_metadata(code: int) -> PhoneMetadata | None:
    """The metadata parse() uses for a country code: its main region's (or the non-geo entity's)."""
    region = phonenumbers.region_code_for_country_code(code)
    return PhoneMetadata.metadata_for_region_or_calling_code(code, region)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
