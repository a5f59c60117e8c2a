"""The demo data generator: deterministic, the advertised phone mix (checked independently with
phonenumbers), and payloads both emulators accept."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from emulators import demo_data
from emulators.common import credentials
from emulators.common.client import AdminClient
from emulators.common.process import EmulatorProcess
from emulators.demo_data import DemoData, generate
from tests.oracle_phones import e164_digits as oracle_e164

INVALID = "invalid"
US_FORMAT_PATTERNS = {
    "parentheses": r"^\(\d{3}\) \d{3}-\d{4}$",
    "dots": r"^\d{3}\.\d{3}\.\d{4}$",
    "plus_one_spaces": r"^\+1 \d{3} \d{3} \d{4}$",
    "eleven_digits": r"^1\d{10}$",
    "extension": r"^\d{3}-\d{3}-\d{4} ext\. \d+$",
    "uk": r"^\+44 20 \d{4} \d{4}$",
}


def e164_digits(raw: str | None) -> str | None:
    """What the pipeline would match on: E.164 digits without '+', INVALID, or None for no phone."""
    if not raw:
        return None
    return oracle_e164(raw) or INVALID


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate(200, seed=11)


def test_same_seed_same_data_other_seed_other_data() -> None:
    first, again = generate(60, seed=3), generate(60, seed=3)
    assert first == again
    assert json.dumps(first.salesforce) == json.dumps(again.salesforce)
    assert generate(60, seed=4).salesforce != first.salesforce
    with pytest.raises(ValueError, match="at least 20"):
        generate(10)


def test_salesforce_split_and_fields(demo: DemoData) -> None:
    contacts, leads = demo.salesforce["Contact"], demo.salesforce["Lead"]
    assert (len(contacts), len(leads)) == (120, 80)
    assert all({"FirstName", "LastName", "Title"} <= set(c) for c in contacts + leads)
    assert all({"Company", "Status"} <= set(ld) for ld in leads)
    assert {c.get("MailingState") for c in contacts} >= {"CA", "NY", None}
    assert all(set(c) <= {"FirstName", "LastName", "Email", "Phone", "MobilePhone", "Title", "MailingCity",
                          "MailingState", "MailingCountry", "Customer_Tier__c", "Preferred_Language__c"}
               for c in contacts)
    emails = [r["Email"] for r in contacts + leads if "Email" in r]
    assert all(re.match(r"^[a-z.]+\d*@[a-z.-]+\.[a-z]+$", e) for e in emails)
    assert [v["DeveloperName"] for v in demo.salesforce["ListView"]] == ["CA_Contacts", "Open_Leads"]


@pytest.mark.parametrize("obj", ["Contact", "Lead"])
def test_phone_mix_matches_expected_counts(demo: DemoData, obj: str) -> None:
    records = demo.salesforce[obj]
    keys = [e164_digits(r.get("Phone")) for r in records]
    all_keys = Counter(k for r in demo.salesforce["Contact"] + demo.salesforce["Lead"]
                       if (k := e164_digits(r.get("Phone"))) not in (None, INVALID))
    hm_phones = {c["phone"] for c in demo.heymarket["contacts"]}
    facts = demo.expected[obj]
    assert facts["records"] == len(records)
    assert facts["no_phone"] == keys.count(None) >= 1
    assert facts["invalid_phone"] == keys.count(INVALID) >= 2
    assert facts["valid_phone"] == len(records) - keys.count(None) - keys.count(INVALID)
    assert facts["duplicate_phone"] == sum(1 for k in keys if k and all_keys.get(k, 0) > 1) >= 1
    assert facts["overlap_heymarket"] == sum(1 for k in keys if k in hm_phones) > 0
    assert facts["uk_phone"] == sum(1 for k in keys if k and k.startswith("44")) >= 1


def test_every_format_and_invalid_kind_appears(demo: DemoData) -> None:
    phones = [r["Phone"] for r in demo.salesforce["Contact"] + demo.salesforce["Lead"] if "Phone" in r]
    for name, pattern in US_FORMAT_PATTERNS.items():
        assert any(re.match(pattern, p) for p in phones), f"no {name} phone"
    assert set(demo_data.INVALID_PHONES) <= set(phones)
    valid = [p for p in phones if e164_digits(p) not in (None, INVALID)]
    assert not any("555" in e164_digits(p)[4:7] for p in valid), "no fictional 555 exchanges"


def test_duplicates_include_a_contact_and_a_lead(demo: DemoData) -> None:
    contact_keys = {e164_digits(c.get("Phone")) for c in demo.salesforce["Contact"]} - {None, INVALID}
    lead_keys = {e164_digits(c.get("Phone")) for c in demo.salesforce["Lead"]} - {None, INVALID}
    shared = contact_keys & lead_keys
    assert len(shared) == demo.expected["duplicate_contact_lead_numbers"] >= 1
    raw_by_key: dict[str, set[str]] = {}
    for record in demo.salesforce["Contact"] + demo.salesforce["Lead"]:
        key = e164_digits(record.get("Phone"))
        if key and key != INVALID:
            raw_by_key.setdefault(key, set()).add(record["Phone"])
    assert any(len(raws) > 1 for raws in raw_by_key.values()), "a duplicate is written in another format"


def test_heymarket_side(demo: DemoData) -> None:
    contacts = demo.heymarket["contacts"]
    assert len(contacts) == demo.expected["heymarket"]["contacts"] == 100
    assert all(re.match(r"^[1-9]\d{7,14}$", c["phone"]) for c in contacts)
    assert len({c["phone"] for c in contacts}) == len(contacts)
    sf_keys = {e164_digits(r.get("Phone")) for r in demo.salesforce["Contact"] + demo.salesforce["Lead"]}
    overlap = [c for c in contacts if c["phone"] in sf_keys]
    assert len(overlap) == demo.expected["heymarket"]["overlap"] == 50
    sf_raw = {r.get("Phone") for r in demo.salesforce["Contact"] + demo.salesforce["Lead"]}
    assert not any(c["phone"] in sf_raw and not c["phone"].startswith("1") for c in overlap)
    assert sum(c["phone"] not in sf_raw for c in overlap) > len(overlap) // 2, "mostly in another format"
    field_ids = {str(f["id"]) for f in demo.heymarket["fields"]}
    assert [f["title"] for f in demo.heymarket["fields"]] == ["Customer Tier", "Preferred Language"]
    assert all(set(c["custom"]) <= field_ids for c in contacts)
    assert all(c["updated"].endswith("Z") and c["created"] <= c["updated"] for c in contacts)


def test_heymarket_conversations(demo: DemoData) -> None:
    messages, facts = demo.heymarket["messages"], demo.expected["messages"]
    contact_phones = {c["phone"] for c in demo.heymarket["contacts"]}
    sf_keys = {e164_digits(r.get("Phone")) for r in demo.salesforce["Contact"] + demo.salesforce["Lead"]}
    members = {i["id"]: set(i["members"]) for i in demo.heymarket["inboxes"]}
    assert len(messages) == facts["messages"] > 0
    assert sum(m["direction"] == "inbound" for m in messages) == facts["inbound"] > 0
    assert sum(m["direction"] == "outbound" for m in messages) == facts["outbound"] > 0
    assert sum("media" in m for m in messages) == facts["mms"]
    for m in messages:
        assert re.match(r"^[1-9]\d{7,14}$", m["phone"]) and m["updated"] >= m["date"]
        if m["direction"] == "inbound":
            assert "user" not in m and m["text"] in demo_data.INBOUND_TEXTS
        else:
            assert m["user"] in members[m["inbox_id"]] and m["text"] in demo_data.OUTBOUND_TEXTS
            assert m["status"] in demo_data.OUTBOUND_STATUSES
    assert [m["date"] for m in messages] == sorted(m["date"] for m in messages), "oldest first: ids grow with time"
    threads = {(m["inbox_id"], m["phone"]) for m in messages}
    assert len(threads) == facts["conversations"]
    strangers = {p for _, p in threads} - contact_phones
    assert len(strangers) == facts["stranger_conversations"] >= 2, "some conversations have no contact"
    assert sum(m["phone"] in strangers for m in messages) == facts["stranger_messages"]
    assert len(strangers & sf_keys) == facts["stranger_salesforce_phones"] >= 1, "one texted in, is only in Salesforce"
    assert sum(m["phone"] in sf_keys for m in messages) == facts["matching_salesforce"]
    assert len({p for _, p in threads} & contact_phones) == facts["contacts_with_conversations"] == 30


def test_users_match_by_email_with_one_case_difference(demo: DemoData) -> None:
    sf_emails = [u["Email"] for u in demo.salesforce["User"]]
    hm_emails = [u["email"] for u in demo.heymarket["users"]]
    matches = [e for e in sf_emails if e.lower() in {h.lower() for h in hm_emails}]
    assert len(sf_emails) == 4 and len(matches) == demo.expected["users"]["matching_heymarket_by_email"] == 3
    assert sum(e not in hm_emails for e in matches) == demo.expected["users"]["case_differs"] == 1


def test_list_view_counts(demo: DemoData) -> None:
    ca = sum(c.get("MailingState") == "CA" for c in demo.salesforce["Contact"])
    open_leads = sum(ld["Status"] == "Open - Not Contacted" for ld in demo.salesforce["Lead"])
    assert demo.expected["list_views"] == {"CA_Contacts": ca, "Open_Leads": open_leads}
    assert 0 < ca < 120 and 0 < open_leads < 80


def test_scales_with_stable_shares() -> None:
    started = time.perf_counter()
    big = generate(20_000, seed=5)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"20,000 records took {elapsed:.1f}s"
    contact = big.expected["Contact"]
    assert contact["records"] == 12_000
    assert contact["no_phone"] == 720 and contact["invalid_phone"] == 480 and contact["uk_phone"] == 240
    assert big.expected["duplicate_pairs_made"] == 300
    assert big.expected["heymarket"] == {"contacts": 10_000, "overlap": 5_000, "only_heymarket": 5_000,
                                         "fields": 2, "users": 3}
    messages = big.expected["messages"]
    assert (messages["contacts_with_conversations"], messages["stranger_conversations"]) == (3_000, 150)
    assert 3 * 3_150 < messages["messages"] < 4 * 3_150, "1 to 6 messages per conversation, 3.5 on average"
    assert len(big.heymarket["messages"]) == messages["messages"]
    sample = big.salesforce["Lead"][:500]
    assert sum(e164_digits(r.get("Phone")) not in (None, INVALID) for r in sample) > 400


def test_loads_into_heymarket_emulator(heymarket_emulator: EmulatorProcess, hm_admin: AdminClient,
                                       demo: DemoData) -> None:
    loaded = hm_admin.load(demo.heymarket)
    assert loaded == {"users": 3, "inboxes": 2, "fields": 2, "contacts": 100,
                      "messages": demo.expected["messages"]["messages"]}
    headers = {"Authorization": f"Bearer {credentials.HEYMARKET_API_KEY}"}
    count = requests.post(f"{heymarket_emulator.base_url}/v1/contacts/count", json={}, headers=headers, timeout=10)
    assert count.json() == 100
    users = requests.get(f"{heymarket_emulator.base_url}/v1/users/get", headers=headers, timeout=10)
    assert len(users.json()["memberships"]) == 3, "demo users restate the seeds, they are not added twice"
    newest = requests.post(f"{heymarket_emulator.base_url}/v1/contacts", json={"limit": 1}, headers=headers,
                           timeout=10).json()[0]
    assert newest["updated"] == max(c["updated"] for c in demo.heymarket["contacts"])
    count = requests.post(f"{heymarket_emulator.base_url}/v1/messages/all/count", headers=headers, timeout=10)
    assert count.json() == str(demo.expected["messages"]["messages"])
    latest = requests.post(f"{heymarket_emulator.base_url}/v1/messages/all", json={"limit": 1}, headers=headers,
                           timeout=10).json()[0]
    assert latest["date"] == demo.heymarket["messages"][-1]["date"]


def test_loads_into_salesforce_emulator_and_list_views_run(salesforce_emulator: EmulatorProcess,
                                                           sf_admin: AdminClient, demo: DemoData) -> None:
    from simple_salesforce import Salesforce

    loaded = sf_admin.load(demo.salesforce)
    assert loaded["Contact"] == 120 and loaded["Lead"] == 80 and loaded["ListView"] == 2
    sf = Salesforce(
        username=credentials.SALESFORCE_USERNAME, password=credentials.SALESFORCE_PASSWORD,
        security_token=credentials.SALESFORCE_SECURITY_TOKEN, version=credentials.SALESFORCE_API_VERSION,
        domain=f"127.0.0.1:{salesforce_emulator.port}/services/Soap/u/{credentials.SALESFORCE_API_VERSION}#",
    )
    for obj, name in (("Contact", "CA_Contacts"), ("Lead", "Open_Leads")):
        views = sf.restful(f"sobjects/{obj}/listviews")["listviews"]
        view = next(v for v in views if v["developerName"] == name)
        query = sf.restful(f"sobjects/{obj}/listviews/{view['id']}/describe")["query"]
        assert sf.query_all(query)["totalSize"] == demo.expected["list_views"][name]


def test_cli_writes_files_and_loads_both_emulators(
    tmp_path: Path, heymarket_emulator: EmulatorProcess, hm_admin: AdminClient,
    salesforce_emulator: EmulatorProcess, sf_admin: AdminClient, capsys: pytest.CaptureFixture[str],
) -> None:
    code = demo_data.main([
        "--size", "40", "--seed", "2", "--out", str(tmp_path), "--load-heymarket", heymarket_emulator.base_url,
        "--load-salesforce", salesforce_emulator.base_url, "--ca-bundle", str(salesforce_emulator.tls_cert),
    ])
    assert code == 0
    written: dict[str, Any] = {n: json.loads((tmp_path / f"{n}.json").read_text())
                               for n in ("salesforce", "heymarket", "expected")}
    expected = generate(40, seed=2)
    assert written["salesforce"] == expected.salesforce and written["heymarket"] == expected.heymarket
    assert written["expected"] == json.loads(json.dumps(expected.expected))
    hm_dump = hm_admin.dump()
    assert len(hm_dump["contacts"]) == 20 and len(hm_dump["messages"]) == expected.expected["messages"]["messages"]
    sf_dump = sf_admin.dump()
    assert len(sf_dump["Contact"]) == 24 and len(sf_dump["Lead"]) == 16
    out = capsys.readouterr().out
    assert "heymarket emulator loaded" in out and "salesforce emulator loaded" in out
