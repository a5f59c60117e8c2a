"""HeymarketHook against the Heymarket emulator, over real sockets.

Fault storms, JWT expiry, fail-fast credentials, pacing, paging with ties and at 100,000 contacts,
batch writes, and a whole-session check that no credential ever reaches a log line, an exception or a
repr. ``hm_admin`` resets the emulator per test; its ``dump()`` and ``stats()`` are the ground truth.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import structlog

from emulators.common import credentials
from emulators.common.client import AdminClient
from emulators.common.process import EmulatorProcess
from heymarket_hook.errors import (
    HeymarketAuthError,
    HeymarketBadRequest,
    HeymarketError,
    HeymarketNotFound,
    HeymarketRateLimited,
)
from heymarket_hook.hook import HeymarketHook
from heymarket_hook.pagination import parse_timestamp

TIE = "2026-01-02T03:04:05.000000Z"


class SleepRecorder:
    """Stands in for ``time.sleep`` in the retry loop: records the waits, waits for nothing."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def phone(n: int) -> str:
    return f"1415{n:07d}"


def contacts_payload(count: int, *, start: int = 0, updated: str | None = None) -> list[dict[str, Any]]:
    """Contacts for ``hm_admin.load``; with ``updated`` they all share that timestamp (a bulk write)."""
    out = []
    for n in range(start, start + count):
        record: dict[str, Any] = {"phone": phone(n), "first": f"First{n}", "last": f"Last{n}"}
        if updated:
            record["updated"] = updated
        out.append(record)
    return out


def read_all(hook: HeymarketHook, **kwargs: Any) -> list[dict[str, Any]]:
    return [contact for page in hook.iter_contacts(**kwargs) for contact in page]


def assert_each_once(read: list[dict[str, Any]], dump: dict[str, Any]) -> None:
    counts = Counter(c["id"] for c in read)
    assert not [i for i, n in counts.items() if n > 1], "a contact was read twice"
    assert set(counts) == {c["id"] for c in dump["contacts"]}


@pytest.fixture
def heymarket_jwt_conn(heymarket_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``heymarket`` connection using the emulator's API secret (JWT), with no API key at all."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_HEYMARKET_JWT",
        json.dumps({
            "conn_type": "heymarket", "host": heymarket_emulator.base_url,
            "extra": {"secret_id": credentials.HEYMARKET_SECRET_ID, "secret_key": credentials.HEYMARKET_SECRET_KEY},
        }),
    )
    return "heymarket_jwt"


@pytest.fixture
def bad_key_conn(heymarket_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HEYMARKET_BADKEY",
        json.dumps({"conn_type": "heymarket", "host": heymarket_emulator.base_url,
                    "password": "hm_wrong_key_0000000000"}),
    )
    return "heymarket_badkey"


# --------------------------------------------------------------------------------------------------
# connection test, auth


def test_connection_test_button_with_key_and_with_secret(
    hm_admin: AdminClient, heymarket_conn: str, heymarket_jwt_conn: str,
) -> None:
    ok, message = HeymarketHook(heymarket_conn).test_connection()
    assert ok, message
    assert "team API key (legacy)" in message and "2 inbox(es)" in message
    ok, message = HeymarketHook(heymarket_jwt_conn).test_connection()
    assert ok, message
    assert "API secret (JWT)" in message


def test_bad_key_fails_fast_with_a_clear_message(hm_admin: AdminClient, bad_key_conn: str) -> None:
    hook = HeymarketHook(bad_key_conn, sleep=SleepRecorder())
    ok, message = hook.test_connection()
    assert not ok
    assert "HTTP 401" in message and "Check the API key in the Airflow connection 'heymarket_badkey'" in message
    assert "check it again with the Test button of 'heymarket_badkey' in Admin > Connections" in message
    assert "`airflow connections test heymarket_badkey`" in message and "X-Request-Id" in message
    assert hm_admin.stats()["total"] == 1  # no retry of any kind
    with pytest.raises(HeymarketAuthError):
        hook.count_contacts()
    assert hm_admin.stats()["total"] == 2 and hook.retries == {}


