"""Demo data for both emulators: a Salesforce org and a Heymarket team that partly overlap, with the messy
phones real orgs have (mixed formats, invalid, empty, duplicates, UK numbers), and Heymarket conversations
(inbound and outbound text messages) on some contacts and on a few phones that have no Heymarket contact.

``generate(size, seed)`` is deterministic for a seed and vectorised with numpy, so the same code serves
the 50-record demo and the 1,000,000-record benchmark. The generator also returns ``expected``: the
facts it knows about what it made (counts per object of invalid, empty, duplicate and overlapping
phones, list view sizes, user matches), computed from the data itself so tests can check the pipeline's
report against them.

CLI::

    python -m emulators.demo_data --size 50 --seed 7 --out .sandbox/demo
    python -m emulators.demo_data --load-salesforce https://127.0.0.1:8443 \\
        --load-heymarket http://127.0.0.1:8600 --ca-bundle .sandbox/certs/cert.pem
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emulators.heymarket import seed as heymarket_seed

Record = dict[str, Any]

MIN_SIZE = 20
PHONE_FIELD = "Phone"
DEFAULT_REGION = "US"
#: Salesforce records are this share Contacts, the rest Leads.
CONTACT_SHARE = 0.6
#: per object: share of records with no phone, an invalid phone, a UK phone (at least MIN_* each)
EMPTY_SHARE, INVALID_SHARE, UK_SHARE = 0.06, 0.04, 0.02
MIN_EMPTY, MIN_INVALID, MIN_UK = 1, 2, 1
#: phone numbers shared by two Salesforce records (pairs), as a share of all records
DUPLICATE_PAIR_SHARE = 0.015
MIN_DUPLICATE_PAIRS = 2
MOBILE_SHARE = 0.25
MISSING_EMAIL_SHARE = 0.05
#: Heymarket contacts = size * HEYMARKET_SHARE, of which OVERLAP_SHARE share a phone with Salesforce
HEYMARKET_SHARE, OVERLAP_SHARE = 0.5, 0.5
#: overlapping Heymarket contacts whose first name or tier differs from Salesforce (work for the sync)
DIFFERENT_FIELD_SHARE = 0.25
#: Heymarket timestamps fall in the DAYS_BACK days before this instant (fixed, for determinism)
HEYMARKET_BASE_TIME = np.datetime64("2026-10-01T00:00:00", "us")
DAYS_BACK = 60
#: Heymarket contacts with a conversation (one inbox each), and messages per conversation (inclusive range)
CONVERSATION_SHARE = 0.3
MESSAGES_PER_CONVERSATION = (1, 6)
#: conversations on phones with no Heymarket contact, as a share of the contacts' conversations (at least
#: MIN_STRANGERS); half of those phones belong to a Salesforce record (texted in, never made a contact)
STRANGER_SHARE, MIN_STRANGERS = 0.05, 2
#: a conversation opens with an inbound message with this probability; each next message answers (switches
#: direction) with the other one
FIRST_INBOUND_SHARE, REPLY_SHARE = 0.45, 0.75
#: seconds between consecutive messages of a conversation, and the last message's age in days (before
#: HEYMARKET_BASE_TIME, like the contacts' timestamps)
MESSAGE_GAP_SECONDS = (60, 2 * 86_400)
#: outbound delivery outcome (a delivered or failed message's ``updated`` is its ``date`` + a few seconds)
OUTBOUND_STATUSES = ("delivered", "sent", "failed")
OUTBOUND_STATUS_WEIGHTS = (0.85, 0.1, 0.05)
#: outbound messages that carry a picture (MMS)
MEDIA_SHARE = 0.05
MEDIA_URL = "https://media.example.com/demo/{n}.jpg"
#: the seed inboxes and their members: each outbound message is sent by a member of its inbox
DEMO_INBOXES = tuple((i["id"], tuple(i["members"])) for i in heymarket_seed.SEED_INBOXES)
#: canned texts only: message bodies never carry names, phones or anything else personal
INBOUND_TEXTS = (
    "Hi, is this still available?", "What time do you open tomorrow?", "Thanks!", "Can I reschedule to Friday?",
    "Yes, that works for me.", "Please call me back when you can.", "Got it, see you then.",
    "Do you have this in stock?", "Is there parking nearby?", "How much is the delivery fee?",
)
OUTBOUND_TEXTS = (
    "Hi! Your appointment is confirmed for tomorrow at 10am.", "Your order has shipped and will arrive Friday.",
    "Thanks for reaching out, how can we help?", "We are open 9am to 6pm, Monday to Saturday.",
    "A quick reminder: your invoice is due next week.", "Sure, Friday at 2pm is booked for you.",
    "Here is the brochure you asked for.", "Happy to help. Anything else?",
)
#: separate random stream for the conversations, so adding them left every other generated value as it was
MESSAGES_STREAM = 1

US_AREA_CODES = (415, 212, 617, 312, 206)
#: exchanges 200-999 except N11 service codes and 555 (fictional / directory-assistance numbers)
US_EXCHANGES = np.array([e for e in range(200, 1000) if e % 100 != 11 and e != 555], dtype=np.int64)
UK_LONDON_LEADS = np.array([3, 7, 8], dtype=np.int64)  # 020 3xxx, 020 7xxx, 020 8xxx
US_FORMATS = (
    "({a}) {e}-{l:04d}",
    "{a}.{e}.{l:04d}",
    "+1 {a} {e} {l:04d}",
    "1{a}{e}{l:04d}",
    "{a}-{e}-{l:04d} ext. {x}",
)
INVALID_PHONES = ("555-01", "12345", "not a phone")

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Wei", "Ashley", "Steven",
    "Kimberly", "Andrew", "Emily", "Paul", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin",
    "Amanda", "Brian", "Melissa", "Priya", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca", "Jason",
    "Sharon", "Luis", "Laura", "Ryan", "Cynthia", "Jacob", "Aisha", "Gary", "Mei", "Nicholas", "Fatima",
    "Eric", "Olivia", "Jonathan", "Sofia", "Hiroshi", "Ana", "Omar", "Grace",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Chen",
    "Patel", "Kim", "Okafor", "Singh", "Cohen", "Murphy", "O'Brien", "Schmidt", "Tanaka",
)
COMPANIES = (
    ("Acme Robotics", "acmerobotics.com"), ("Bluewater Logistics", "bluewaterlogistics.com"),
    ("Cedar Health", "cedarhealth.org"), ("Dune Analytics", "dunedata.io"), ("Evergreen Foods", "evergreenfoods.com"),
    ("Foxglove Media", "foxglove.media"), ("Granite Partners", "granitepartners.com"),
    ("Harbor Bank", "harborbank.com"), ("Ionic Labs", "ioniclabs.com"), ("Juniper Retail", "juniperretail.com"),
    ("Keystone Builders", "keystonebuild.com"), ("Lumen Energy", "lumenenergy.com"),
    ("Maple Education", "mapleedu.org"), ("Northwind Traders", "northwindtraders.com"),
    ("Orchid Travel", "orchidtravel.com"), ("Pioneer Insurance", "pioneerins.com"),
)
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com")
TITLES = (
    "Account Manager", "Operations Director", "Marketing Manager", "VP Sales", "Office Manager", "CEO",
    "Customer Success Lead", "Procurement Specialist", "CFO", "IT Manager", "Store Manager", "Consultant",
)
#: (city, state, weight): California about a third, so the CA list view has a real share
CITIES = (
    ("San Francisco", "CA", 14), ("Los Angeles", "CA", 12), ("San Diego", "CA", 8), ("New York", "NY", 14),
    ("Boston", "MA", 10), ("Chicago", "IL", 12), ("Seattle", "WA", 10), ("Austin", "TX", 8),
    ("Denver", "CO", 6), ("Miami", "FL", 6),
)
CUSTOMER_TIERS = ("Gold", "Silver", "Bronze", None)
TIER_WEIGHTS = (0.2, 0.3, 0.3, 0.2)
LANGUAGES = ("English", "Spanish", "French", "Mandarin", "Vietnamese", None)
LANGUAGE_WEIGHTS = (0.55, 0.2, 0.05, 0.05, 0.05, 0.1)
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
LEAD_STATUS_WEIGHTS = (0.4, 0.3, 0.15, 0.15)

CUSTOM_FIELDS = ({"id": 1, "title": "Customer Tier"}, {"id": 2, "title": "Preferred Language"})
TIER_FIELD, LANGUAGE_FIELD = "1", "2"

LIST_VIEWS = (
    {"SobjectType": "Contact", "DeveloperName": "CA_Contacts", "Label": "CA Contacts",
     "WhereClause": "MailingState = 'CA'"},
    {"SobjectType": "Lead", "DeveloperName": "Open_Leads", "Label": "Open Leads",
     "WhereClause": "Status = 'Open - Not Contacted'"},
)
#: Lead has no Customer_Tier__c out of the box (Contact does); the demo org adds it like an admin would.
FIELD_DEFINITIONS = (
    {"sobject": "Lead", "name": "Customer_Tier__c", "label": "Customer Tier", "type": "picklist",
     "picklistValues": ["Gold", "Silver", "Bronze"]},
)
#: A well-formed Profile Id for the demo users (User.ProfileId is required). Its 15-character body has no
#: capital letters, so the Salesforce checksum suffix is "AAA".
DEMO_PROFILE_ID = "00e5g000000std1AAA"
#: Salesforce users: three are Heymarket members (one with different letter case), one is not.
SALESFORCE_USERS = (
    ("Alex", "Morgan", "alex.morgan@sandbox-team.example.com"),
    ("Priya", "Shah", "Priya.Shah@Sandbox-Team.example.com"),
    ("Jordan", "Lee", "jordan.lee@sandbox-team.example.com"),
    ("Chris", "Wong", "chris.wong@sandbox-team.example.com"),
)


@dataclass(frozen=True)
class DemoData:
    """:ivar salesforce: ``POST /__admin/load`` body for the Salesforce emulator.
    :ivar heymarket: ``POST /__admin/load`` body for the Heymarket emulator (contacts and messages).
    :ivar expected: what the generator knows about the data (see ``_expected``).
    """

    salesforce: dict[str, list[Record]]
    heymarket: dict[str, list[Record]]
    expected: dict[str, Any]


class _NumberPool:
    """Distinct phone numbers in a random but reproducible order: an affine bijection on ``range(size)``.

    ``(a * k + b) mod size`` with ``gcd(a, size) == 1`` never repeats, so drawing the next ``n`` numbers
    is one vectorised expression, whatever the scale.
    """

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size = size
        self.step = int(rng.integers(size // 3, 2 * size // 3))
        while math.gcd(self.step, size) != 1:
            self.step += 1
        self.offset = int(rng.integers(0, size))
        self.drawn = 0

    def draw(self, n: int) -> np.ndarray:
        if self.drawn + n > self.size:
            raise ValueError("phone number pool exhausted; lower the size")
        k = np.arange(self.drawn, self.drawn + n, dtype=np.int64)
        self.drawn += n
        return (k * self.step + self.offset) % self.size


def _us_parts(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool index -> (area code, exchange, line)."""
    line = indices % 10_000
    rest = indices // 10_000
    exchange = US_EXCHANGES[rest % len(US_EXCHANGES)]
    area = np.asarray(US_AREA_CODES, dtype=np.int64)[rest // len(US_EXCHANGES)]
    return area, exchange, line


def _us_key(area: np.ndarray, exchange: np.ndarray, line: np.ndarray) -> np.ndarray:
    """E.164 digits (``1AAAEEELLLL``) as an int64, for vectorised duplicate and overlap counting."""
    return 10_000_000_000 + area * 10_000_000 + exchange * 10_000 + line


def _uk_key(indices: np.ndarray) -> np.ndarray:
    """``4420DXXXXXXX`` as int64 (London: 020 3/7/8 + 7 digits)."""
    lead = UK_LONDON_LEADS[indices // 10_000_000]
    return 442_000_000_000 + lead * 10_000_000 + indices % 10_000_000


def _format_us(area: int, exchange: int, line: int, fmt: int, ext: int) -> str:
    return US_FORMATS[fmt].format(a=area, e=exchange, l=line, x=ext)


def _format_uk(key: int) -> str:
    digits = str(key)  # 4420DXXXXXXX
    return f"+44 20 {digits[4:8]} {digits[8:]}"


def _category_counts(n: int) -> tuple[int, int, int]:
    empty = max(MIN_EMPTY, round(EMPTY_SHARE * n))
    invalid = max(MIN_INVALID, round(INVALID_SHARE * n))
    uk = max(MIN_UK, round(UK_SHARE * n))
    return empty, invalid, uk


# Category codes of the Phone field.
US, UK, INVALID, EMPTY = 0, 1, 2, 3


def _categories(rng: np.random.Generator, n_contacts: int, n_leads: int) -> np.ndarray:
    """Per record (Contacts first, then Leads): US, UK, INVALID or EMPTY, in exact counts per object."""
    parts = []
    for n in (n_contacts, n_leads):
        empty, invalid, uk = _category_counts(n)
        codes = np.concatenate([
            np.full(empty, EMPTY), np.full(invalid, INVALID), np.full(uk, UK), np.full(n - empty - invalid - uk, US)
        ])
        parts.append(rng.permutation(codes))
    return np.concatenate(parts)


def _pick_duplicates(rng: np.random.Generator, category: np.ndarray, n_contacts: int,
                     pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """(sources, targets): each target gets its source's number. The first pair is Contact -> Lead."""
    us = np.flatnonzero(category == US)
    us_contacts, us_leads = us[us < n_contacts], us[us >= n_contacts]
    first_source = rng.choice(us_contacts)
    first_target = rng.choice(us_leads)
    rest = us[(us != first_source) & (us != first_target)]
    chosen = rng.choice(rest, size=2 * (pairs - 1), replace=False)
    sources = np.concatenate([[first_source], chosen[: pairs - 1]])
    targets = np.concatenate([[first_target], chosen[pairs - 1:]])
    return sources.astype(np.int64), targets.astype(np.int64)


def _weighted(rng: np.random.Generator, values: Sequence[Any], weights: Sequence[float], n: int) -> list[Any]:
    probs = np.asarray(weights, dtype=float)
    picks = rng.choice(len(values), size=n, p=probs / probs.sum())
    return [values[i] for i in picks.tolist()]


@dataclass
class _People:
    """Names, emails, titles and companies for *n* people (numpy picks the indices, lists hold the text)."""

    first: list[str]
    last: list[str]
    email: list[str | None]
    title: list[str]
    company: list[str]

    @classmethod
    def make(cls, rng: np.random.Generator, n: int) -> _People:
        first = [FIRST_NAMES[i] for i in rng.integers(0, len(FIRST_NAMES), n).tolist()]
        last = [LAST_NAMES[i] for i in rng.integers(0, len(LAST_NAMES), n).tolist()]
        company_idx = rng.integers(0, len(COMPANIES), n).tolist()
        free_mail = rng.random(n) < 0.3
        free_idx = rng.integers(0, len(FREE_MAIL), n).tolist()
        number = rng.integers(1, 100, n).tolist()
        numbered = (rng.random(n) < 0.5).tolist()
        missing = (rng.random(n) < MISSING_EMAIL_SHARE).tolist()
        emails: list[str | None] = []
        for i in range(n):
            if missing[i]:
                emails.append(None)
                continue
            domain = FREE_MAIL[free_idx[i]] if free_mail[i] else COMPANIES[company_idx[i]][1]
            local = f"{first[i]}.{last[i]}".lower().replace("'", "")
            emails.append(f"{local}{number[i] if numbered[i] else ''}@{domain}")
        titles = [TITLES[i] for i in rng.integers(0, len(TITLES), n).tolist()]
        return cls(first, last, emails, titles, [COMPANIES[i][0] for i in company_idx])


def _phones(rng: np.random.Generator, category: np.ndarray, us_pool: _NumberPool, uk_pool: _NumberPool,
            n_contacts: int, size: int) -> tuple[list[str | None], np.ndarray, int]:
    """The Phone values and their E.164 keys (-1 for empty/invalid); also the number of duplicate pairs."""
    n = len(category)
    keys = np.full(n, -1, dtype=np.int64)
    area, exchange, line = (np.zeros(n, dtype=np.int64) for _ in range(3))
    us = np.flatnonzero(category == US)
    area[us], exchange[us], line[us] = _us_parts(us_pool.draw(len(us)))
    fmt = rng.integers(0, len(US_FORMATS), n)
    pairs = max(MIN_DUPLICATE_PAIRS, round(DUPLICATE_PAIR_SHARE * size))
    sources, targets = _pick_duplicates(rng, category, n_contacts, pairs)
    area[targets], exchange[targets], line[targets] = area[sources], exchange[sources], line[sources]
    fmt[targets] = (fmt[sources] + rng.integers(1, len(US_FORMATS), len(targets))) % len(US_FORMATS)
    keys[us] = _us_key(area[us], exchange[us], line[us])
    uk = np.flatnonzero(category == UK)
    keys[uk] = _uk_key(uk_pool.draw(len(uk)))
    ext = rng.integers(10, 100, n)

    values: list[str | None] = [None] * n
    area_l, exchange_l, line_l, fmt_l, ext_l = (a.tolist() for a in (area, exchange, line, fmt, ext))
    for i in us.tolist():
        values[i] = _format_us(area_l[i], exchange_l[i], line_l[i], fmt_l[i], ext_l[i])
    for i, key in zip(uk.tolist(), keys[uk].tolist(), strict=True):
        values[i] = _format_uk(key)
    invalid = np.flatnonzero(category == INVALID).tolist()
    for j, i in enumerate(invalid):
        values[i] = INVALID_PHONES[j % len(INVALID_PHONES)]
    return values, keys, pairs


def _mobiles(rng: np.random.Generator, n: int, us_pool: _NumberPool) -> list[str | None]:
    has = np.flatnonzero(rng.random(n) < MOBILE_SHARE)
    area, exchange, line = (a.tolist() for a in _us_parts(us_pool.draw(len(has))))
    values: list[str | None] = [None] * n
    for j, i in enumerate(has.tolist()):
        values[i] = f"({area[j]}) {exchange[j]}-{line[j]:04d}"
    return values


def _records(columns: dict[str, Sequence[Any]], n: int) -> list[Record]:
    """Column lists -> one dict per row, leaving out empty (None) values as a Salesforce export would.

    Filled column by column (one tight loop per field): about twice as fast as building each row's dict
    and then filtering out its empty values.
    """
    records: list[Record] = [{} for _ in range(n)]
    for key, values in columns.items():
        for record, value in zip(records, values, strict=True):
            if value is not None:
                record[key] = value
    return records


def _salesforce_records(rng: np.random.Generator, n_contacts: int, people: _People, phones: list[str | None],
                        mobiles: list[str | None], category: np.ndarray) -> tuple[list[Record], list[Record]]:
    n = len(phones)
    weights = np.array([c[2] for c in CITIES], dtype=float)
    city_idx = rng.choice(len(CITIES), size=n, p=weights / weights.sum()).tolist()
    uk = (category == UK).tolist()
    city = ["London" if uk[i] else CITIES[c][0] for i, c in enumerate(city_idx)]
    state = [None if uk[i] else CITIES[c][1] for i, c in enumerate(city_idx)]
    country = ["United Kingdom" if is_uk else "United States" for is_uk in uk]
    tiers = _weighted(rng, CUSTOMER_TIERS, TIER_WEIGHTS, n)
    languages = _weighted(rng, LANGUAGES, LANGUAGE_WEIGHTS, n)
    statuses = _weighted(rng, LEAD_STATUSES, LEAD_STATUS_WEIGHTS, n)

    def common(part: slice) -> dict[str, Sequence[Any]]:
        return {
            "FirstName": people.first[part], "LastName": people.last[part], "Email": people.email[part],
            "Phone": phones[part], "MobilePhone": mobiles[part], "Title": people.title[part],
            "Customer_Tier__c": tiers[part], "Preferred_Language__c": languages[part],
        }

    contact_part, lead_part = slice(0, n_contacts), slice(n_contacts, n)
    contacts = _records({**common(contact_part), "MailingCity": city[contact_part],
                         "MailingState": state[contact_part], "MailingCountry": country[contact_part]}, n_contacts)
    leads = _records({**common(lead_part), "Company": people.company[lead_part], "Status": statuses[lead_part],
                      "City": city[lead_part], "State": state[lead_part]}, n - n_contacts)
    return contacts, leads


def _heymarket_contacts(rng: np.random.Generator, size: int, sf_keys: np.ndarray, targets: np.ndarray,
                        sf_people: _People, sf_records: list[Record], us_pool: _NumberPool) -> list[Record]:
    """About size/2 contacts; half share a phone with a Salesforce record (as E.164 digits)."""
    total = max(2, round(size * HEYMARKET_SHARE))
    n_overlap = round(total * OVERLAP_SHARE)
    candidates = np.flatnonzero(sf_keys >= 0)
    candidates = candidates[~_member(candidates, targets)]  # one Heymarket contact per shared number
    overlap = np.sort(rng.choice(candidates, size=n_overlap, replace=False))
    fresh_keys = _us_key(*_us_parts(us_pool.draw(total - n_overlap)))
    phones = np.concatenate([sf_keys[overlap], fresh_keys]).tolist()
    others = _People.make(rng, total - n_overlap)
    differs = rng.random(n_overlap) < DIFFERENT_FIELD_SHARE
    tiers = _weighted(rng, CUSTOMER_TIERS, TIER_WEIGHTS, total)
    languages = _weighted(rng, LANGUAGES, LANGUAGE_WEIGHTS, total)
    offsets = rng.integers(0, DAYS_BACK * 86_400 * 1_000_000, total)
    updated = np.datetime_as_string(HEYMARKET_BASE_TIME - offsets.astype("timedelta64[us]"), unit="us")
    ages = rng.integers(0, 365 * 86_400 * 1_000_000, total)
    created = np.datetime_as_string(HEYMARKET_BASE_TIME - (offsets + ages).astype("timedelta64[us]"), unit="us")
    # Overlapping contacts (the first n_overlap) carry the Salesforce person's values, some changed.
    shared = overlap.tolist()
    first = [sf_people.first[i] for i in shared] + others.first
    last = [sf_people.last[i] for i in shared] + others.last
    email = [sf_people.email[i] for i in shared] + others.email
    tier = [sf_records[i].get("Customer_Tier__c") for i in shared] + tiers[n_overlap:]
    language = [sf_records[i].get("Preferred_Language__c") for i in shared] + languages[n_overlap:]
    for j in np.flatnonzero(differs).tolist():
        first[j] = FIRST_NAMES[(FIRST_NAMES.index(first[j]) + 1) % len(FIRST_NAMES)]
        tier[j] = tiers[j]
    custom = [{key: value for key, value in ((TIER_FIELD, t), (LANGUAGE_FIELD, lang)) if value}
              for t, lang in zip(tier, language, strict=True)]
    contacts = _records({
        "phone": [str(p) for p in phones], "first": first, "last": last, "email": email, "custom": custom,
        "created": [c + "Z" for c in created.tolist()], "updated": [u + "Z" for u in updated.tolist()],
    }, total)
    return contacts


def _heymarket_messages(seed: int, hm_keys: np.ndarray, sf_keys: np.ndarray,
                        us_pool: _NumberPool) -> tuple[list[Record], dict[str, int]]:
    """Conversations of a few messages on some Heymarket contacts and on a few contact-less phones.

    Returns the ``messages`` load records (oldest first, so message ids grow with time) and their facts.
    """
    rng = np.random.default_rng([seed, MESSAGES_STREAM])
    n_known = min(len(hm_keys), max(1, round(len(hm_keys) * CONVERSATION_SHARE)))
    n_strangers = max(MIN_STRANGERS, round(n_known * STRANGER_SHARE))
    sf_only = _distinct(sf_keys[sf_keys >= 0])
    sf_only = sf_only[~_member(sf_only, hm_keys)]
    n_sf_only = min(len(sf_only), n_strangers // 2)
    phones = np.concatenate([
        rng.choice(hm_keys, size=n_known, replace=False),
        rng.choice(sf_only, size=n_sf_only, replace=False),
        _us_key(*_us_parts(us_pool.draw(n_strangers - n_sf_only))),
    ])
    n_conv = len(phones)
    lo, hi = MESSAGES_PER_CONVERSATION
    counts = rng.integers(lo, hi + 1, n_conv)
    total = int(counts.sum())
    conv = np.repeat(np.arange(n_conv), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ends = starts + counts
    position = np.arange(total) - starts[conv]

    # Times: the last message of a conversation is up to DAYS_BACK days old; earlier ones go back by gaps.
    gaps = rng.integers(MESSAGE_GAP_SECONDS[0] * 1_000_000, MESSAGE_GAP_SECONDS[1] * 1_000_000, total)
    suffix = np.concatenate([np.cumsum(gaps[::-1])[::-1], [0]])  # suffix[j] = gaps[j:].sum()
    back = suffix[np.arange(total) + 1] - suffix[ends[conv]]  # gaps after j within its conversation
    last_age = rng.integers(0, DAYS_BACK * 86_400 * 1_000_000, n_conv)
    date_us = (HEYMARKET_BASE_TIME - (last_age[conv] + back).astype("timedelta64[us]"))

    # Direction: the first message is inbound or outbound, each next one switches with REPLY_SHARE.
    first_inbound = rng.random(n_conv) < FIRST_INBOUND_SHARE
    switch = (rng.random(total) < REPLY_SHARE) & (position > 0)
    switched = np.cumsum(switch)
    parity = (switched - switched[starts][conv]) % 2 == 1
    inbound = first_inbound[conv] ^ parity

    inbox_pick = rng.integers(0, len(DEMO_INBOXES), n_conv)[conv]
    member_pick = rng.integers(0, 1 << 30, total)
    status_pick = rng.choice(len(OUTBOUND_STATUSES), size=total, p=np.asarray(OUTBOUND_STATUS_WEIGHTS))
    receipt_us = rng.integers(1_000_000, 30_000_000, total)
    media = (rng.random(total) < MEDIA_SHARE) & ~inbound
    in_text = rng.integers(0, len(INBOUND_TEXTS), total)
    out_text = rng.integers(0, len(OUTBOUND_TEXTS), total)
    receipt = ~inbound & (np.asarray(OUTBOUND_STATUSES)[status_pick] != "sent")
    updated_us = date_us + np.where(receipt, receipt_us, 0).astype("timedelta64[us]")

    order = np.argsort(date_us, kind="stable")
    dates = np.datetime_as_string(date_us[order], unit="us").tolist()
    updates = np.datetime_as_string(updated_us[order], unit="us").tolist()
    phone_l, inbound_l = phones[conv[order]].tolist(), inbound[order].tolist()
    inbox_l, member_l, status_l = inbox_pick[order].tolist(), member_pick[order].tolist(), status_pick[order].tolist()
    media_l, in_l, out_l = media[order].tolist(), in_text[order].tolist(), out_text[order].tolist()
    records: list[Record] = []
    for j in range(total):
        inbox_id, members = DEMO_INBOXES[inbox_l[j]]
        record: Record = {"phone": str(phone_l[j]), "inbox_id": inbox_id, "date": dates[j] + "Z",
                          "updated": updates[j] + "Z"}
        if inbound_l[j]:
            record.update(direction="inbound", text=INBOUND_TEXTS[in_l[j]])
        else:
            record.update(direction="outbound", text=OUTBOUND_TEXTS[out_l[j]],
                          user=members[member_l[j] % len(members)], status=OUTBOUND_STATUSES[status_l[j]])
            if media_l[j]:
                record["media"] = MEDIA_URL.format(n=j)
        records.append(record)
    valid_sf = sf_keys[sf_keys >= 0]
    facts = {
        "messages": total,
        "inbound": int(inbound.sum()),
        "outbound": int((~inbound).sum()),
        "mms": int(media.sum()),
        "conversations": n_conv,
        "contacts_with_conversations": n_known,
        "stranger_conversations": n_strangers,
        "stranger_messages": int(counts[n_known:].sum()),
        "stranger_salesforce_phones": n_sf_only,
        "matching_salesforce": int(_member(phones[conv], valid_sf).sum()),
    }
    return records, facts


def _salesforce_users() -> list[Record]:
    return [
        {"Username": f"{first.lower()}.{last.lower()}@demo-org.example.com", "FirstName": first, "LastName": last,
         "Email": email, "Alias": (first[0] + last)[:8].lower(), "IsActive": True,
         "TimeZoneSidKey": "America/Los_Angeles", "LocaleSidKey": "en_US", "EmailEncodingKey": "UTF-8",
         "LanguageLocaleKey": "en_US", "ProfileId": DEMO_PROFILE_ID}
        for first, last, email in SALESFORCE_USERS
    ]


def _object_facts(keys: np.ndarray, category: np.ndarray, duplicated: np.ndarray, in_heymarket: np.ndarray,
                  in_view: np.ndarray) -> dict[str, int]:
    return {
        "records": len(keys),
        "valid_phone": int((keys >= 0).sum()),
        "us_phone": int((category == US).sum()),
        "uk_phone": int((category == UK).sum()),
        "invalid_phone": int((category == INVALID).sum()),
        "no_phone": int((category == EMPTY).sum()),
        "duplicate_phone": int(duplicated.sum()),
        "overlap_heymarket": int(in_heymarket.sum()),
        "in_list_view": int(in_view.sum()),
    }


def _expected(size: int, seed: int, n_contacts: int, sf_keys: np.ndarray, category: np.ndarray,
              hm_keys: np.ndarray, contacts: list[Record], leads: list[Record]) -> dict[str, Any]:
    """Facts computed from the generated data (not from the intended shares), per object."""
    valid = sf_keys[sf_keys >= 0]
    numbers, counts = np.unique(valid, return_counts=True)
    shared = numbers[counts > 1]
    duplicated = _member(sf_keys, shared)
    in_heymarket = _member(sf_keys, hm_keys)
    contact_keys, lead_keys = sf_keys[:n_contacts], sf_keys[n_contacts:]
    cross = np.intersect1d(_distinct(contact_keys[contact_keys >= 0]), _distinct(lead_keys[lead_keys >= 0]),
                           assume_unique=True)
    ca = np.array([c.get("MailingState") == "CA" for c in contacts], dtype=bool)
    open_leads = np.array([ld.get("Status") == "Open - Not Contacted" for ld in leads], dtype=bool)
    hm_overlap = int(_member(hm_keys, valid).sum())
    hm_emails = {u["email"].lower() for u in heymarket_seed.SEED_USERS}
    return {
        "size": size,
        "seed": seed,
        "phone_field": PHONE_FIELD,
        "default_region": DEFAULT_REGION,
        "Contact": _object_facts(contact_keys, category[:n_contacts], duplicated[:n_contacts],
                                 in_heymarket[:n_contacts], ca),
        "Lead": _object_facts(lead_keys, category[n_contacts:], duplicated[n_contacts:],
                              in_heymarket[n_contacts:], open_leads),
        "duplicate_phone_numbers": len(shared),
        "duplicate_contact_lead_numbers": len(cross),
        "heymarket": {"contacts": len(hm_keys), "overlap": hm_overlap, "only_heymarket": len(hm_keys) - hm_overlap,
                      "fields": len(CUSTOM_FIELDS), "users": len(heymarket_seed.SEED_USERS)},
        "list_views": {"CA_Contacts": int(ca.sum()), "Open_Leads": int(open_leads.sum())},
        "users": {
            "salesforce": len(SALESFORCE_USERS),
            "matching_heymarket_by_email": sum(e.lower() in hm_emails for _, _, e in SALESFORCE_USERS),
            "case_differs": sum(e.lower() in hm_emails and e not in {u["email"] for u in heymarket_seed.SEED_USERS}
                                for _, _, e in SALESFORCE_USERS),
        },
    }


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small dicts are made.

    The records hold no reference cycles, but every allocation burst still triggers full collections
    that walk all records made so far: at 1,000,000 records that doubles the run time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def generate(size: int = 50, seed: int = 7) -> DemoData:
    """Build the demo data set.

    :param size: number of Salesforce records (about 60 % Contacts, 40 % Leads); at least 20 so that every
        kind of messy phone appears in both objects.
    :param seed: the same seed always gives the same data.
    """
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} to hold every phone case; got {size}")
    with _collector_paused():
        return _generate(size, seed)


def _generate(size: int, seed: int) -> DemoData:
    rng = np.random.default_rng(seed)
    n_contacts = round(size * CONTACT_SHARE)
    us_pool = _NumberPool(len(US_AREA_CODES) * len(US_EXCHANGES) * 10_000, rng)
    uk_pool = _NumberPool(len(UK_LONDON_LEADS) * 10_000_000, rng)
    category = _categories(rng, n_contacts, size - n_contacts)
    phones, sf_keys, pairs = _phones(rng, category, us_pool, uk_pool, n_contacts, size)
    targets = _pick_targets(sf_keys)
    people = _People.make(rng, size)
    mobiles = _mobiles(rng, size, us_pool)
    contacts, leads = _salesforce_records(rng, n_contacts, people, phones, mobiles, category)
    hm_contacts = _heymarket_contacts(rng, size, sf_keys, targets, people, contacts + leads, us_pool)
    hm_keys = np.array([int(c["phone"]) for c in hm_contacts], dtype=np.int64)
    messages, message_facts = _heymarket_messages(seed, hm_keys, sf_keys, us_pool)
    salesforce = {
        "FieldDefinition": [dict(f) for f in FIELD_DEFINITIONS],
        "User": _salesforce_users(),
        "Contact": contacts,
        "Lead": leads,
        "ListView": [dict(v) for v in LIST_VIEWS],
    }
    heymarket = {
        "fields": [dict(f) for f in CUSTOM_FIELDS],
        "users": [dict(u) for u in heymarket_seed.SEED_USERS],
        "inboxes": [dict(i, members=list(i["members"])) for i in heymarket_seed.SEED_INBOXES],
        "contacts": hm_contacts,
        "messages": messages,
    }
    expected = _expected(size, seed, n_contacts, sf_keys, category, hm_keys, contacts, leads)
    expected["duplicate_pairs_made"] = pairs
    expected["messages"] = message_facts
    return DemoData(salesforce, heymarket, expected)


def _pick_targets(sf_keys: np.ndarray) -> np.ndarray:
    """Records whose number already appeared on an earlier record (the second of each duplicate)."""
    valid = np.flatnonzero(sf_keys >= 0)
    order = np.argsort(sf_keys[valid], kind="stable")
    ordered = sf_keys[valid][order]
    repeat = np.concatenate([[False], ordered[1:] == ordered[:-1]])
    return np.sort(valid[order[repeat]])


def _member(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``np.isin`` by binary search (``np.isin`` also takes the slow hash path on large int64 arrays)."""
    pool = _distinct(pool)
    if not len(pool):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(pool, values), len(pool) - 1)
    return pool[at] == values


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values. Plain ``np.unique`` takes a hash path that is 50x slower on large int64."""
    ordered = np.sort(values)
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(ordered) else ordered


# --- CLI -------------------------------------------------------------------------------------------------


def _post_load(base_url: str, payload: dict[str, Any], verify: str | bool) -> dict[str, int]:
    from emulators.common.client import AdminClient

    return AdminClient(base_url.rstrip("/"), verify=verify).load(payload)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.demo_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=50, help="Salesforce records (Contacts + Leads)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="write salesforce.json, heymarket.json, expected.json here")
    parser.add_argument("--load-salesforce", metavar="URL", help="POST the Salesforce data to URL/__admin/load")
    parser.add_argument("--load-heymarket", metavar="URL", help="POST the Heymarket data to URL/__admin/load")
    parser.add_argument("--ca-bundle", type=Path, help="CA bundle trusting the Salesforce emulator's certificate")
    args = parser.parse_args(argv)
    if not (args.out or args.load_salesforce or args.load_heymarket):
        parser.error("nothing to do: give --out and/or --load-salesforce/--load-heymarket")

    started = time.perf_counter()
    data = generate(args.size, args.seed)
    print(f"generated {args.size} Salesforce records, {len(data.heymarket['contacts'])} Heymarket contacts and "
          f"{len(data.heymarket['messages'])} messages in {time.perf_counter() - started:.1f}s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, content in (("salesforce", data.salesforce), ("heymarket", data.heymarket),
                              ("expected", data.expected)):
            (args.out / f"{name}.json").write_text(json.dumps(content, indent=None if name != "expected" else 2))
        print(f"wrote salesforce.json, heymarket.json and expected.json to {args.out}")
    verify: str | bool = str(args.ca_bundle) if args.ca_bundle else True
    if args.load_salesforce:
        print(f"salesforce emulator loaded: {_post_load(args.load_salesforce, data.salesforce, verify)}")
    if args.load_heymarket:
        print(f"heymarket emulator loaded: {_post_load(args.load_heymarket, data.heymarket, verify)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
