"""Phone normalisation: the formats people type, the reasons we give, the cache, and the fast path checked
against plain ``phonenumbers`` for every region's example numbers."""

from __future__ import annotations

import random

import pandas as pd
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from sync_engine.phones import (
    _normalise_distinct,
    _parse_one,
    format_e164,
    normalise_phone,
    normalise_phones,
    to_heymarket,
)

US = "14155550134"
UK_MOBILE = "447911123456"
UK_LONDON = "442079460000"


@pytest.mark.parametrize(
    ("raw", "region", "phone", "reason"),
    [
        ("(415) 555-0134", "US", US, "ok"),
        ("415.555.0134", "US", US, "ok"),
        ("415-555-0134", "US", US, "ok"),
        ("4155550134", "US", US, "ok"),
        ("+1 415 555 0134", "US", US, "ok"),
        ("+1 (415) 555-0134", "US", US, "ok"),
        ("+14155550134", "US", US, "ok"),
        ("14155550134", "US", US, "ok"),  # 11 digits starting with the country code
        ("1-415-555-0134", "US", US, "ok"),
        ("  (415) 555-0134  ", "US", US, "ok"),
        ("415-555-0134 ext. 12", "US", US, "ok"),  # the extension is dropped
        ("415.555.0134 x12", "US", US, "ok"),
        ("tel:+1-415-555-0134", "US", US, "ok"),
        ("+44 7911 123456", "US", UK_MOBILE, "ok"),
        ("+44 (0) 20 7946 0000", "US", UK_LONDON, "ok"),  # the (0) national prefix written by habit
        ("07911 123456", "GB", UK_MOBILE, "ok"),
        ("020 7946 0000", "GB", UK_LONDON, "ok"),
        ("447911123456", "US", UK_MOBILE, "ok"),  # Heymarket's own format pasted into Salesforce
        ("14155550134", "GB", US, "ok"),  # a US number in Heymarket's format, UK default region
        ("011 44 7911 123456", "US", UK_MOBILE, "ok"),  # dialled with the US international prefix
        ("00 44 7911 123456", "GB", UK_MOBILE, "ok"),
        ("+49 30 901820", "US", "4930901820", "ok"),
        ("", "US", None, "empty"),
        ("   ", "US", None, "empty"),
        ("n/a", "US", None, "unparseable"),
        ("call me", "US", None, "unparseable"),
        ("+999 123 4567", "US", None, "unparseable"),  # no such country code
        ("555-0134", "US", None, "invalid"),  # no area code: a possible local number only
        ("415 555 013", "US", None, "not_possible"),
        ("(415) 555-01345", "US", None, "not_possible"),
        ("(123) 555-0134", "US", None, "invalid"),  # area codes never start with 1
        ("+1 415 155 0134", "US", None, "invalid"),  # nor exchanges
    ],
)
def test_formats(raw: str, region: str, phone: str | None, reason: str) -> None:
    out = normalise_phones(pd.Series([raw]), region)
    assert out.loc[0, "phone"] == phone and out.loc[0, "phone_reason"] == reason
    assert normalise_phone(raw, region) == (phone, reason)


def test_nulls_duplicates_and_index_are_kept() -> None:
    raw = pd.Series(
        ["(415) 555-0134", None, float("nan"), "415.555.0134", "(415) 555-0134", "bad"],
        index=[10, 11, 12, 13, 14, 15],
    )
    expected = pd.DataFrame(
        {
            "phone": pd.Series([US, None, None, US, US, None], index=raw.index, dtype=object),
            "phone_reason": pd.Series(
                ["ok", "empty", "empty", "ok", "ok", "unparseable"], index=raw.index, dtype=object
            ),
        }
    )
    assert_frame_equal(normalise_phones(raw, "US"), expected)
    assert_frame_equal(normalise_phones(raw.astype("str"), "US"), expected)


def test_non_text_values_are_read_as_their_digits() -> None:
    out = normalise_phones(pd.Series([4155550134, 14155550134.0], dtype=object), "US")
    assert out["phone"].tolist() == [US, US]