def test_expired_jwt_is_reminted_once_and_the_call_succeeds(
    hm_admin: AdminClient, heymarket_jwt_conn: str,
) -> None:
    hook = HeymarketHook(heymarket_jwt_conn, sleep=SleepRecorder())
    auth = hook._config().auth
    # The cached token was minted 400 s ago by this clock (a worker suspended mid-task, or clock skew),
    # yet the cache still trusts it: the emulator rejects it as expired.
    stale = iter([time.time() - 400])
    auth.wall_clock = lambda: next(stale, time.time())
    inboxes = hook.list_inboxes()
    assert len(inboxes) == 2
    stats = hm_admin.stats()
    assert stats["total"] == 2 and stats["by_status"] == {"200": 1, "401": 1}
    assert auth.mint_count == 2 and hook.retries == {"GET /v1/inboxes": 1}
    # the fresh token is cached and reused
    hook.get_team()
    assert auth.mint_count == 2


def test_wrong_secret_is_reminted_once_then_fails(
    hm_admin: AdminClient, heymarket_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HEYMARKET_BADSECRET", json.dumps({
        "conn_type": "heymarket", "host": heymarket_emulator.base_url,
        "extra": {"secret_id": credentials.HEYMARKET_SECRET_ID, "secret_key": "WrongSecretKey000000000000000000"},
    }))
    hook = HeymarketHook("heymarket_badsecret", sleep=SleepRecorder())
    with pytest.raises(HeymarketAuthError, match="API Secret ID / Secret Key in the Airflow connection"):
        hook.list_inboxes()
    assert hm_admin.stats()["total"] == 2  # the first try and exactly one fresh token


# --------------------------------------------------------------------------------------------------
# fault storms: full read and batch write of 1,000 contacts, each exactly once


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"error_rates": {429: 0.3}}, id="429-storm"),
        pytest.param({"error_rates": {500: 0.2, 503: 0.1}}, id="5xx-bursts"),
    ],
)
def test_storms_still_read_and_write_everything_exactly_once(
    hm_admin: AdminClient, heymarket_conn: str, faults: dict[str, Any],
) -> None:
    hm_admin.load({"contacts": contacts_payload(1000)})
    hm_admin.faults(seed=7, **faults)
    sleeper = SleepRecorder()
    hook = HeymarketHook(heymarket_conn, sleep=sleeper)

    read = [c for page in hook.iter_all_contacts() for c in page]
    assert len(read) == 1000
    assert_each_once(read, hm_admin.dump())

    new = contacts_payload(1000, start=5000)
    result = hook.batch_upsert(new, overwrite=True)
    assert (result.submitted, result.succeeded, result.batches, result.failures) == (1000, 1000, 10, [])

    hm_admin.faults(error_rates={})
    written = {c["phone"]: c for c in hm_admin.dump()["contacts"] if c["phone"] in {n["phone"] for n in new}}
    assert len(written) == 1000
    assert {c["rev"] for c in written.values()} == {1}  # no batch was applied twice

    stats = hm_admin.stats()
    injected = sum(stats["injected_failures"].values())
    assert injected > 0 and sum(hook.retries.values()) == injected
    assert sum(hook.api_calls.values()) == stats["total"]  # /__admin calls are not counted by the emulator
    assert sleeper.waits and all(w >= 0 for w in sleeper.waits)
    print(f"\n{faults}: api_calls={hook.api_calls} retries={hook.retries}")


def test_deterministic_429_storm_honours_retry_after(hm_admin: AdminClient, heymarket_conn: str) -> None:
    hm_admin.faults(fail_next=[429] * 5)
    sleeper = SleepRecorder()
    hook = HeymarketHook(heymarket_conn, sleep=sleeper)
    assert hook.get_team()["name"] == "Sandbox Team"
    assert hook.retries == {"GET /v1/team": 5} and hook.api_calls == {"GET /v1/team": 6}
    assert len(sleeper.waits) == 5 and min(sleeper.waits) >= 1.0  # injected 429s say Retry-After: 1


def test_429_storm_longer_than_the_attempts_raises_rate_limited(hm_admin: AdminClient, heymarket_conn: str) -> None:
    hm_admin.faults(fail_next=[429] * 6)
    hook = HeymarketHook(heymarket_conn, sleep=SleepRecorder())
    with pytest.raises(HeymarketRateLimited) as caught:
        hook.get_team()
    assert caught.value.retry_after == 1.0 and "requests_per_minute" in str(caught.value)
    assert hm_admin.stats()["total"] == 6


