"""The Heymarket emulator's contact API over a real socket: paging, CRUD, batches, v2, fields, team, errors."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.common import credentials
from emulators.common.client import AdminClient
from emulators.common.process import EmulatorProcess

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@dataclass
class Api:
    """Plain ``requests`` against the emulator with the team API key."""

    base_url: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.headers["Authorization"] = f"Bearer {credentials.HEYMARKET_API_KEY}"

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None:
            kwargs["json"] = body
        resp = self.session.request(method, self.base_url + path, timeout=30, **kwargs)
        assert UUID.match(resp.headers.get("X-Request-Id", "")), "every response carries X-Request-Id"
        return resp

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        resp = self.call(method, path, body, **kwargs)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture
def api(heymarket_emulator: EmulatorProcess, hm_admin: AdminClient) -> Api:
    return Api(heymarket_emulator.base_url)


def assert_error(resp: requests.Response, status: int, name: str, mentions: str = "") -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == name
    assert mentions in body["message"]


def phone(n: int) -> str:
    return f"1415{2_000_000 + n:07d}"


def load_contacts(hm_admin: AdminClient, count: int) -> None:
    hm_admin.load({"contacts": [{"phone": phone(i), "first": f"First{i}", "last": "Doe"} for i in range(count)]})


# --- listing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [100, None])
def test_date_cursor_walk_sees_every_contact_once(api: Api, hm_admin: AdminClient, limit: int | None) -> None:
    load_contacts(hm_admin, 250)
    seen: dict[int, dict[str, Any]] = {}
    body: dict[str, Any] = {} if limit is None else {"limit": limit}
    requests_made = 0
    while True:
        page = api.ok("POST", "/v1/contacts", body)
        requests_made += 1
        assert len(page) <= (limit or 30)
        keys = [(c["updated"], c["id"]) for c in page]
        assert keys == sorted(keys, reverse=True), "newest updated first, ties by id descending"
        new = [c for c in page if c["id"] not in seen]
        seen.update((c["id"], c) for c in page)
        if not new:
            break
        body = {**body, "date": page[-1]["updated"]}
        assert requests_made < 20
    assert len(seen) == 250
    assert {c["phone"] for c in seen.values()} == {phone(i) for i in range(250)}
    # Inclusive cursor: each next page starts with the previous page's last item.
    page_size = limit or 30
    assert requests_made == -(-249 // (page_size - 1)) + 1


def test_page_offset_walk_ends_with_empty_array(api: Api, hm_admin: AdminClient) -> None:
    load_contacts(hm_admin, 250)
    first = api.ok("POST", "/v1/contacts", {"limit": 100})
    date = first[0]["updated"]
    ids: list[int] = []
    for page_no in range(1, 10):
        page = api.ok("POST", "/v1/contacts", {"limit": 100, "page": page_no, "date": date})
        if not page:
            break
        ids += [c["id"] for c in page]
    assert page == [] and page_no == 4
    assert len(ids) == len(set(ids)) == 250
    assert api.ok("POST", "/v1/contacts", {"limit": 100, "page": 0}) == first, "page 0 and 1 are both first"


def test_ascending_date_filter_is_inclusive_and_limit_is_clamped(api: Api, hm_admin: AdminClient) -> None:
    load_contacts(hm_admin, 150)
    everything = api.ok("POST", "/v1/contacts", {"limit": 500})
    assert len(everything) == 100, "limit above 100 is clamped"
    oldest_first = api.ok("POST", "/v2/contacts/list", {"ascending": True, "limit": 30, "page": 0})
    keys = [(c["updated"], c["id"]) for c in oldest_first]
    assert keys == sorted(keys)
    middle = oldest_first[10]
    later = api.ok("POST", "/v1/contacts", {"ascending": True, "date": middle["updated"], "limit": 5})
    assert later[0]["id"] == middle["id"]
    assert [c["id"] for c in later] == [c["id"] for c in oldest_first[10:15]]


def test_count_and_contact_shape(api: Api, hm_admin: AdminClient) -> None:
    assert api.ok("POST", "/v1/contacts/count", {}) == 0
    load_contacts(hm_admin, 7)
    assert api.ok("POST", "/v1/contacts/count", {}) == 7
    assert api.ok("POST", "/v1/contacts/count") == 7, "an empty body is accepted too"
    contact = api.ok("POST", "/v1/contacts", {"limit": 1})[0]
    expected_keys = {"id", "uuid", "phone", "first", "last", "display_name", "email", "avatar", "custom",
                     "team_id", "creator_id", "inbox_id", "parent_id", "assigned_user_id", "shared", "created",
                     "updated", "rev", "op", "type", "external_id", "external_ref", "note", "tags",
                     "is_opted_out"}
    assert set(contact) == expected_keys
    assert TIMESTAMP.match(contact["updated"]) and UUID.match(contact["uuid"])
    assert contact["display_name"] == f"{contact['first']} Doe"


def test_duplicate_timestamps_setting_makes_writes_share_updated(api: Api, hm_admin: AdminClient) -> None:
    hm_admin.load({"settings": {"duplicate_timestamps": True}})
    ids = [api.ok("POST", "/v1/contact", {"phone": phone(i)})["id"] for i in range(5)]
    page = api.ok("POST", "/v1/contacts", {})
    assert len({c["updated"] for c in page}) == 1
    assert [c["id"] for c in page] == sorted(ids, reverse=True), "ties broken by id, newest id first"


# --- single contacts (v1) ---------------------------------------------------------------------------------


def test_create_get_by_id_and_phone(api: Api) -> None:
    created = api.ok("POST", "/v1/contact", {"phone": phone(1), "first": "Ana", "last": "Lima",
                                             "email": "ana@example.com"})
    assert set(created) == {"id", "rev", "uuid"} and created["rev"] == 1
    other = api.ok("POST", "/v1/contact", {"phone": phone(2), "first": "Bo"})
    by_id = api.ok("GET", f"/v1/contact/{created['id']}")
    assert by_id["display_name"] == "Ana Lima" and by_id["uuid"] == created["uuid"]
    by_phone = api.ok("POST", "/v1/contact/get", {"phone": phone(1)})
    assert by_phone["id"] == created["id"]
    phone_wins = api.ok("POST", "/v1/contact/get", {"phone": phone(1), "id": str(other["id"])})
    assert phone_wins["id"] == created["id"]
    assert api.ok("POST", "/v1/contact/get", {"id": str(other["id"])})["first"] == "Bo"
    assert_error(api.call("POST", "/v1/contact/get", {"phone": phone(99)}), 404, "not_found")
    assert_error(api.call("POST", "/v1/contact", {"phone": phone(1)}), 400, "bad_data", "phone")


def test_update_overwrite_false_merges_and_true_replaces_custom(api: Api, hm_admin: AdminClient) -> None:
    hm_admin.load({"fields": [{"id": 1, "title": "Customer Tier"}, {"id": 2, "title": "Preferred Language"}]})
    created = api.ok("POST", "/v1/contact", {"phone": phone(1), "first": "Ana", "last": "Lima",
                                             "email": "ana@example.com", "custom": {"1": "Gold", "2": "English"}})
    before = api.ok("GET", f"/v1/contact/{created['id']}")
    assert before["custom"] == {"1": "Gold", "2": "English"}

    merged = api.ok("PUT", f"/v1/contact/{created['id']}?overwrite=false",
                    {"phone": phone(1), "first": "Anna", "custom": {"1": "Platinum", "Customer Tier": "x"}})
    assert merged["rev"] == 2 and merged["id"] == created["id"]
    after_merge = api.ok("GET", f"/v1/contact/{created['id']}")
    assert after_merge["custom"] == {"1": "Platinum", "2": "English"}, "merged; the title key is dropped"
    assert after_merge["first"] == "Anna"
    assert after_merge["last"] == "", "names are overwritten: an omitted last name becomes empty"
    assert after_merge["email"] == "ana@example.com", "an omitted email is left alone"
    assert after_merge["updated"] > before["updated"]

    api.ok("PUT", f"/v1/contact/{created['id']}?overwrite=true",
           {"phone": phone(1), "first": "Anna", "last": "Lima", "custom": {"2": "Spanish"}})
    replaced = api.ok("GET", f"/v1/contact/{created['id']}")
    assert replaced["custom"] == {"2": "Spanish"} and replaced["rev"] == 3
    assert replaced["display_name"] == "Anna Lima"

    api.ok("PUT", f"/v1/contact/{created['id']}", {"phone": phone(5), "custom": {"2": None}})
    moved = api.ok("POST", "/v1/contact/get", {"phone": phone(5)})
    assert moved["id"] == created["id"] and moved["custom"] == {}
    assert_error(api.call("POST", "/v1/contact/get", {"phone": phone(1)}), 404, "not_found")


def test_delete_is_hard(api: Api) -> None:
    created = api.ok("POST", "/v1/contact", {"phone": phone(1)})
    assert api.ok("DELETE", f"/v1/contact/{created['id']}") == "ok"
    assert_error(api.call("GET", f"/v1/contact/{created['id']}"), 404, "not_found")
    assert_error(api.call("DELETE", f"/v1/contact/{created['id']}"), 404, "not_found")
    assert api.ok("POST", "/v1/contacts/count", {}) == 0
    assert api.ok("POST", "/v1/contact", {"phone": phone(1)})["id"] != created["id"], "the phone is free again"


def test_status_and_set_status(api: Api) -> None:
    created = api.ok("POST", "/v1/contact", {"phone": phone(1)})
    status = api.ok("POST", "/v1/contact/status", {"phone": phone(1)})
    assert status == {"id": created["id"], "phone": phone(1), "unsubscribed": False, "blocked": False}
    assert api.ok("POST", "/v1/contact/set_status", {"id": created["id"], "status": "unsubscribed"}) == "success"
    contact = api.ok("GET", f"/v1/contact/{created['id']}")
    assert contact["is_opted_out"] is True and contact["rev"] == 2
    api.ok("POST", "/v1/contact/set_status", {"phone": phone(1), "status": "blocked"})
    assert api.ok("POST", "/v1/contact/status", {"id": created["id"]})["blocked"] is True
    assert_error(api.call("POST", "/v1/contact/set_status", {"id": created["id"], "status": "gone"}),
                 400, "bad_data", "status")


def test_is_opted_out_is_written_by_the_v2_bulk_call_and_read_back_by_list_and_get(api: Api) -> None:
    """What opt-out sync relies on (an emulator choice, see choices.py next to STATUS_VALUES): the bulk create/update
    takes ``is_opted_out``, an update that leaves it out keeps it, and every read carries it."""
    created = api.ok("POST", "/v2/contacts", {"contacts": [{"phone": phone(1), "is_opted_out": True},
                                                          {"phone": phone(2)}]})["contacts"]
    assert [c["is_opted_out"] for c in created] == [True, False]
    api.ok("POST", "/v2/contacts", {"contacts": [{"contact_id": created[1]["uuid"], "is_opted_out": True},
                                                 {"contact_id": created[0]["uuid"], "first": "Ana"}]})
    listed = {c["phone"]: c["is_opted_out"] for c in api.ok("POST", "/v1/contacts", {})}
    assert listed == {phone(1): True, phone(2): True}
    api.ok("POST", "/v1/contact/set_status", {"phone": phone(1), "status": "subscribed"})
    assert api.ok("GET", f"/v1/contact/{created[0]['id']}")["is_opted_out"] is False


# --- batches ----------------------------------------------------------------------------------------------


def test_batch_upsert_reports_failed_items(api: Api, hm_admin: AdminClient) -> None:
    hm_admin.load({"fields": [{"id": 1, "title": "Customer Tier"}]})
    existing = api.ok("POST", "/v1/contact", {"phone": phone(1), "first": "Old", "custom": {"1": "Gold"}})
    batch = [
        {"phone": phone(2), "first": "New"},
        {"phone": "+1 (415) 555-0134", "first": "Bad"},
        {"phone": phone(2), "first": "Twice"},
        {"phone": phone(1), "first": "Changed"},
        {"first": "No phone"},
    ]
    failed = api.ok("POST", "/v1/batch/contacts?overwrite=false", batch)
    assert failed == [
        {"phone": "+1 (415) 555-0134", "first": "Bad", "error": "invalid phone"},
        {"phone": phone(2), "first": "Twice", "error": "duplicate phone in batch"},
        {"first": "No phone", "error": "missing phone"},
    ]
    assert api.ok("POST", "/v1/contact/get", {"phone": phone(2)})["first"] == "New"
    unchanged = api.ok("GET", f"/v1/contact/{existing['id']}")
    assert unchanged["first"] == "Old" and unchanged["rev"] == 1, "overwrite=false skips existing phones"

    result = api.ok("POST", "/v1/batch/contacts?overwrite=true",
                    [{"phone": phone(1), "first": "Changed", "custom": {"1": "Silver"}}, {"phone": phone(3)}])
    assert result == "ok"
    changed = api.ok("GET", f"/v1/contact/{existing['id']}")
    assert (changed["first"], changed["custom"], changed["rev"]) == ("Changed", {"1": "Silver"}, 2)
    assert api.ok("POST", "/v1/contacts/count", {}) == 3


def test_batch_limits_and_shape_errors(api: Api) -> None:
    too_many = [{"phone": phone(i)} for i in range(101)]
    assert_error(api.call("POST", "/v1/batch/contacts", too_many), 400, "bad_data", "at most 100")
    assert_error(api.call("POST", "/v1/batch/contacts", {"phone": phone(1)}), 400, "bad_data", "array")
    assert_error(api.call("POST", "/v1/batch/contacts", [{"phone": phone(1)}, "x"]), 400, "bad_data", "item 1")
    assert api.ok("POST", "/v1/contacts/count", {}) == 0
    assert api.ok("POST", "/v1/batch/contacts", [{"phone": phone(i)} for i in range(100)]) == "ok"


def test_v2_bulk_create_or_update_and_bulk_delete(api: Api) -> None:
    first = api.ok("POST", "/v2/contacts", {"contacts": [
        {"phone": phone(1), "first": "Ana"},
        {"contact_channels": [{"channel_type": "phone", "channel_id": phone(2)},
                              {"channel_type": "email", "channel_id": "bo@example.com"}], "first": "Bo"},
        {"phone": "123", "first": "Bad"},
    ]})
    assert [c["phone"] for c in first["contacts"]] == [phone(1), phone(2)]
    assert first["contacts"][1]["email"] == "bo@example.com"
    assert first["failed_contacts"] == [{"contact": {"phone": "123", "first": "Bad"}, "error": "invalid phone"}]
    ana, bo = first["contacts"]

    second = api.ok("POST", "/v2/contacts", {"contacts": [
        {"contact_id": ana["uuid"], "last": "Lima"},
        {"phone": phone(3)},
        {"contact_id": "00000000-0000-4000-8000-000000000000", "first": "Ghost"},
        {"phone": phone(2), "first": "Clash"},
    ]})
    updated, created = second["contacts"]
    assert (updated["id"], updated["first"], updated["last"], updated["rev"]) == (ana["id"], "Ana", "Lima", 2)
    assert created["phone"] == phone(3)
    errors = [f["error"] for f in second["failed_contacts"]]
    assert errors[0] == "contact not found" and "phone already exists" in errors[1]

    assert api.ok("DELETE", "/v2/contacts", {"contact_channels": [
        {"channel_type": "id", "channel_ids": [ana["uuid"], bo["uuid"], "not-a-known-uuid"]}]}) == "ok"
    assert [c["phone"] for c in api.ok("POST", "/v2/contacts/list", {})] == [phone(3)]
    assert_error(api.call("DELETE", "/v2/contacts", {"contact_channels": [
        {"channel_type": "phone", "channel_ids": [phone(3)]}]}), 400, "bad_data")
    assert_error(api.call("POST", "/v2/contacts", {"contacts": [{"phone": phone(i)} for i in range(101)]}),
                 400, "bad_data", "contacts")


def test_v2_single_contact_and_search(api: Api) -> None:
    created = api.ok("POST", "/v2/contact", {"first": "Cy", "contact_channels": [
        {"channel_type": "phone", "channel_id": phone(7)}]})
    assert UUID.match(created["uuid"])
    assert api.ok("GET", f"/v2/contact/{created['uuid']}")["phone"] == phone(7)
    full = api.ok("PUT", f"/v2/contact/{created['uuid']}", {"email": "Cy@Example.com"})
    assert full["first"] == "Cy" and full["email"] == "Cy@Example.com" and full["rev"] == 2
    found = api.ok("POST", "/v2/contacts/search", {"contact_channels": [
        {"channel_type": "phone", "channel_ids": [phone(7), phone(8)]},
        {"channel_ids": ["cy@example.com"]}]})
    assert [c["id"] for c in found] == [created["id"]]
    assert api.ok("DELETE", f"/v2/contact/{created['uuid']}") == "ok"
    assert_error(api.call("GET", f"/v2/contact/{created['uuid']}"), 404, "not_found")
    assert_error(api.call("POST", "/v2/contact", {"first": "No phone"}), 400, "bad_data", "phone")


# --- fields, users, team, inboxes -------------------------------------------------------------------------


def test_custom_fields_list_and_create_with_duplicate(api: Api) -> None:
    assert api.ok("POST", "/v1/contact-fields", {}) == []
    created = api.ok("POST", "/v1/contacts/fields", [{"title": "Customer Tier"}, {"title": "Preferred Language"}])
    assert [(f["title"], f["duplicate"]) for f in created] == [("Customer Tier", False),
                                                              ("Preferred Language", False)]
    again = api.ok("POST", "/v1/contacts/fields", [{"title": "Customer Tier"}, {"title": "Region"}])
    assert again[0] == {**created[0], "duplicate": True}
    assert again[1]["duplicate"] is False
    listed = api.ok("POST", "/v1/contact-fields", {})
    assert listed == [{"id": f["id"], "title": f["title"]} for f in [*created, again[1]]]
    tier = str(created[0]["id"])
    contact = api.ok("POST", "/v1/contact", {"phone": phone(1), "custom": {tier: 3, "999": "dropped"}})
    assert api.ok("GET", f"/v1/contact/{contact['id']}")["custom"] == {tier: "3"}
    assert_error(api.call("POST", "/v1/contacts/fields", [{"name": "x"}]), 400, "bad_data", "title")


def test_users_team_and_inboxes(api: Api) -> None:
    everyone = api.ok("GET", "/v1/users/get")["memberships"]
    assert len(everyone) == 3
    assert {"id", "phone", "name", "email", "role_id", "team_id", "created_at", "updated_at",
            "user_created_at", "user_updated_at"} <= set(everyone[0])
    alex = everyone[0]
    filtered = api.ok("GET", "/v1/users/get", {"email": [alex["email"].upper()], "phone": [everyone[2]["phone"]]})
    assert [u["id"] for u in filtered["memberships"]] == [alex["id"], everyone[2]["id"]]
    team = api.ok("GET", "/v1/team")
    assert team["name"] == "Sandbox Team" and len(team["members"]) == 3
    assert {m["role"] for m in team["members"]} == {"admin", "member"}
    inboxes = api.ok("GET", "/v1/inboxes")
    assert len(inboxes) == 2 and all(set(i["members"]) <= {u["id"] for u in everyone} for i in inboxes)


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "raw", "status", "mentions"),
    [
        ("POST", "/v1/contact", b'{"phone": "4155550134"', 400, "not valid JSON"),
        ("POST", "/v1/contact", b'{"phone": "+14155550134"}', 400, "phone"),
        ("POST", "/v1/contact", b'{"phone": 14155550134}', 400, "phone"),
        ("POST", "/v1/contact", b'{"first": "no phone"}', 400, "phone"),
        ("POST", "/v1/contact", b'[1, 2]', 400, "JSON object"),
        ("POST", "/v1/contact", b"", 400, "body is required"),
        ("POST", "/v1/contact", b'{"phone": "14155550134", "tags": [{"tag_id": 1}, {}, 3]}', 400, "tags"),
        ("POST", "/v1/contact", b'{"phone": "14155550134", "assignee_id": 77}', 400, "assignee_id"),
        ("PUT", "/v1/contact/100001", b'{"first": "x"}', 400, "phone"),
        ("PUT", "/v1/contact/100001?overwrite=maybe", b'{"phone": "14155550134"}', 400, "overwrite"),
        ("PUT", "/v1/contact/999999", b'{"phone": "14155550134"}', 404, "not found"),
        ("GET", "/v1/contact/999999", b"", 404, "not found"),
        ("GET", "/v1/contact/abc", b"", 400, "contact_id"),
        ("GET", "/v2/contact/no-such-uuid", b"", 404, "not found"),
        ("POST", "/v1/contact/get", b"{}", 400, "phone"),
        ("POST", "/v1/contact/get", b'{"id": "abc"}', 400, "id"),
        ("POST", "/v1/contacts", b'{"date": "yesterday"}', 400, "date"),
        ("POST", "/v1/contacts", b'{"limit": 0}', 400, "limit"),
        ("POST", "/v1/contacts", b'{"page": -1}', 400, "page"),
        ("POST", "/v1/contacts", b'{"limit": "many"}', 400, "limit"),
        ("POST", "/v2/contacts/search", b'{"contact_channels": []}', 400, "contact_channels"),
        ("GET", "/v1/users/get", b'{"email": "not-a-list"}', 400, "email"),
        ("GET", "/v1/no-such-endpoint", b"", 404, "no such endpoint"),
        ("DELETE", "/v1/contacts", b"", 405, "not allowed"),
    ],
)
def test_bad_input_gets_the_error_shape_never_500(
    api: Api, method: str, path: str, raw: bytes, status: int, mentions: str
) -> None:
    if path.startswith("/v1/contact/100001"):
        api.ok("POST", "/v1/contact", {"phone": phone(1)})
    resp = api.call(method, path, data=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "message"} and mentions in body["message"]
    assert body["error"] == {400: "bad_data", 404: "not_found", 405: "method_not_allowed"}[status]


def test_admin_load_fills_ids_and_dump_hides_secrets(api: Api, hm_admin: AdminClient) -> None:
    loaded = hm_admin.load({
        "fields": [{"id": 7, "title": "Customer Tier"}],
        "contacts": [{"phone": phone(2), "custom": {"7": "Gold"}},
                     {"id": 5, "phone": phone(1), "updated": "2026-01-02T03:04:05Z", "rev": 4}],
        "credentials": {"api_keys": ["second-key"]},
    })
    assert loaded == {"credentials": 1, "fields": 1, "contacts": 2}
    dump = hm_admin.dump()
    assert [c["id"] for c in dump["contacts"]] == [5, 100001]
    old = dump["contacts"][0]
    assert (old["updated"], old["rev"]) == ("2026-01-02T03:04:05.000000Z", 4)
    assert UUID.match(dump["contacts"][1]["uuid"]) and dump["contacts"][1]["rev"] == 1
    assert "second-key" not in str(dump) and credentials.HEYMARKET_API_KEY not in str(dump)
    assert dump["credentials"]["api_keys"] == 2
    new = api.ok("POST", "/v1/contact", {"phone": phone(3)})
    assert new["id"] == 100002
    newest = api.ok("POST", "/v1/contacts", {"limit": 1})[0]
    assert newest["id"] == new["id"], "writes are newer than every loaded contact"
    bad = requests.post(f"{hm_admin.base_url}/__admin/load", json={"contacts": [{"phone": "+1"}]}, timeout=10)
    assert bad.status_code == 400 and "phone" in bad.text


@pytest.mark.scale
def test_100k_contacts_load_fast_and_deep_pages_stay_cheap(api: Api, hm_admin: AdminClient) -> None:
    contacts = [{"phone": phone(i), "first": f"F{i}"} for i in range(100_000)]
    started = time.perf_counter()
    assert hm_admin.load({"contacts": contacts}) == {"contacts": 100_000}
    load_seconds = time.perf_counter() - started
    assert load_seconds < 15, f"loading 100,000 contacts took {load_seconds:.1f}s"
    assert api.ok("POST", "/v1/contacts/count", {}) == 100_000
    started = time.perf_counter()
    first = api.ok("POST", "/v1/contacts", {"limit": 100})
    deep = api.ok("POST", "/v1/contacts", {"limit": 100, "page": 1000})
    cursor = api.ok("POST", "/v1/contacts", {"limit": 100, "date": deep[-1]["updated"]})
    assert time.perf_counter() - started < 3
    assert first[0]["phone"] == phone(99_999), "loaded last = newest"
    assert [c["phone"] for c in deep] == [phone(i) for i in range(99, -1, -1)]
    assert cursor == [deep[-1]], "inclusive cursor at the oldest contact returns just that one"
    assert api.ok("POST", "/v1/contacts", {"limit": 100, "page": 1001}) == []


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["phone", "first", "custom", "tags", "id", "date", "limit", "page", "ascending",
                         "contacts", "contact_id", "contact_channels", "channel_ids", "title", "email",
                         "status", "assignee_id", "1"]) | st.text(max_size=5),
        children, max_size=5),
    max_leaves=12,
)
FUZZED_ENDPOINTS = [
    ("POST", "/v1/contact"), ("POST", "/v1/contact/get"), ("PUT", "/v1/contact/100001?overwrite=true"),
    ("POST", "/v1/contacts"), ("POST", "/v1/contacts/count"), ("POST", "/v1/contact/status"),
    ("POST", "/v1/contact/set_status"), ("POST", "/v1/batch/contacts"), ("POST", "/v1/contacts/fields"),
    ("POST", "/v2/contact"), ("POST", "/v2/contacts"), ("DELETE", "/v2/contacts"), ("POST", "/v2/contacts/list"),
    ("POST", "/v2/contacts/search"), ("GET", "/v1/users/get"),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(FUZZED_ENDPOINTS), body=JSON_VALUES)
def test_random_json_never_causes_a_server_error(api: Api, endpoint: tuple[str, str], body: Any) -> None:
    method, path = endpoint
    resp = api.call(method, path, data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert set(resp.json()) == {"error", "message"}
