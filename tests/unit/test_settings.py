"""Plan post-processing in ``sync_engine.settings``: creates held back until their retry is due, and how
that interacts with settling moot retries."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from sync_engine.plan import plan
from sync_engine.settings import hold_creates, settled_retries
from tests.unit.plan.test_plan_world import hm_frame, link_frame, settings, sf_frame

RAW_ANN, RAW_BEN = "(415) 555-0101", "415.555.0102"


def _queued(*sf_ids: str) -> pd.DataFrame:
    """Retry queue rows (``StateStore.due_retries`` shape) of rejected Heymarket creates, not yet due."""
    later = pd.Timestamp(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    return pd.DataFrame([
        {"object": "Contact", "sf_id": i, "hm_id": pd.NA, "record_key": f"Contact/{i}/-", "target": "heymarket",
         "action": "create_heymarket", "attempts": 1, "next_attempt_after": later, "last_error_code": "REJECTED",
         "fingerprint": None, "due_reason": None} for i in sf_ids
    ])


def test_held_create_is_reported_skipped_and_its_retry_stays_queued() -> None:
    sf = sf_frame({"sf_id": "003A", "phone_raw": RAW_ANN, "first": "Ann"}, {"sf_id": "003B", "phone_raw": RAW_BEN})
    wanted = plan(sf, hm_frame(), link_frame(), settings())
    assert sorted(wanted.actions["create_heymarket"]["sf_id"]) == ["003A", "003B"]

    held = hold_creates(wanted, {"003B"})
    assert held.actions["create_heymarket"]["sf_id"].tolist() == ["003A"]
    [skipped] = held.report[held.report["kind"] == "skipped"].to_dict("records")
    assert (skipped["sf_id"], skipped["phone"]) == ("003B", "14155550102")
    assert "retried after its backoff" in skipped["detail"]
    # the plan still wants Ben's create: his queued retry is not moot, it waits for its backoff
    assert settled_retries(wanted, _queued("003B"), sf["sf_id"], [], ["Contact"], heymarket_full=False).empty
    # judged on the held plan it would look moot and be dropped for good: the operator must not do that
    assert len(settled_retries(held, _queued("003B"), sf["sf_id"], [], ["Contact"], heymarket_full=False)) == 1


def test_held_record_is_still_linked_by_phone_and_its_retry_settled() -> None:
    sf = sf_frame({"sf_id": "003B", "phone_raw": RAW_BEN, "first": "Ben"})
    hm = hm_frame({"hm_id": 9, "phone": "14155550102", "first": "Ben"})  # an agent added Ben by hand
    wanted = plan(sf, hm, link_frame(), settings())
    held = hold_creates(wanted, {"003B"})
    assert held.actions["link"]["sf_id"].tolist() == ["003B"]
    assert held.actions["create_heymarket"].empty and held.actions["create_salesforce"].empty
    assert held.report[held.report["kind"] == "skipped"].empty
    assert len(settled_retries(wanted, _queued("003B"), sf["sf_id"], [9], ["Contact"], heymarket_full=False)) == 1


def test_nothing_held_returns_the_plan_unchanged() -> None:
    wanted = plan(sf_frame({"sf_id": "003A", "phone_raw": RAW_ANN}), hm_frame(), link_frame(), settings())
    assert hold_creates(wanted, set()) is wanted
    assert hold_creates(wanted, {"003Z"}) is wanted