def test_real_rate_limit_retry_waits_until_the_window_ends(hm_admin: AdminClient, heymarket_conn: str) -> None:
    hm_admin.faults(rate_limit_per_minute=3)
    sleeper = SleepRecorder()
    hook = HeymarketHook(heymarket_conn, sleep=sleeper, max_attempts=2)
    for _ in range(3):
        hook.get_team()
    with pytest.raises(HeymarketRateLimited) as caught:
        hook.get_team()
    # the emulator's Retry-After is the rest of the clock minute; the hook waited at least that long
    assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 60
    assert len(sleeper.waits) == 1 and sleeper.waits[0] >= caught.value.retry_after - 1


# --------------------------------------------------------------------------------------------------
# pacing


def test_unpaced_client_hits_the_limit_paced_client_is_held_back(hm_admin: AdminClient, heymarket_conn: str) -> None:
    """Fast half of the pacing proof; the full minute-long steady run is the ``scale`` test below.

    The emulator's window is a fixed clock minute, so any run that sends more than its limit without a
    429 must last a minute. Here: an unpaced hook gets 429s from the real limiter (the limit is live),
    and a hook paced just below the limit sends its share without a single 429, after which its pacer
    refuses the next slot instead of sending it.
    """
    hm_admin.faults(rate_limit_per_minute=20)
    unpaced = HeymarketHook(heymarket_conn, requests_per_minute=100_000, max_attempts=1)
    limited = 0
    for _ in range(41):  # 41 calls overflow 20/minute even if a clock minute starts mid-run
        try:
            unpaced.get_team()
        except HeymarketRateLimited:
            limited += 1
    assert limited > 0

    hm_admin.reset()
    hm_admin.faults(rate_limit_per_minute=20)
    paced = HeymarketHook(heymarket_conn, requests_per_minute=18, max_attempts=1)
    for _ in range(18):
        paced.get_team()
    assert paced.pacer.try_acquire(timeout=1.0) is False  # the 19th would have to wait for the window
    assert hm_admin.stats()["by_status"] == {"200": 18}


@pytest.mark.scale
def test_steady_paced_run_never_hits_the_limit(hm_admin: AdminClient, heymarket_conn: str) -> None:
    """40 calls against a 30/minute limit with the hook paced at 28/minute: no 429, about a minute."""
    hm_admin.faults(rate_limit_per_minute=30)
    hook = HeymarketHook(heymarket_conn, requests_per_minute=28, max_attempts=1)
    start = time.monotonic()
    for _ in range(40):
        hook.get_team()
    elapsed = time.monotonic() - start
    assert hm_admin.stats()["by_status"] == {"200": 40}
    assert elapsed >= 59  # call 29 had to wait until the first one left the 60 s window
    assert hook.pacer.waits >= 1
    print(f"\n40 paced calls took {elapsed:.1f}s, waited {hook.pacer.waited_seconds:.1f}s, no 429")


# --------------------------------------------------------------------------------------------------
# paging


def test_contacts_sharing_one_updated_are_all_read(hm_admin: AdminClient, heymarket_conn: str) -> None:
    hm_admin.load({"contacts": contacts_payload(20, start=0)
                   + contacts_payload(730, start=100, updated=TIE) + contacts_payload(50, start=2000)})
    hook = HeymarketHook(heymarket_conn)
    for size in (100, 30):
        read = read_all(hook, page_size=size)
        assert len(read) == 800
        assert_each_once(read, hm_admin.dump())


def test_bulk_written_ties_via_the_api_are_all_read(hm_admin: AdminClient, heymarket_conn: str) -> None:
    hm_admin.load({"settings": {"duplicate_timestamps": True}})
    hook = HeymarketHook(heymarket_conn)
    assert hook.batch_upsert(contacts_payload(350)).succeeded == 350
    dump = hm_admin.dump()
    assert len({c["updated"] for c in dump["contacts"]}) == 1
    read = read_all(hook, page_size=100)
    assert_each_once(read, dump)


