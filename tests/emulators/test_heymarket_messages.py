"""The Heymarket emulator's messages over a real socket: the cursor walk in both orders and directions, the
count, conversation history, send with ``local_id``, admin load/dump, contact deletes, the gate, bad input."""

from __future__ import annotations

import datetime as dt
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
BASE = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
SALES, SUPPORT = 9001, 9002  # seed inboxes: Sales has members 501, 502; Support 501, 503
MESSAGE_KEYS = {"id", "text", "media", "phone", "target", "type", "status", "date", "updated", "user", "author",
                "local_id", "broadcast_id", "flagged", "link_url", "super", "support", "custom", "conversation"}
CONVERSATION_KEYS = {"id", "inbox", "target", "name", "channel", "type", "status", "created", "updated", "creator",
                     "assigned", "members", "last_inbound", "read", "replied", "blocked", "muted", "email_noti",
                     "noreply", "op", "snooze_till", "super", "support", "local_id"}


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
        resp = self.session.request(method, self.base_url + path, timeout=60, **kwargs)
        assert UUID.match(resp.headers.get("X-Request-Id", "")), "every response carries X-Request-Id"
        return resp

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        resp = self.call(method, path, body, **kwargs)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def send(self, **body: Any) -> requests.Response:
        return self.call("POST", "/v1/message/send", {"inbox_id": SALES, "creator_id": 502, **body})


@pytest.fixture
def api(heymarket_emulator: EmulatorProcess, hm_admin: AdminClient) -> Api:
    return Api(heymarket_emulator.base_url)


def phone(n: int) -> str:
    return f"1415{3_000_000 + n:07d}"


def stamp(seconds: float) -> str:
    return (BASE + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def assert_error(resp: requests.Response, status: int, name: str, mentions: str = "",
                 never: tuple[str, ...] = ()) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "message"} and body["error"] == name
    assert mentions in body["message"], body["message"]
    for secret in never:
        assert secret not in body["message"], "error messages never echo phones or message texts"