def test_cache_is_read_first_and_receives_every_new_raw_value() -> None:
    cache: dict[str, tuple[str | None, str]] = {"(415) 555-0134": ("19998887777", "ok")}  # a planted answer
    out = normalise_phones(pd.Series(["(415) 555-0134", "415.555.0199", "415.555.0199", "junk"]), "US", cache)
    assert out["phone"].tolist() == ["19998887777", "14155550199", "14155550199", None]
    assert cache == {
        "(415) 555-0134": ("19998887777", "ok"),
        "415.555.0199": ("14155550199", "ok"),
        "junk": (None, "unparseable"),
    }
    again = normalise_phones(pd.Series(["junk", "415.555.0199"]), "US", cache)
    assert again["phone_reason"].tolist() == ["unparseable", "ok"] and len(cache) == 3


def test_unknown_region_is_refused_with_a_fix() -> None:
    with pytest.raises(ValueError, match="two-letter ISO 3166 region code"):
        normalise_phones(pd.Series(["415 555 0134"]), "USA")


def test_heymarket_and_e164_forms() -> None:
    assert to_heymarket("+14155550134") == US == to_heymarket(US)
    assert format_e164(US) == "+14155550134"
    for bad in ("", "+0123456789", "415-555-0134", "+1234"):
        with pytest.raises(ValueError, match="not an E.164 number"):
            to_heymarket(bad)


# ------------------------------------------------------------------------------ the fast path is exact
def _example_inputs() -> list[str]:
    """Every region's example numbers in the forms people write them, plus near misses."""
    rnd = random.Random(11)
    out: list[str] = []
    types = (
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.VOIP,
    )
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in types:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
            digits = "".join(c for c in national if c.isdigit())
            broken = list(e164[1:])
            broken[rnd.randrange(len(broken))] = str(rnd.randrange(10))
            out += [
                e164,
                e164[1:],
                national,
                digits,
                phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
                "+" + "".join(broken),
                digits[:-1],
                "0" + digits,
            ]
    return list(dict.fromkeys(out))


EXAMPLES = _example_inputs()


@pytest.mark.parametrize("region", ["US", "GB", "AR", "BR", "IT", "AU"])
def test_fast_path_agrees_with_phonenumbers_on_every_regions_examples(region: str) -> None:
    phones, reasons = _normalise_distinct(EXAMPLES, region)
    mismatches = [
        (raw, (p, r), _parse_one(raw, region))
        for raw, p, r in zip(EXAMPLES, phones, reasons, strict=True)
        if (p, r) != _parse_one(raw, region)
    ]
    assert not mismatches[:5]
    assert sum(r == "ok" for r in reasons) > len(EXAMPLES) // 3


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["US", "GB", "DE", "FR", "IN", "MX", "JP", "NL"]),
    st.lists(
        st.from_regex(r"\+?[0-9]{3,16}", fullmatch=True)
        | st.from_regex(r"\(?[0-9]{3}\)? ?[0-9]{3}[-.][0-9]{4}", fullmatch=True),
        min_size=1,
        max_size=40,
    ),
)
def test_fast_path_agrees_with_phonenumbers_on_random_digits(region: str, raws: list[str]) -> None:
    raws = list(dict.fromkeys(raws))
    phones, reasons = _normalise_distinct(raws, region)
    assert [(p, r) for p, r in zip(phones, reasons, strict=True)] == [_parse_one(raw, region) for raw in raws]


def test_valid_numbers_too_short_for_heymarket_are_reported_not_matched() -> None:
    """Niue's 7-digit numbers are valid E.164, but Heymarket (and our plan validation) need 8+ digits."""
    from sync_engine.phones import normalise_phone, normalise_phones

    assert normalise_phone("+683 4002", "US") == (None, "too_short")
    frame = normalise_phones(pd.Series(["+683 4002", "+1 415 555 0134"]), "US")
    assert frame["phone_reason"].tolist() == ["too_short", "ok"]
    assert frame["phone"].tolist()[1] == "14155550134"