def test_incremental_read_since_a_watermark(hm_admin: AdminClient, heymarket_conn: str) -> None:
    hm_admin.load({"contacts": contacts_payload(300)})
    dump = hm_admin.dump()
    watermark_contact = max(dump["contacts"], key=lambda c: c["updated"])
    watermark = parse_timestamp(watermark_contact["updated"])
    hook = HeymarketHook(heymarket_conn)
    changed = [dump["contacts"][i] for i in (3, 150, 299)]
    for contact in changed:
        hook.update_contact(contact["id"], {"phone": contact["phone"], "first": "Changed", "last": "Name"})
    read = read_all(hook, since=watermark)
    # inclusive bound: the contact at the watermark itself comes back too, harmlessly
    assert {c["id"] for c in read} == {c["id"] for c in changed} | {watermark_contact["id"]}
    assert all(c["first"] == "Changed" for c in read if c["id"] != watermark_contact["id"])
    assert hook.api_calls["POST /v1/contacts"] <= 2
    assert read_all(hook, since=watermark + timedelta(days=1)) == []


@pytest.mark.scale
def test_paging_100k_contacts_reads_every_one_once(hm_admin: AdminClient, heymarket_conn: str) -> None:
    start = time.monotonic()
    loaded = hm_admin.load({"contacts": contacts_payload(100_000)})
    assert loaded["contacts"] == 100_000
    hm_admin.faults(rate_limit_per_minute=1_000_000)
    load_seconds = time.monotonic() - start
    hook = HeymarketHook(heymarket_conn, requests_per_minute=1_000_000)
    start = time.monotonic()
    seen: Counter[int] = Counter()
    for page in hook.iter_all_contacts():
        seen.update(c["id"] for c in page)
    read_seconds = time.monotonic() - start
    dump = hm_admin.dump()
    assert max(seen.values()) == 1
    assert set(seen) == {c["id"] for c in dump["contacts"]} and len(seen) == 100_000
    calls = hook.api_calls
    assert hm_admin.stats()["total"] == sum(calls.values())
    assert 1000 <= calls["POST /v1/contacts"] <= 1020 and hook.retries == {}
    print(f"\n100,000 contacts: load {load_seconds:.1f}s, read {read_seconds:.1f}s, API calls {calls}")


# --------------------------------------------------------------------------------------------------
# single-contact calls, fields, team


def test_find_contacts_by_phone_resolves_many_phones_in_one_call_per_hundred(
    hm_admin: AdminClient, heymarket_conn: str
) -> None:
    hm_admin.load({"contacts": [{"phone": phone(n), "first": f"C{n}"} for n in range(150)]})
    hook = HeymarketHook(heymarket_conn)
    wanted = [phone(n) for n in range(0, 150, 1)] + [phone(500), phone(501)]
    found = hook.find_contacts_by_phone(wanted)
    assert set(found) == {phone(n) for n in range(150)}  # the two unknown phones are simply absent
    assert found[phone(7)]["first"] == "C7" and found[phone(7)]["uuid"]
    assert hook.api_calls == {"POST /v2/contacts/search": 2}


def test_contact_crud_round_trip(hm_admin: AdminClient, heymarket_conn: str) -> None:
    hm_admin.load({"fields": [{"id": 1, "title": "Customer Tier"}]})
    hook = HeymarketHook(heymarket_conn)
    created = hook.create_contact({"phone": phone(1), "first": "Ana", "last": "Lima", "custom": {"1": "Gold"}})
    assert set(created) >= {"id", "rev", "uuid"}
    assert hook.get_contact(created["id"])["custom"] == {"1": "Gold"}
    assert hook.get_contact_by_phone(phone(1))["id"] == created["id"]
    assert hook.get_contact_by_phone(phone(2)) is None
    with pytest.raises(HeymarketBadRequest, match="bad_data"):
        hook.create_contact({"phone": phone(1)})
    updated = hook.update_contact(created["id"], {"phone": phone(1), "first": "Ana", "last": "Silva"})
    assert updated["rev"] == created["rev"] + 1
    assert hook.get_contact(created["id"])["last"] == "Silva"
    assert hook.count_contacts() == 1
    hook.delete_contact(created["id"])
    with pytest.raises(HeymarketNotFound) as caught:
        hook.get_contact(created["id"])
    assert caught.value.status == 404 and caught.value.request_id
    assert hook.count_contacts() == 0