def tied_history(count: int) -> dict[str, Any]:
    """*count* messages on 20 phones in both inboxes, in the compact form. Dates come in ties of three; every
    other outbound message got a delivery receipt later (``updated`` > ``date``), also in ties."""
    rows = []
    for n in range(count):
        inbound = n % 3 == 0
        date = stamp(60 * (n // 3))
        updated = stamp(60 * (n // 3) + 30 * (n % 2)) if not inbound else date
        rows.append([phone(n % 20), SALES if n % 4 else SUPPORT, "inbound" if inbound else "outbound",
                     f"text {n}", date, updated, None if inbound else (502 if n % 4 else 503)])
    return {"columns": ["phone", "inbox_id", "direction", "text", "date", "updated", "user"], "rows": rows}


def walk(api: Api, order: str, ascending: bool, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The documented walk: send the last message's sort key as ``created_at``; dedupe by id; stop when a
    page brings nothing new. Returns the messages in first-seen order and the number of calls."""
    key = "date" if order == "created_at" else "updated"
    body: dict[str, Any] = {"order": order, "ascending": ascending, "limit": limit}
    seen: dict[int, dict[str, Any]] = {}
    calls = 0
    while True:
        page = api.ok("POST", "/v1/messages/all", body)
        calls += 1
        assert len(page) <= limit
        keys = [(m[key], m["id"]) for m in page]
        assert keys == sorted(keys, reverse=not ascending), "sorted by the order key, ties by id"
        new = [m for m in page if m["id"] not in seen]
        if not new:
            return list(seen.values()), calls
        seen.update((m["id"], m) for m in new)
        body = {**body, "created_at": page[-1][key]}
        assert calls < 200, "the walk must end"


# --- reading: the team-wide cursor walk -------------------------------------------------------------------


@pytest.mark.parametrize("order", ["created_at", "updated_at"])
@pytest.mark.parametrize("ascending", [False, True])
def test_cursor_walk_sees_every_message_exactly_once(api: Api, hm_admin: AdminClient, order: str,
                                                     ascending: bool) -> None:
    assert hm_admin.load({"messages": tied_history(250)}) == {"messages": 250}
    messages, calls = walk(api, order, ascending, limit=25)
    key = "date" if order == "created_at" else "updated"
    assert len(messages) == len({m["id"] for m in messages}) == 250
    assert {m["text"] for m in messages} == {f"text {n}" for n in range(250)}
    keys = [(m[key], m["id"]) for m in messages]
    assert keys == sorted(keys, reverse=not ascending), "nothing skipped: first sightings are in global order"
    assert calls > 250 // 25, "the inclusive cursor repeats the boundary message, so a walk needs extra pages"


def test_orders_differ_and_cursor_is_inclusive(api: Api, hm_admin: AdminClient) -> None:
    hm_admin.load({"messages": [
        {"phone": phone(1), "text": "a", "date": stamp(0), "updated": stamp(500)},
        {"phone": phone(1), "text": "b", "date": stamp(100)},
        {"phone": phone(2), "text": "c", "date": stamp(200), "updated": stamp(300)},
    ]})
    assert [m["text"] for m in api.ok("POST", "/v1/messages/all", {})] == ["c", "b", "a"], "newest date first"
    by_updated = api.ok("POST", "/v1/messages/all", {"order": "updated_at"})
    assert [m["text"] for m in by_updated] == ["a", "c", "b"]
    inclusive = api.ok("POST", "/v1/messages/all", {"created_at": stamp(100)})
    assert [m["text"] for m in inclusive] == ["b", "a"], "created_at <= cursor"
    ascending = api.ok("POST", "/v1/messages/all", {"created_at": stamp(100), "ascending": True})
    assert [m["text"] for m in ascending] == ["b", "c"], "created_at >= cursor when ascending"
    updated_cursor = api.ok("POST", "/v1/messages/all", {"order": "updated_at", "created_at": stamp(300)})
    assert [m["text"] for m in updated_cursor] == ["c", "b"], "with order updated_at the cursor bounds updated"
    alias = api.ok("POST", "/v1/messages/all", {"date": stamp(100)})
    assert alias == inclusive, "'date' is an alias of created_at"
    naive = api.ok("POST", "/v1/messages/all", {"created_at": "2026-03-01T00:01:40"})
    assert naive == inclusive, "a cursor without an offset is UTC"


def test_limit_default_clamp_and_page_offsets(api: Api, hm_admin: AdminClient) -> None:
    hm_admin.load({"messages": tied_history(150)})
    assert len(api.ok("POST", "/v1/messages/all")) == 30, "an empty body gives the 30 most recent"
    everything = api.ok("POST", "/v1/messages/all", {"limit": 1000})
    assert len(everything) == 100, "limit above 100 is clamped"
    ids: list[int] = []
    for page_no in range(1, 6):
        page = api.ok("POST", "/v1/messages/all", {"limit": 40, "page": page_no})
        ids += [m["id"] for m in page]
    assert len(ids) == len(set(ids)) == 150 and page == [], "an offset walk ends with []"
    assert api.ok("POST", "/v1/messages/all", {"limit": 40, "page": 0}) == \
        api.ok("POST", "/v1/messages/all", {"limit": 40, "page": 1})


def test_count_is_a_json_string(api: Api, hm_admin: AdminClient) -> None:
    assert api.ok("POST", "/v1/messages/all/count", {}) == "0"
    hm_admin.load({"messages": tied_history(42)})
    assert api.ok("POST", "/v1/messages/all/count") == "42", "an empty body is accepted"
    assert api.ok("POST", "/v1/messages/all/count", {"created_at": stamp(0), "limit": 5}) == "42", \
        "the listing body is accepted and ignored"
    assert_error(api.call("POST", "/v1/messages/all/count", [1]), 400, "bad_data", "JSON object")


def test_message_and_conversation_shape(api: Api, hm_admin: AdminClient) -> None:
    hm_admin.load({"contacts": [{"phone": phone(1), "first": "Ana", "last": "Lima"}],
                   "messages": [{"phone": phone(1), "text": "Is it open?", "date": stamp(0)},
                                {"phone": phone(1), "text": "Yes", "direction": "outbound", "user": 502,
                                 "status": "delivered", "date": stamp(60), "updated": stamp(65)}]})
    reply, question = api.ok("POST", "/v1/messages/all", {})
    assert set(reply) == set(question) == MESSAGE_KEYS
    assert (question["user"], question["status"], question["author"]) == (None, "received", ""), "inbound"
    assert (reply["user"], reply["status"], reply["author"]) == (502, "delivered", "Priya Shah"), "outbound"
    assert reply["phone"] == reply["target"] == phone(1) and reply["type"] == "sms"
    assert TIMESTAMP.match(reply["date"]) and reply["updated"] > reply["date"]
    thread = reply["conversation"]
    assert set(thread) == CONVERSATION_KEYS and thread == question["conversation"]
    assert (thread["inbox"], thread["target"], thread["name"]) == (SALES, phone(1), "Ana Lima")
    assert thread["members"] == [{"id": 501, "name": "Alex Morgan"}, {"id": 502, "name": "Priya Shah"}]
    assert (thread["creator"], thread["last_inbound"], thread["replied"]) == (502, question["id"], True)
    assert (thread["created"], thread["updated"]) == (question["date"], reply["date"])


# --- conversation history: GET /v1/messages ------------------------------------------------------------


def test_history_of_one_conversation(api: Api, hm_admin: AdminClient) -> None:
    rows = [[phone(1), SALES, f"m{n}", stamp(n * 0.5)] for n in range(60)]
    rows += [[phone(1), SUPPORT, "other inbox", stamp(1)], [phone(2), SALES, "other phone", stamp(1)]]
    hm_admin.load({"messages": {"columns": ["phone", "inbox_id", "text", "date"], "rows": rows}})
    history = api.ok("GET", "/v1/messages", params={"phoneNumber": phone(1), "inboxID": SALES})
    assert [m["text"] for m in history] == [f"m{n}" for n in range(59, 9, -1)], "the 50 newest, newest first"
    second_10 = int((BASE + dt.timedelta(seconds=10)).timestamp())
    older = api.ok("GET", "/v1/messages", params={"phoneNumber": phone(1), "inboxID": SALES,
                                                  "timestamp": second_10})
    assert [m["text"] for m in older] == [f"m{n}" for n in range(21, -1, -1)], "the named second is included"
    assert api.ok("GET", "/v1/messages", params={"phoneNumber": phone(3), "inboxID": SALES}) == []
    assert_error(api.call("GET", "/v1/messages", params={"phoneNumber": phone(1), "inboxID": 1}),
                 404, "not_found", "inbox")
    assert_error(api.call("GET", "/v1/messages", params={"inboxID": SALES}), 400, "bad_data", "phoneNumber")
    assert_error(api.call("GET", "/v1/messages", params={"phoneNumber": "+1 415 555", "inboxID": SALES}),
                 400, "bad_data", "phoneNumber", never=("415 555",))
    assert_error(api.call("GET", "/v1/messages", params={"phoneNumber": phone(1)}), 400, "bad_data", "inboxID")
    assert_error(api.call("GET", "/v1/messages", params={"phoneNumber": phone(1), "inboxID": SALES,
                                                         "timestamp": "yesterday"}), 400, "bad_data", "timestamp")


# --- writing: send ---------------------------------------------------------------------------------------


def test_send_creates_an_outbound_message_and_local_id_makes_it_idempotent(api: Api) -> None:
    first = api.send(phone_number=phone(1), text="Your order shipped", local_id="order-17")
    assert first.status_code == 200, first.text
    sent = first.json()
    assert set(sent) == {"id", "date", "gallery_url"} and sent["gallery_url"] == "" and TIMESTAMP.match(sent["date"])
    again = api.send(phone_number=phone(1), text="Your order shipped (retry)", local_id="order-17")
    assert again.json() == sent, "the same local_id returns the same message"
    assert api.ok("POST", "/v1/messages/all/count") == "1"
    other = api.send(phone_number=phone(1), text="Second \U0001f600", local_id="order-18").json()
    assert other["id"] > sent["id"] and other["date"] > sent["date"]
    newest, oldest = api.ok("POST", "/v1/messages/all", {})
    assert newest["text"] == "Second \U0001f600", "a surrogate pair is fine"
    assert (oldest["id"], oldest["text"], oldest["local_id"]) == (sent["id"], "Your order shipped", "order-17")
    assert (oldest["user"], oldest["status"], oldest["author"], oldest["type"]) == (502, "sent", "Priya Shah", "sms")
    assert oldest["conversation"]["name"] == phone(1), "no contact: the conversation is named by its phone"
    assert api.ok("POST", "/v1/contacts/count", {}) == 0, "sending does not create a contact"


def test_send_into_a_conversation_mms_template_and_private_comment(api: Api, hm_admin: AdminClient) -> None:
    hm_admin.load({"messages": [{"phone": phone(1), "text": "Hello?", "inbox_id": SUPPORT}]})
    chat = api.ok("POST", "/v1/messages/all", {})[0]["conversation"]["id"]
    mms = api.call("POST", "/v1/message/send", {"inbox_id": SUPPORT, "creator_id": 503, "chat_id": chat,
                                                "media_url": "https://example.com/a.jpg", "author": "Support"})
    assert mms.json()["gallery_url"] == "https://example.com/a.jpg"
    template = api.call("POST", "/v1/message/send", {"inbox_id": SUPPORT, "creator_id": 501, "chat_id": chat,
                                                     "template_id": 7})
    assert template.status_code == 200, template.text
    private = api.call("POST", "/v1/message/send", {"inbox_id": SUPPORT, "creator_id": 501,
                                                    "phone_number": phone(1), "text": "VIP", "private": True})
    assert private.status_code == 200, private.text
    note, by_template, picture, question = api.ok("POST", "/v1/messages/all", {})
    assert (picture["type"], picture["text"], picture["media"], picture["author"]) == \
        ("mms", "", "https://example.com/a.jpg", "Support")
    assert by_template["text"] == "[template 7]"
    assert (note["type"], note["user"]) == ("private", 501)
    assert {m["conversation"]["id"] for m in (note, by_template, picture, question)} == {chat}
    assert_error(api.send(phone_number=phone(2), text="note", private=True), 400, "bad_data", "existing conversation")


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"inbox_id": None}, "inbox_id"),
        ({"creator_id": "me"}, "creator_id"),
        ({"inbox_id": 1}, "inbox_id"),
        ({"creator_id": 503}, "creator_id"),  # a team member, but not of the Sales inbox
        ({"creator_id": 999}, "creator_id"),
        ({"phone_number": "+14155550177"}, "phone_number"),
        ({"phone_number": 14155550177}, "phone_number"),
        ({"phone_number": None}, "phone_number"),
        ({"chat_id": 123}, "not both"),
        ({"phone_number": None, "chat_id": 999999}, "chat_id"),
        ({"text": None}, "content is required"),
        ({"text": ""}, "content is required"),
        ({"text": "x" * 1601}, "text"),
        ({"template_id": 3}, "not both"),
        ({"template_id": 0, "text": None}, "template_id"),
        ({"list_id": 5, "local_id": "b1"}, "list_id"),
        ({"targets": ["14155550199"]}, "targets"),
        ({"private": "maybe"}, "private"),
    ],
)
def test_send_rejects_bad_bodies_naming_the_field(api: Api, body: dict[str, Any], mentions: str) -> None:
    full = {"inbox_id": SALES, "creator_id": 502, "phone_number": phone(1), "text": "secret words", **body}
    resp = api.call("POST", "/v1/message/send", {k: v for k, v in full.items()})
    assert_error(resp, 400, "bad_data", mentions, never=(phone(1), "secret words", "14155550177"))
    assert api.ok("POST", "/v1/messages/all/count") == "0"


def test_send_refuses_opted_out_and_blocked_contacts(api: Api) -> None:
    api.ok("POST", "/v1/contact", {"phone": phone(1)})
    api.ok("POST", "/v1/contact", {"phone": phone(2)})
    api.ok("POST", "/v1/contact/set_status", {"phone": phone(1), "status": "unsubscribed"})
    api.ok("POST", "/v1/contact/set_status", {"phone": phone(2), "status": "blocked"})
    assert_error(api.send(phone_number=phone(1), text="promo"), 400, "bad_data", "opted out", never=(phone(1),))
    assert_error(api.send(phone_number=phone(2), text="promo"), 400, "bad_data", "blocked", never=(phone(2),))
    api.ok("POST", "/v1/contact/set_status", {"phone": phone(1), "status": "subscribed"})
    assert api.send(phone_number=phone(1), text="welcome back").status_code == 200
    assert api.ok("POST", "/v1/messages/all/count") == "1"


def test_duplicate_timestamps_setting_makes_sends_tie(api: Api, hm_admin: AdminClient) -> None:
    hm_admin.load({"settings": {"duplicate_timestamps": True}})
    ids = [api.send(phone_number=phone(n), text="same time").json()["id"] for n in range(4)]
    page = api.ok("POST", "/v1/messages/all", {})
    assert len({m["date"] for m in page}) == 1
    assert [m["id"] for m in page] == sorted(ids, reverse=True), "ties broken by id, larger first"


# --- admin: load (both forms), dump, contact deletes -------------------------------------------------------


def test_load_inbound_messages_in_both_forms_and_dump_round_trips(api: Api, hm_admin: AdminClient) -> None:
    loaded = hm_admin.load({
        "contacts": [{"phone": phone(1)}],
        "messages": [{"phone": phone(1), "text": "hi", "date": stamp(0)},
                     {"id": 77, "phone": phone(2), "inbox_id": SUPPORT, "text": "stock?", "date": stamp(5),
                      "local_id": "in-77", "flagged": True}],
    })
    assert loaded == {"contacts": 1, "messages": 2}
    assert hm_admin.load({"messages": {"columns": ["phone", "direction", "text", "status", "media"], "rows": [
        [phone(1), "outbound", "pic", "failed", "https://example.com/p.png"], [phone(3), "inbound", "yo", None, None],
    ]}}) == {"messages": 2}
    dump = hm_admin.dump()
    assert [m["id"] for m in dump["messages"]] == [77, 1_000_001, 1_000_002, 1_000_003]
    flat = {m["text"]: m for m in dump["messages"]}
    assert flat["hi"]["direction"] == "inbound" and flat["hi"]["user"] is None
    assert (flat["pic"]["user"], flat["pic"]["type"], flat["pic"]["status"]) == (501, "mms", "failed"), \
        "an outbound message without user was sent by the inbox's first member"
    assert flat["yo"]["date"] > flat["hi"]["date"], "made-up dates are newer than everything loaded"
    assert len(dump["conversations"]) == 3 and {c["inbox"] for c in dump["conversations"]} == {SALES, SUPPORT}
    assert api.send(phone_number=phone(2), text="dup", local_id="in-77").json()["id"] == 77, \
        "loaded local_ids take part in send idempotency"

    hm_admin.reset()
    assert hm_admin.load({"contacts": dump["contacts"], "messages": dump["messages"]})["messages"] == 4
    again = hm_admin.dump()
    assert again["messages"] == dump["messages"], "the dumped form loads back unchanged"
    assert api.send(phone_number=phone(4), text="next").json()["id"] == 1_000_004


@pytest.mark.parametrize(
    ("message", "mentions"),
    [
        ({"phone": "+1 415 300 0001"}, "phone"),
        ({"phone": phone(1), "inbox_id": 1}, "inbox_id"),
        ({"phone": phone(1), "user": 502, "direction": "inbound"}, "no 'user'"),
        ({"phone": phone(1), "user": 999}, "user"),
        ({"phone": phone(1), "direction": "sideways"}, "direction"),
        ({"phone": phone(1), "status": "delivered"}, "status"),
        ({"phone": phone(1), "type": "fax"}, "type"),
        ({"phone": phone(1), "date": "yesterday"}, "date"),
        ({"phone": phone(1), "date": stamp(10), "updated": stamp(5)}, "updated"),
        ({"phone": phone(1), "text": 5}, "text"),
        ({"phone": phone(1), "id": -3}, "id"),
        ({"phone": phone(1), "inbox": SUPPORT}, "unknown fields"),
        ("not an object", "object"),
    ],
)
def test_load_rejects_bad_messages(hm_admin: AdminClient, message: Any, mentions: str) -> None:
    resp = requests.post(f"{hm_admin.base_url}/__admin/load", json={"messages": [message]}, timeout=10)
    assert resp.status_code == 400 and mentions in resp.text and "messages[0]" in resp.text, resp.text
    assert "415 300" not in resp.text and phone(1) not in resp.text


def test_load_rejects_bad_compact_forms_and_taken_keys(hm_admin: AdminClient) -> None:
    hm_admin.load({"messages": [{"id": 5, "phone": phone(1), "local_id": "x"}]})
    for payload, mentions in [
        ({"columns": ["phone", "colour"], "rows": []}, "columns"),
        ({"columns": ["phone", "text"], "rows": [[phone(1)]]}, "rows[0]"),
        ({"columns": ["phone"], "rows": "nope"}, "rows"),
        ({"rows": []}, "compact"),
        ([{"id": 5, "phone": phone(2)}], "already exists"),
        ([{"phone": phone(2), "local_id": "x"}], "local_id"),
    ]:
        resp = requests.post(f"{hm_admin.base_url}/__admin/load", json={"messages": payload}, timeout=10)
        assert resp.status_code == 400 and mentions in resp.text, resp.text


@pytest.mark.parametrize("how", ["v1", "v2", "v2 bulk"])
def test_deleting_a_contact_deletes_its_conversations(api: Api, hm_admin: AdminClient, how: str) -> None:
    hm_admin.load({"contacts": [{"phone": phone(1)}, {"phone": phone(2)}], "messages": tied_history(60)})
    doomed = api.ok("POST", "/v1/contact/get", {"phone": phone(1)})
    kept_before = [m for m in walk(api, "created_at", False, 50)[0] if m["phone"] != phone(1)]
    if how == "v1":
        api.ok("DELETE", f"/v1/contact/{doomed['id']}")
    elif how == "v2":
        api.ok("DELETE", f"/v2/contact/{doomed['uuid']}")
    else:
        api.ok("DELETE", "/v2/contacts", {"contact_channels": [{"channel_type": "id",
                                                                "channel_ids": [doomed["uuid"]]}]})
    after = walk(api, "created_at", False, 50)[0]
    assert [m["id"] for m in after] == [m["id"] for m in kept_before], "only that phone's messages went"
    assert api.ok("POST", "/v1/messages/all/count") == str(len(kept_before)) == str(60 - 3)
    for inbox in (SALES, SUPPORT):
        assert api.ok("GET", "/v1/messages", params={"phoneNumber": phone(1), "inboxID": inbox}) == []
    assert all(c["target"] != phone(1) for c in hm_admin.dump()["conversations"])
    assert api.send(phone_number=phone(1), text="new thread").status_code == 200, "the number can text again"


# --- the gate: auth, rate limit, faults, stats --------------------------------------------------------------

MESSAGE_CALLS = [("POST", "/v1/messages/all", {}), ("POST", "/v1/messages/all/count", {}),
                 ("GET", f"/v1/messages?phoneNumber={phone(1)}&inboxID={SALES}", None),
                 ("POST", "/v1/message/send", {"inbox_id": SALES, "creator_id": 502, "phone_number": phone(1),
                                               "text": "hi"})]


def _wait_for_fresh_window(margin: float = 3.0) -> None:
    """The rate-limit window is aligned to the clock minute; start a counting test well inside one."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def test_auth_rate_limit_faults_and_stats_apply(api: Api, hm_admin: AdminClient) -> None:
    for method, path, body in MESSAGE_CALLS:
        resp = requests.request(method, api.base_url + path, json=body, timeout=10)
        assert_error(resp, 401, "unauthorized")
    hm_admin.faults(fail_next=[503], path_prefixes=["/v1/message"])
    assert_error(api.call("POST", "/v1/messages/all", {}), 503, "service_unavailable")
    hm_admin.faults(path_prefixes=[], rate_limit_per_minute=4)
    _wait_for_fresh_window()
    statuses = [api.call(method, path, body).status_code for method, path, body in MESSAGE_CALLS]
    assert statuses == [200] * 4
    limited = api.call("POST", "/v1/messages/all", {})
    assert_error(limited, 429, "rate_limit_exceeded")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    stats = hm_admin.stats()
    for method, path, _ in MESSAGE_CALLS:
        assert stats["by_endpoint"][f"{method} {path.split('?')[0]}"] >= 2
    assert stats["injected_failures"] == {"503": 1} and stats["by_status"]["429"] == 1


# --- bad input never gives a 500 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "raw", "mentions"),
    [
        ("/v1/messages/all", b'{"limit": 0}', "limit"),
        ("/v1/messages/all", b'{"limit": "many"}', "limit"),
        ("/v1/messages/all", b'{"page": -1}', "page"),
        ("/v1/messages/all", b'{"order": "id"}', "order"),
        ("/v1/messages/all", b'{"created_at": "last week"}', "created_at"),
        ("/v1/messages/all", b'{"created_at": 1700000000}', "created_at"),
        ("/v1/messages/all", b'{"date": "soon"}', "date"),
        ("/v1/messages/all", b'{"ascending": "sometimes"}', "ascending"),
        ("/v1/messages/all", b'{"limit": 5', "not valid JSON"),
        ("/v1/messages/all", b"[]", "JSON object"),
        ("/v1/messages/all", b"1" * 5000, "too long"),
        ("/v1/messages/all", b"[" * 100_000, "nested"),
        ("/v1/message/send", b"", "body is required"),
        ("/v1/message/send", b"{}", "inbox_id"),
        ("/v1/message/send", b'{"inbox_id": 9001, "creator_id": 502, "phone_number": "14153000001\\n", '
                             b'"text": "a"}', "phone_number"),
        ("/v1/message/send", b'{"inbox_id": 9001, "creator_id": 502, "phone_number": "14153000001", '
                             b'"text": "lone \\ud800 surrogate"}', "surrogate"),
        ("/v1/contact", b'{"phone": "14153000001", "first": "\\udc00"}', "surrogate"),
    ],
)
def test_bad_bodies_get_bad_data_naming_the_field(api: Api, path: str, raw: bytes, mentions: str) -> None:
    resp = api.call("POST", path, data=raw, headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "bad_data", mentions)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["created_at", "date", "order", "ascending", "limit", "page", "inbox_id", "creator_id",
                         "phone_number", "chat_id", "text", "media_url", "template_id", "local_id", "private",
                         "list_id", "targets", "author"]) | st.text(max_size=5),
        children, max_size=6),
    max_leaves=12,
)
SEND_BASE = {"inbox_id": SALES, "creator_id": 502, "phone_number": phone(9), "text": "hi"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/v1/messages/all", "/v1/messages/all/count", "/v1/message/send"]),
       body=JSON_VALUES, overlay=st.booleans())
def test_random_json_never_causes_a_server_error(api: Api, path: str, body: Any, overlay: bool) -> None:
    if overlay and isinstance(body, dict) and path == "/v1/message/send":
        body = {**SEND_BASE, **body}  # mostly valid sends, so the deeper checks get fuzzed too
    resp = api.call("POST", path, data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert set(resp.json()) == {"error", "message"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.sampled_from(["phoneNumber", "inboxID", "timestamp", "x"]),
                              st.text(max_size=25) | st.integers(-10**25, 10**25).map(str), max_size=4))
def test_random_history_queries_never_cause_a_server_error(api: Api, params: dict[str, str]) -> None:
    resp = api.call("GET", "/v1/messages", params=params)
    assert resp.status_code < 500, resp.text


# --- scale -----------------------------------------------------------------------------------------------


@pytest.mark.scale
def test_300k_messages_load_in_the_compact_form_and_deep_pages_stay_right(api: Api, hm_admin: AdminClient) -> None:
    hm_admin.load({"contacts": [{"phone": phone(n)} for n in range(30_000)]})
    rows = [[phone(n % 30_000), "inbound" if n % 2 else "outbound", "hello", stamp(n)] for n in range(300_000)]
    assert hm_admin.load({"messages": {"columns": ["phone", "direction", "text", "date"], "rows": rows}}) == \
        {"messages": 300_000}
    assert api.ok("POST", "/v1/messages/all/count") == "300000"
    newest = api.ok("POST", "/v1/messages/all", {"limit": 100})
    assert [m["date"] for m in newest] == [stamp(n) for n in range(299_999, 299_899, -1)]
    deep = api.ok("POST", "/v1/messages/all", {"limit": 100, "page": 2500})
    assert [m["date"] for m in deep] == [stamp(n) for n in range(50_099, 49_999, -1)]
    cursor = api.ok("POST", "/v1/messages/all", {"limit": 3, "ascending": True, "created_at": stamp(123_456)})
    assert [m["date"] for m in cursor] == [stamp(n) for n in (123_456, 123_457, 123_458)]
    gone = api.ok("POST", "/v1/contact/get", {"phone": phone(7)})
    api.ok("DELETE", f"/v1/contact/{gone['id']}")
    assert api.ok("POST", "/v1/messages/all/count") == str(300_000 - 10)
