"""The batch applier with in-memory writers: batching, per-record outcomes, checkpoints, stopping."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from sync_engine.apply import (
    MAX_UNRECORDED_BATCHES,
    ApplyResult,
    LinkChange,
    LinkDeletion,
    LinkRelease,
    PlanApplier,
    WriteOutcome,
    heymarket_payload,
    salesforce_payload,
)
from sync_engine.outcomes import RecordOutcome

KEYS = ["first", "last", "email", "custom.Customer Tier"]


class FakeState:
    def __init__(self) -> None:
        self.batches: list[dict[str, list]] = []

    def commit_batch(self, run_id, upserts, deletes, failures, succeeded, releases=(), outcomes=()) -> None:
        self.batches.append({"upserts": list(upserts), "deletes": list(deletes), "failures": list(failures),
                             "succeeded": list(succeeded), "releases": list(releases),
                             "outcomes": list(outcomes)})

    def all(self, kind: str) -> list:
        return [item for batch in self.batches for item in batch[kind]]


class FakeHeymarket:
    """Phone-keyed like Heymarket: a bad phone is refused, everything else written."""

    def __init__(self) -> None:
        self.contacts: dict[str, dict] = {}
        self.calls = 0
        self.deleted: list[tuple[int, str | None]] = []
        self.lock = threading.Lock()  # the applier sends two batches at once

    def upsert(self, contacts):
        with self.lock:
            return self._upsert(contacts)

    def _upsert(self, contacts):
        self.calls += 1
        outcomes = []
        for sent in contacts:
            if not str(sent["phone"]).isdigit():
                outcomes.append(WriteOutcome(ok=False, error_code="REJECTED", message="invalid phone"))
                continue
            existing = self.contacts.get(sent["phone"])
            hm_id = existing["id"] if existing else len(self.contacts) + 1
            self.contacts[sent["phone"]] = {**(existing or {}), **sent, "id": hm_id, "uuid": f"u{hm_id}"}
            outcomes.append(WriteOutcome(ok=True, hm_id=hm_id, hm_uuid=f"u{hm_id}"))
        return outcomes

    def delete(self, contacts):
        self.calls += 1
        self.deleted.extend(contacts)
        return [WriteOutcome(ok=True, hm_id=h, hm_uuid=u) for h, u in contacts]


class FakeSalesforce:
    def __init__(self) -> None:
        self.created: list[tuple[str, dict]] = []
        self.updated: list[tuple[str, dict]] = []

    def create(self, object_name, records):
        self.created += [(object_name, r) for r in records]
        return [WriteOutcome(ok=True, sf_id=f"003NEW{i:012d}") for i, _ in enumerate(records)]

    def update(self, object_name, records):
        self.updated += [(object_name, r) for r in records]
        return [WriteOutcome(ok=r.get("LastName") != "Locked", sf_id=r["Id"], error_code="UNABLE_TO_LOCK_ROW",
                             message="locked") for r in records]


def frame(rows: list[dict]) -> pd.DataFrame:
    base = {"sf_id": None, "hm_id": pd.NA, "reason": "", "changed": "", **dict.fromkeys(KEYS)}
    return pd.DataFrame([{**base, **r} for r in rows])


def applier(state: FakeState, stop=lambda: None, batch: int = 2) -> PlanApplier:
    keys = {"Contact": KEYS, "Lead": KEYS[:3]}
    return PlanApplier(state, "run-1", keys, keys, stop=stop, batch_size_heymarket=batch,
                       batch_size_salesforce=batch, progress=lambda _: None)


def test_heymarket_creates_and_updates_are_batched_and_checkpointed() -> None:
    creates = frame([{"action": "create_heymarket", "object": "Contact", "sf_id": f"003{i:015d}",
                      "phone": f"1415555{i:04d}", "first": f"F{i}", "last": "L", "custom.Customer Tier": "Gold"}
                     for i in range(5)])
    creates.loc[3, "phone"] = "bad"
    updates = frame([{"action": "update_heymarket", "object": "Contact", "sf_id": "003X", "hm_id": 42,
                      "phone": "12125550100", "first": "New", "last": "Name", "changed": "first"}])
    state, hm = FakeState(), FakeHeymarket()
    result = applier(state).apply_heymarket({"create_heymarket": creates, "update_heymarket": updates}, hm,
                                            {"Customer Tier": "12"}, {42: "u-42"}, set(), ApplyResult())
    assert hm.calls == 3  # 6 records in batches of 2
    assert len(state.batches) == 3  # one commit per batch
    assert result.as_dict()["Contact"]["create_heymarket"] == {"ok": 4, "failed": 1}
    assert result.as_dict()["Contact"]["update_heymarket"] == {"ok": 1}
    links = {c.sf_id: c for c in state.all("upserts")}
    assert links["003000000000000000000"[:18]].synced["custom.Customer Tier"] == "Gold"
    assert links["003X"].synced == {"first": "New"}  # only the keys written are remembered as agreed
    [failure] = state.all("failures")
    assert (failure.sf_id, failure.error_code, failure.target) == ("003000000000000003", "REJECTED", "heymarket")
    assert len(failure.fingerprint) == 16
    # the update went out with its UUID and the custom field under its Heymarket id
    assert hm.contacts["12125550100"]["contact_id"] == "u-42"
    assert hm.contacts["14155550000"]["custom"] == {"12": "Gold"}


def test_stop_request_ends_between_batches_keeping_what_was_committed() -> None:
    creates = frame([{"action": "create_heymarket", "object": "Contact", "sf_id": f"003{i:015d}",
                      "phone": f"1415555{i:04d}"} for i in range(6)])
    state, hm = FakeState(), FakeHeymarket()
    calls = {"n": 0}

    def stop() -> str | None:
        calls["n"] += 1
        return "the run was cancelled" if calls["n"] > 1 else None

    result = applier(state, stop=stop).apply_heymarket({"create_heymarket": creates}, hm, {}, {}, set(),
                                                       ApplyResult())
    assert result.stopped and result.stop_reason == "the run was cancelled"
    assert len(hm.contacts) == 2 and len(state.all("upserts")) == 2


def test_deletes_only_for_objects_with_the_delete_option() -> None:
    deletes = frame([
        {"action": "delete_heymarket", "object": "Contact", "sf_id": "003A", "hm_id": 1, "phone": "14155550001"},
        {"action": "delete_heymarket", "object": "Lead", "sf_id": "00QA", "hm_id": 2, "phone": "14155550002"},
    ])
    state, hm = FakeState(), FakeHeymarket()
    result = applier(state).apply_heymarket({"delete_heymarket": deletes}, hm, {}, {1: "u1"}, {"Contact"},
                                            ApplyResult())
    assert hm.deleted == [(1, "u1")]
    assert [(k.object, k.sf_id) for k in state.all("deletes")] == [("Contact", "003A")]
    assert result.as_dict() == {"Contact": {"delete_heymarket": {"ok": 1}}}


def test_link_and_unlink_change_state_only() -> None:
    links = frame([{"action": "link", "object": "Contact", "sf_id": "003A", "hm_id": 5, "phone": "14155550005",
                    "agreed.first": "Ada"}])
    unlinks = frame([
        {"action": "unlink", "object": "Lead", "sf_id": "00QA", "hm_id": 6, "phone": "1", "reason": "out_of_scope"},
        {"action": "unlink", "object": "Lead", "sf_id": "00QB", "hm_id": 7, "phone": "1",
         "reason": "heymarket_deleted"},
    ])
    state, hm = FakeState(), FakeHeymarket()
    applier(state).apply_heymarket({"link": links, "unlink": unlinks}, hm, {}, {5: "u5"}, set(), ApplyResult())
    assert hm.calls == 0
    upserts = state.all("upserts")
    assert upserts[0] == LinkChange("Contact", "003A", 5, "u5", "14155550005", "active", {"first": "Ada"})
    assert (upserts[1].sf_id, upserts[1].status) == ("00QA", "out_of_scope")
    assert [k.sf_id for k in state.all("deletes")] == ["00QB"]


def test_takeover_release_and_a_dropped_released_memory_are_one_state_batch() -> None:
    """A phone move: 003A takes contact 8 over (from 003B's old pair) and releases contact 5; a released
    memory whose contact was deleted in Heymarket goes by its id."""
    links = frame([{"action": "link", "object": "Contact", "sf_id": "003A", "hm_id": 8, "phone": "14155550008",
                    "reason": "takeover", "agreed.first": "Ben", "agreed.last": "Oka"}])
    unlinks = frame([
        {"action": "unlink", "object": "Contact", "sf_id": "003A", "hm_id": 5, "phone": "14155550005",
         "reason": "released"},
        {"action": "unlink", "object": "Lead", "sf_id": None, "hm_id": 9, "phone": "14155550009",
         "reason": "heymarket_deleted"},
    ])
    state, hm = FakeState(), FakeHeymarket()
    result = applier(state).apply_heymarket({"link": links, "unlink": unlinks}, hm, {}, {8: "u8"}, set(),
                                            ApplyResult())
    assert hm.calls == 0 and len(state.batches) == 1
    [batch] = state.batches
    # the memory of contact 8's old pair, as the plan's agreed.* columns carry it
    assert batch["upserts"] == [LinkChange("Contact", "003A", 8, "u8", "14155550008", "active",
                                           {"first": "Ben", "last": "Oka"})]
    assert batch["releases"] == [LinkRelease("Contact", "003A", 5)]
    assert batch["deletes"] == [LinkDeletion("Lead", None, 9)]
    assert result.as_dict() == {"Contact": {"link": {"ok": 1}, "unlink": {"ok": 1}}, "Lead": {"unlink": {"ok": 1}}}


def test_salesforce_creates_use_defaults_and_updates_report_failures() -> None:
    creates = frame([{"action": "create_salesforce", "object": "Lead", "hm_id": 9, "phone": "14155550009",
                      "first": "Grace", "last": None}])
    updates = frame([
        {"action": "update_salesforce", "object": "Contact", "sf_id": "003A", "hm_id": 1, "phone": "1",
         "last": "Locked", "changed": "last"},
        {"action": "update_salesforce", "object": "Contact", "sf_id": "003B", "hm_id": 2, "phone": "1",
         "last": "Fine", "email": "x@example.com", "changed": "last,email"},
    ])
    state, sf = FakeState(), FakeSalesforce()
    fields = {"Lead": {"first": "FirstName", "last": "LastName", "email": "Email", "phone": "Phone"},
              "Contact": {"first": "FirstName", "last": "LastName", "email": "Email", "phone": "Phone"}}
    result = applier(state).apply_salesforce({"create_salesforce": creates, "update_salesforce": updates}, sf,
                                             fields, {"Lead": {"Company": "Unknown", "LastName": "Unknown"}},
                                             {9: "u9"}, ApplyResult())
    assert sf.created == [("Lead", {"FirstName": "Grace", "LastName": "Unknown", "Email": None,
                                    "Phone": "+14155550009", "Company": "Unknown"})]
    assert sf.updated[1] == ("Contact", {"LastName": "Fine", "Email": "x@example.com", "Id": "003B"})
    assert result.as_dict()["Contact"]["update_salesforce"] == {"ok": 1, "failed": 1}
    assert [f.error_code for f in state.all("failures")] == ["UNABLE_TO_LOCK_ROW"]
    created_link = next(c for c in state.all("upserts") if c.object == "Lead")
    assert (created_link.sf_id, created_link.hm_uuid) == ("003NEW000000000000", "u9")


def test_payloads_clear_values_with_empty_strings_and_skip_unknown_custom_fields() -> None:
    row = {"phone": "14155550134", "first": None, "last": "L", "email": "e@x.io", "custom.Customer Tier": "Gold",
           "custom.Unmapped": "x"}
    payload = heymarket_payload(row, [*KEYS, "custom.Unmapped"], {"Customer Tier": 12}, uuid=None)
    assert payload == {"phone": "14155550134", "first": "", "last": "L", "email": "e@x.io",
                       "custom": {"12": "Gold"}}
    record = salesforce_payload({**row, "sf_id": "003A"}, ["last", "phone"], {"last": "LastName", "phone": "Phone"})
    assert record == {"LastName": "L", "Phone": "+14155550134", "Id": "003A"}


def _creates(n: int) -> pd.DataFrame:
    return frame([{"action": "create_heymarket", "object": "Contact", "sf_id": f"003{i:015d}",
                   "phone": f"1415555{i:04d}"} for i in range(n)])


class WatchedHeymarket(FakeHeymarket):
    """Records, at each call's start, how many calls are running and how many batches are committed."""

    def __init__(self, state: FakeState, hold: float = 0.02) -> None:
        super().__init__()
        self.state, self.hold = state, hold
        self.running = 0
        self.seen: list[tuple[int, int, int]] = []  # (call number, calls running, batches committed)
        self.count_lock = threading.Lock()

    def upsert(self, contacts):
        with self.count_lock:
            self.running += 1
            self.seen.append((len(self.seen), self.running, len(self.state.batches)))
        threading.Event().wait(self.hold)  # the network round trip
        try:
            return super().upsert(contacts)
        finally:
            with self.count_lock:
                self.running -= 1


@pytest.mark.parametrize("in_flight", [1, 2])
def test_heymarket_calls_overlap_but_never_leave_more_than_two_batches_unrecorded(in_flight: int) -> None:
    state = FakeState()
    hm = WatchedHeymarket(state)
    keys = {"Contact": KEYS}
    applier = PlanApplier(state, "run-1", keys, keys, batch_size_heymarket=2, progress=lambda _: None,
                          heymarket_in_flight=in_flight)
    result = applier.apply_heymarket({"create_heymarket": _creates(20)}, hm, {}, {}, set(), ApplyResult())
    assert result.as_dict()["Contact"]["create_heymarket"] == {"ok": 20}
    assert hm.calls == 10 and len(state.batches) == 10 and len(hm.contacts) == 20
    assert max(running for _, running, _ in hm.seen) == in_flight
    for call, _, committed in hm.seen:
        # call k starts only once batch k-2 is committed: a kill can leave at most two batches unrecorded
        assert call - committed <= MAX_UNRECORDED_BATCHES, (call, committed)
    # batches are committed in the order they were sent
    committed_ids = [c.sf_id for batch in state.batches for c in batch["upserts"]]
    assert committed_ids == [f"003{i:015d}" for i in range(20)]


def test_a_failed_call_still_records_the_batch_answered_next_to_it() -> None:
    class FailingThird(FakeHeymarket):
        def upsert(self, contacts):
            if contacts[0]["phone"] == "14155550004":  # the third batch
                threading.Event().wait(0.05)  # let the fourth batch's call finish first
                raise ConnectionError("Heymarket went away")
            return super().upsert(contacts)

    state, hm = FakeState(), FailingThird()
    with pytest.raises(ConnectionError):
        applier(state).apply_heymarket({"create_heymarket": _creates(10)}, hm, {}, {}, set(), ApplyResult())
    recorded = {c.sf_id for c in state.all("upserts")}
    # batches 1, 2 and 4 were written and are recorded; batch 3 failed; batch 5 was never sent
    assert recorded == {f"003{i:015d}" for i in (0, 1, 2, 3, 6, 7)}
    assert set(hm.contacts) == {f"1415555{i:04d}" for i in (0, 1, 2, 3, 6, 7)}


def test_more_than_two_heymarket_calls_in_flight_is_refused() -> None:
    with pytest.raises(ValueError, match="between 1 and 2"):
        PlanApplier(FakeState(), "run-1", {}, {}, heymarket_in_flight=3)


# --- record-level outcomes: each batch hands its records' outcomes to the same commit ------------------------


def test_heymarket_writes_commit_one_outcome_per_record_with_the_new_id_and_the_fields_written() -> None:
    creates = frame([{"action": "create_heymarket", "object": "Contact", "sf_id": "003000000000000001",
                      "phone": "14155550001", "reason": "no_match", "first": "Ada"},
                     {"action": "create_heymarket", "object": "Contact", "sf_id": "003000000000000002",
                      "phone": "bad", "reason": "no_match"}])
    updates = frame([{"action": "update_heymarket", "object": "Lead", "sf_id": "00Q000000000000003", "hm_id": 42,
                      "phone": "12125550100", "first": "New", "changed": "first"}])
    deletes = frame([{"action": "delete_heymarket", "object": "Contact", "sf_id": "003000000000000004",
                      "hm_id": 7, "phone": "14155550007", "reason": "sf_deleted"}])
    state = FakeState()
    applier(state, batch=10).apply_heymarket(
        {"create_heymarket": creates, "update_heymarket": updates, "delete_heymarket": deletes}, FakeHeymarket(),
        {}, {42: "u-42", 7: "u7"}, {"Contact"}, ApplyResult())
    assert state.all("outcomes") == [
        RecordOutcome("Contact", "created", "003000000000000001", 1, "to_heymarket", "no_match", (*KEYS, "phone")),
        RecordOutcome("Contact", "failed", "003000000000000002", None, "to_heymarket", "REJECTED",
                      (*KEYS, "phone")),
        # the id Heymarket answered with, as the link stores it (this fake numbers contacts as it meets them)
        RecordOutcome("Lead", "updated", "00Q000000000000003", 2, "to_heymarket", None, ("first",)),
        RecordOutcome("Contact", "deleted", "003000000000000004", 7, "to_heymarket", "sf_deleted"),
    ]
    # each outcome went with its own batch's commit (a killed run keeps exactly the committed ones)
    assert all(len(b["outcomes"]) == len(b["upserts"]) + len(b["failures"]) + len(b["deletes"])
               for b in state.batches)


def test_links_and_unlinks_have_outcomes_but_a_refresh_does_not() -> None:
    links = frame([{"action": "link", "object": "Contact", "sf_id": "003A", "hm_id": 5, "phone": "14155550005",
                    "reason": "phone_match"},
                   {"action": "link", "object": "Contact", "sf_id": "003B", "hm_id": 6, "phone": "14155550006",
                    "reason": "refresh"}])
    unlinks = frame([{"action": "unlink", "object": "Lead", "sf_id": None, "hm_id": 9, "phone": "1",
                      "reason": "heymarket_deleted"}])
    state = FakeState()
    applier(state).apply_heymarket({"link": links, "unlink": unlinks}, FakeHeymarket(), {}, {}, set(),
                                   ApplyResult())
    assert state.all("outcomes") == [RecordOutcome("Contact", "linked", "003A", 5, "state", "phone_match"),
                                     RecordOutcome("Lead", "unlinked", None, 9, "state", "heymarket_deleted")]


def test_salesforce_writes_commit_outcomes_with_the_created_record_id_and_the_error_code() -> None:
    creates = frame([{"action": "create_salesforce", "object": "Contact", "hm_id": 9, "phone": "14155550009",
                      "reason": "auto_create", "first": "Grace"}])
    updates = frame([{"action": "update_salesforce", "object": "Contact", "sf_id": "003A", "hm_id": 1,
                      "phone": "1", "last": "Locked", "changed": "last"}])
    state = FakeState()
    fields = {"Contact": {"first": "FirstName", "last": "LastName", "email": "Email", "phone": "Phone"}}
    applier(state).apply_salesforce({"create_salesforce": creates, "update_salesforce": updates}, FakeSalesforce(),
                                    fields, {}, {}, ApplyResult())
    assert state.all("outcomes") == [
        RecordOutcome("Contact", "created", "003NEW000000000000", 9, "to_salesforce", "auto_create",
                      (*KEYS, "phone")),
        RecordOutcome("Contact", "failed", "003A", 1, "to_salesforce", "UNABLE_TO_LOCK_ROW", ("last",)),
    ]