def test_fields_team_inboxes_users(hm_admin: AdminClient, heymarket_conn: str) -> None:
    hook = HeymarketHook(heymarket_conn)
    assert hook.list_contact_fields() == []
    made = hook.create_contact_fields(["Customer Tier", "Region"])
    assert [(f["title"], f["duplicate"]) for f in made] == [("Customer Tier", False), ("Region", False)]
    again = hook.create_contact_fields(["Region"])
    assert again[0]["duplicate"] is True and again[0]["id"] == made[1]["id"]
    assert {f["title"] for f in hook.list_contact_fields()} == {"Customer Tier", "Region"}
    assert hook.get_team()["id"] == 3301
    assert {i["id"] for i in hook.list_inboxes()} == {9001, 9002}
    assert len(hook.list_users()) == 3
    only = hook.list_users(emails=["priya.shah@sandbox-team.example.com"])
    assert [u["id"] for u in only] == [502]


# --------------------------------------------------------------------------------------------------
# batch writes


def test_batch_upsert_reports_per_record_failures_by_input_index(hm_admin: AdminClient, heymarket_conn: str) -> None:
    hm_admin.load({"contacts": [{"phone": phone(7), "first": "Old", "last": "Name"}]})
    hook = HeymarketHook(heymarket_conn)
    batch = contacts_payload(150)
    batch[120] = {"phone": "+1 415 bad", "first": "Bad"}
    batch[130] = dict(batch[129])  # duplicate phone in one batch: the first occurrence wins
    batch[7]["first"] = "New"
    result = hook.batch_upsert(batch, overwrite=True, batch_size=100)
    assert (result.submitted, result.batches) == (150, 2)
    assert sorted((f.index, f.error) for f in result.failures) == [
        (120, "invalid phone"), (130, "duplicate phone in batch")]
    contacts = {c["phone"]: c for c in hm_admin.dump()["contacts"]}
    assert len(contacts) == 148 and contacts[phone(7)]["first"] == "New"

    keep = hook.batch_upsert([{"phone": phone(7), "first": "Ignored", "last": "X"}], overwrite=False)
    assert keep.failures == [] and hook.get_contact_by_phone(phone(7))["first"] == "New"


def test_bulk_v2_create_update_and_delete(hm_admin: AdminClient, heymarket_conn: str) -> None:
    hook = HeymarketHook(heymarket_conn)
    created = hook.bulk_create_or_update(contacts_payload(150))
    assert (len(created.created), len(created.updated), created.failures, created.batches) == (150, 0, [], 2)
    assert all(c.get("id") and c.get("uuid") for c in created.created)

    uuids = [c["uuid"] for c in created.created]
    changes = [{"contact_id": uuids[i], "first": "Renamed"} for i in range(5)]
    changes.insert(2, {"contact_id": "00000000-0000-4000-8000-000000000000", "first": "Ghost"})
    changes.append({"phone": phone(9000), "first": "Fresh"})
    result = hook.bulk_create_or_update(changes)
    assert len(result.updated) == 5 and all(c["first"] == "Renamed" for c in result.updated)
    assert [c["phone"] for c in result.created] == [phone(9000)]
    assert [(f.index, f.error) for f in result.failures] == [(2, "contact not found")]

    assert hook.bulk_delete(uuids[:120]) == 120
    assert hook.count_contacts() == 31
    assert hook.api_calls["DELETE /v2/contacts"] == 2


# --------------------------------------------------------------------------------------------------
# no secret in any log line, exception or repr


@contextmanager
def capture_everything(caplog: pytest.LogCaptureFixture) -> Iterator[list[dict[str, Any]]]:
    """Every log line at DEBUG: stdlib loggers (root, requests, urllib3) via caplog, and Airflow's
    structlog loggers (the hook's ``self.log``) with their level filter lowered to DEBUG."""
    old_wrapper = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    for name in ("", "requests", "urllib3", "airflow"):
        caplog.set_level(logging.DEBUG, logger=name)
    try:
        with structlog.testing.capture_logs() as events:
            yield events
    finally:
        structlog.configure(wrapper_class=old_wrapper)


def log_text(caplog: pytest.LogCaptureFixture, events: list[dict[str, Any]]) -> str:
    lines = [caplog.text]
    for record in caplog.records:
        lines += [str(record.msg), repr(record.args), record.exc_text or ""]
    lines += [repr(event) for event in events]
    return "\n".join(lines)


def test_no_secret_anywhere_in_a_full_session(
    hm_admin: AdminClient, heymarket_conn: str, heymarket_jwt_conn: str, bad_key_conn: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Positive control: the capture does see a secret when one is logged, on both channels.
    with capture_everything(caplog) as events:
        logging.getLogger("urllib3").debug("canary %s", credentials.HEYMARKET_API_KEY)
        HeymarketHook("canary").log.debug("canary %s", credentials.HEYMARKET_SECRET_KEY)
    canary_text = log_text(caplog, events)
    assert credentials.HEYMARKET_API_KEY in canary_text and credentials.HEYMARKET_SECRET_KEY in canary_text
    caplog.clear()

    hm_admin.load({"contacts": contacts_payload(250)})
    problems: list[str] = []
    hooks: list[HeymarketHook] = []
    with capture_everything(caplog) as events:
        key_hook = HeymarketHook(heymarket_conn, sleep=SleepRecorder())
        jwt_hook = HeymarketHook(heymarket_jwt_conn, sleep=SleepRecorder())
        bad_hook = HeymarketHook(bad_key_conn, sleep=SleepRecorder())
        hooks += [key_hook, jwt_hook, bad_hook]
        assert key_hook.test_connection()[0] and jwt_hook.test_connection()[0]
        hm_admin.faults(fail_next=[429, 500, 503])
        assert sum(len(p) for p in key_hook.iter_all_contacts()) == 250
        stale = iter([time.time() - 400])
        jwt_hook._config().auth.invalidate()
        jwt_hook._config().auth.wall_clock = lambda: next(stale, time.time())
        assert sum(len(p) for p in jwt_hook.iter_contacts(page_size=60)) == 250
        batch = contacts_payload(120, start=1000)
        batch[5]["phone"] = "not-a-phone"
        assert len(jwt_hook.batch_upsert(batch).failures) == 1
        for call in (lambda: key_hook.get_contact(999_999_999), lambda: bad_hook.list_inboxes(),
                     lambda: jwt_hook.create_contact({"phone": phone(1000)})):
            try:
                call()
            except HeymarketError as exc:
                problems += [str(exc), repr(exc), repr(exc.args)]
        hm_admin.faults(fail_next=[500] * 6)
        try:
            key_hook.get_team()
        except HeymarketError as exc:
            problems += [str(exc), repr(exc)]
        problems.append(bad_hook.test_connection()[1])

    assert len(problems) == 12
    assert sum(sum(h.retries.values()) for h in hooks) >= 9  # 3 + re-mint + 5 from the final storm
    text = "\n".join([log_text(caplog, events), *problems, *(repr(h) for h in hooks),
                      *(repr(h._config()) for h in hooks)])
    # the capture really saw the session: urllib3 debug lines, the hook's debug, info and warning lines
    for seen in ("HTTP/1.1", "-> HTTP 401", "Heymarket contacts: page", "minting a new one", "retrying in"):
        assert seen in text
    secrets = {credentials.HEYMARKET_API_KEY, credentials.HEYMARKET_SECRET_KEY, "hm_wrong_key_0000000000",
               f"{credentials.HEYMARKET_SECRET_ID}||{credentials.HEYMARKET_SECRET_KEY}"}
    jwt_auth = jwt_hook._config().auth
    tokens = set(jwt_auth.secrets()[2:])
    assert jwt_auth.mint_count == 3 and len(tokens) >= 2  # first, stale, re-minted (may equal the first)
    for secret in secrets | tokens:
        assert secret not in text
    # contact payloads are personal data: phones and names stay out of the logs too
    log_only = log_text(caplog, events)
    assert phone(17) not in log_only and "First17" not in log_only
