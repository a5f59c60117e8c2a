"""The applier and the opt-out: what is sent (``is_opted_out: true`` only by a row that writes it, a
checkbox as a boolean), in which order (opt-out writes first), and how it is counted (``opted_out`` /
``opted_in`` next to the write's own count)."""

from __future__ import annotations

import pandas as pd

from sync_engine.apply import (
    ApplyResult,
    PlanApplier,
    WriteOutcome,
    changed_keys,
    consent_first,
    consent_only,
    heymarket_payload,
    salesforce_payload,
)
from sync_engine.history import describe_applied, history_counts
from sync_engine.vocabulary import OPT_OUT_KEY
from tests.unit.test_apply import FakeHeymarket, FakeSalesforce, FakeState

KEYS = ["first", "last", "email", OPT_OUT_KEY]
SF_FIELDS = {"first": "FirstName", "last": "LastName", "email": "Email", "phone": "Phone",
             OPT_OUT_KEY: "SMS_Opt_Out__c"}


def rows(*items: dict[str, object]) -> pd.DataFrame:
    base = {"object": "Contact", "sf_id": None, "hm_id": pd.NA, "reason": "", "changed": "", **dict.fromkeys(KEYS)}
    return pd.DataFrame([{**base, **item} for item in items])


def applier(state: FakeState, batch: int = 2) -> PlanApplier:
    keys = {"Contact": KEYS, "Lead": KEYS[:3]}  # Leads: opt-out sync off
    return PlanApplier(state, "run-1", keys, keys, batch_size_heymarket=batch, batch_size_salesforce=batch,
                       progress=lambda _: None)


def test_heymarket_gets_is_opted_out_only_from_a_row_that_writes_it() -> None:
    update = {"action": "update_heymarket", "phone": "14155550101", "first": "A", OPT_OUT_KEY: "true"}
    assert "is_opted_out" not in heymarket_payload({**update, "changed": "first"}, KEYS, {}, "u1")
    assert heymarket_payload({**update, "changed": "first,opt_out"}, KEYS, {}, "u1")["is_opted_out"] is True
    # never false: only the person opts back in, in Heymarket
    assert "is_opted_out" not in heymarket_payload({**update, OPT_OUT_KEY: "false", "changed": "opt_out"},
                                                   KEYS, {}, "u1")
    create = {"action": "create_heymarket", "phone": "14155550102", "changed": "phone,first,opt_out"}
    assert heymarket_payload({**create, OPT_OUT_KEY: "true"}, KEYS, {}, None)["is_opted_out"] is True
    assert "is_opted_out" not in heymarket_payload({**create, OPT_OUT_KEY: "false"}, KEYS, {}, None)


def test_salesforce_gets_the_checkbox_as_a_boolean() -> None:
    row = {"action": "update_salesforce", "sf_id": "003A", OPT_OUT_KEY: "true"}
    assert salesforce_payload(row, [OPT_OUT_KEY], SF_FIELDS) == {"SMS_Opt_Out__c": True, "Id": "003A"}
    assert salesforce_payload({**row, OPT_OUT_KEY: None}, [OPT_OUT_KEY], SF_FIELDS)["SMS_Opt_Out__c"] is False


def test_consent_first_moves_opt_out_writes_to_the_front_and_keeps_the_rest_in_order() -> None:
    frame = rows(
        {"action": "update_heymarket", "sf_id": "003A", "changed": "first"},
        {"action": "create_heymarket", "sf_id": "003B", OPT_OUT_KEY: "false"},
        {"action": "update_heymarket", "sf_id": "003C", "changed": "last,opt_out", OPT_OUT_KEY: "true"},
        {"action": "create_heymarket", "sf_id": "003D", OPT_OUT_KEY: "true"},
        {"action": "update_heymarket", "sf_id": "003E", "changed": "email"},
    )
    assert consent_first(frame)["sf_id"].tolist() == ["003C", "003D", "003A", "003B", "003E"]


def test_heymarket_apply_sends_opt_outs_in_the_first_batch_and_counts_them() -> None:
    creates = rows(*({"action": "create_heymarket", "sf_id": f"003N{i}", "phone": f"1415555020{i}",
                      OPT_OUT_KEY: "false"} for i in range(3)))
    updates = rows({"action": "update_heymarket", "sf_id": "003X", "hm_id": 42, "phone": "14155550300",
                    "changed": OPT_OUT_KEY, OPT_OUT_KEY: "true"})
    state, hm = FakeState(), FakeHeymarket()
    result = applier(state).apply_heymarket({"create_heymarket": creates, "update_heymarket": updates}, hm, {},
                                            {42: "u-42"}, set(), ApplyResult())
    first_batch = state.batches[0]["succeeded"]
    assert first_batch[0][1] == "003X"
    assert hm.contacts["14155550300"]["is_opted_out"] is True
    assert not any("is_opted_out" in c for phone, c in hm.contacts.items() if phone != "14155550300")
    counts = result.as_dict()["Contact"]
    assert counts["opt_out_heymarket"] == {"ok": 1}
    assert counts["update_heymarket"] == {"ok": 1} and counts["create_heymarket"] == {"ok": 3}
    assert next(c for c in state.all("upserts") if c.sf_id == "003X").synced == {OPT_OUT_KEY: "true"}


def test_salesforce_apply_counts_opt_outs_and_opt_ins_and_history_names_them() -> None:
    updates = rows(
        {"action": "update_salesforce", "sf_id": "003A", "hm_id": 1, "phone": "1", "last": "Locked",
         "changed": "last"},
        {"action": "update_salesforce", "sf_id": "003B", "hm_id": 2, "phone": "1", "changed": OPT_OUT_KEY,
         OPT_OUT_KEY: "true"},
        {"action": "update_salesforce", "sf_id": "003C", "hm_id": 3, "phone": "1", "changed": OPT_OUT_KEY,
         OPT_OUT_KEY: "false"},
    )
    creates = rows({"action": "create_salesforce", "hm_id": 9, "phone": "14155550009", "last": "L",
                    OPT_OUT_KEY: "true"})
    state, sf = FakeState(), FakeSalesforce()
    result = applier(state).apply_salesforce({"create_salesforce": creates, "update_salesforce": updates}, sf,
                                             {"Contact": SF_FIELDS}, {}, {9: "u9"}, ApplyResult())
    assert [r["Id"] for _, r in sf.updated[:2]] == ["003B", "003C"]  # consent first, in the first batch
    assert sf.created[0][1]["SMS_Opt_Out__c"] is True
    applied = result.as_dict()
    assert applied["Contact"]["opt_out_salesforce"] == {"ok": 2}  # the ticked box and the auto-created record
    assert applied["Contact"]["opt_in_salesforce"] == {"ok": 1}
    counts = history_counts(None, [{"counts": applied}])
    assert counts["Contact"]["to_salesforce"] == {"created": 1, "updated": 2, "failed": 1, "opted_out": 2,
                                                  "opted_in": 1}
    assert describe_applied(applied) == ("Contact: created 1, updated 2, opted_out 2, opted_in 1 (1 rejected: see "
                                         "hm_sync_record_error; retried on later runs)")


def test_objects_without_opt_out_sync_neither_send_nor_count_it() -> None:
    updates = rows({"object": "Lead", "action": "update_heymarket", "sf_id": "00QA", "hm_id": 5,
                    "phone": "14155550400", "changed": "first,opt_out", "first": "B", OPT_OUT_KEY: "true"})
    state, hm = FakeState(), FakeHeymarket()
    result = applier(state).apply_heymarket({"update_heymarket": updates}, hm, {}, {5: "u5"}, set(), ApplyResult())
    assert "is_opted_out" not in hm.contacts["14155550400"]
    assert "opt_out_heymarket" not in result.as_dict()["Lead"]


def links(*pairs: tuple[str, str, int, str, str]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["object", "sf_id", "hm_id", "phone", "status"])


def test_consent_only_keeps_the_opt_out_of_linked_pairs_alone_and_holds_back_everything_else() -> None:
    """A run held back by a guard writes only the opt-out changes of pairs it links already: narrowed to the
    opt-out (no other field, the phone the link holds), nothing created, linked, unlinked or deleted."""
    to_hm = rows(
        {"action": "update_heymarket", "sf_id": "003A", "hm_id": 1, "phone": "14155550999", "first": "New",
         "changed": "phone,first,opt_out", OPT_OUT_KEY: "true"},
        {"action": "update_heymarket", "sf_id": "003B", "hm_id": 2, "phone": "14155550102", "changed": "first"},
        # a pair not linked yet (first link): its opt-out waits for the guard's cause to be fixed
        {"action": "update_heymarket", "sf_id": "003C", "hm_id": 3, "phone": "14155550103", "changed": "opt_out",
         OPT_OUT_KEY: "true"},
    )
    to_sf = rows(
        {"action": "update_salesforce", "sf_id": "003D", "hm_id": 4, "phone": "14155550104",
         "changed": "last,opt_out", OPT_OUT_KEY: "false", "last": "Changed"},
        # linked, but its link is out_of_scope now: not an active pair
        {"action": "update_salesforce", "sf_id": "003E", "hm_id": 5, "phone": "14155550105", "changed": "opt_out",
         OPT_OUT_KEY: "true"},
    )
    created = rows({"action": "create_heymarket", "sf_id": "003F", "phone": "14155550106", OPT_OUT_KEY: "true"})
    deletes = rows({"action": "delete_heymarket", "sf_id": "003G", "hm_id": 7, "phone": "14155550107"})
    table = links(("Contact", "003A", 1, "14155550101", "active"), ("Contact", "003B", 2, "14155550102", "active"),
                  ("Contact", "003D", 4, "14155550104", "active"), ("Contact", "003E", 5, "14155550105", "out_of_scope"),
                  ("Contact", "003G", 7, "14155550107", "active"))

    kept = consent_only({"update_heymarket": to_hm, "update_salesforce": to_sf, "create_heymarket": created,
                         "delete_heymarket": deletes}, table)

    assert {a: len(f) for a, f in kept.items()} == {"update_heymarket": 1, "update_salesforce": 1,
                                                    "create_heymarket": 0, "delete_heymarket": 0}
    hm, sf = kept["update_heymarket"].iloc[0], kept["update_salesforce"].iloc[0]
    assert (hm["sf_id"], hm["changed"], hm["phone"]) == ("003A", OPT_OUT_KEY, "14155550101")
    assert heymarket_payload(hm.to_dict(), [OPT_OUT_KEY], {}, "u1") == {
        "phone": "14155550101", "is_opted_out": True, "contact_id": "u1"}
    assert (sf["sf_id"], sf["changed"]) == ("003D", OPT_OUT_KEY)
    assert salesforce_payload(sf.to_dict(), changed_keys(sf.to_dict(), KEYS), SF_FIELDS) == {
        "SMS_Opt_Out__c": False, "Id": "003D"}
    assert all(not len(f) for f in consent_only({"update_heymarket": to_hm}, None).values())


def test_a_duplicates_opt_out_writes_its_box_alone_links_nothing_and_survives_a_guard_hold() -> None:
    """A duplicate record (reason ``duplicate``) gets the opt-out of the pair that won its phone: its box is
    written and counted, but it joins no pair (no link row, which would take the winner's contact)."""
    updates = rows(
        {"action": "update_salesforce", "sf_id": "003A", "hm_id": 1, "phone": "14155550101", "changed": OPT_OUT_KEY,
         OPT_OUT_KEY: "true"},
        {"action": "update_salesforce", "sf_id": "003B", "hm_id": 1, "phone": "14155550101", "changed": OPT_OUT_KEY,
         OPT_OUT_KEY: "true", "reason": "duplicate", "first": "Held"},
    )
    state, sf = FakeState(), FakeSalesforce()
    result = applier(state).apply_salesforce({"update_salesforce": updates}, sf, {"Contact": SF_FIELDS}, {}, {},
                                             ApplyResult())
    assert [r for _, r in sf.updated] == [{"SMS_Opt_Out__c": True, "Id": "003A"}, {"SMS_Opt_Out__c": True, "Id": "003B"}]
    assert [c.sf_id for c in state.all("upserts")] == ["003A"]
    assert result.as_dict()["Contact"]["opt_out_salesforce"] == {"ok": 2}
    assert [o.sf_id for o in state.all("outcomes")] == ["003A", "003B"]

    # held back by a guard: the duplicate's opt-out follows its linked pair, like the pair's own
    table = links(("Contact", "003A", 1, "14155550101", "active"))
    assert consent_only({"update_salesforce": updates}, table)["update_salesforce"]["sf_id"].tolist() == ["003A", "003B"]
    assert consent_only({"update_salesforce": updates}, table.iloc[0:0])["update_salesforce"].empty


class LockedSalesforce(FakeSalesforce):
    """Rejects the updates of these records (``UNABLE_TO_LOCK_ROW``)."""

    def __init__(self, locked: set[str]) -> None:
        super().__init__()
        self.locked = locked

    def update(self, object_name, records):  # noqa: ANN001, ANN201
        self.updated += [(object_name, r) for r in records]
        return [WriteOutcome(ok=r["Id"] not in self.locked, sf_id=r["Id"], error_code="UNABLE_TO_LOCK_ROW",
                             message="locked") for r in records]


def test_a_box_that_follows_a_contact_created_opted_out_is_written_alone_and_keyed_on_the_record() -> None:
    """Reason ``created_opted_out``: the contact is created by this run (no ``hm_id`` in the plan). The box is
    written and counted, nothing is linked (the create links the winner), and the write's outcome and failure are
    the record's alone: no contact id that an error or a retry of the pair could be mistaken for."""
    updates = rows(
        {"action": "update_salesforce", "sf_id": "003A", "phone": "14155550101", "changed": OPT_OUT_KEY,
         OPT_OUT_KEY: "true", "reason": "created_opted_out"},
        {"action": "update_salesforce", "sf_id": "003B", "phone": "14155550101", "changed": OPT_OUT_KEY,
         OPT_OUT_KEY: "true", "reason": "created_opted_out"},
        {"action": "update_salesforce", "sf_id": "003C", "hm_id": 7, "phone": "14155550102", "changed": OPT_OUT_KEY,
         OPT_OUT_KEY: "true", "reason": "duplicate"},
    )
    state, sf = FakeState(), LockedSalesforce({"003B", "003C"})
    result = applier(state).apply_salesforce({"update_salesforce": updates}, sf, {"Contact": SF_FIELDS}, {}, {},
                                             ApplyResult())
    assert [r for _, r in sf.updated] == [{"SMS_Opt_Out__c": True, "Id": f"003{x}"} for x in "ABC"]
    assert state.all("upserts") == []
    assert state.all("succeeded") == [("Contact", "003A", None, "salesforce", "update_salesforce")]
    assert [(f.sf_id, f.hm_id) for f in state.all("failures")] == [("003B", None), ("003C", None)]
    assert [(o.sf_id, o.hm_id, o.action, o.reason) for o in state.all("outcomes")] == [
        ("003A", None, "updated", "created_opted_out"), ("003B", None, "failed", "UNABLE_TO_LOCK_ROW"),
        ("003C", None, "failed", "UNABLE_TO_LOCK_ROW")]
    assert result.as_dict()["Contact"]["opt_out_salesforce"] == {"ok": 1}
    # a guard hold keeps back what rests on a contact not created yet, like the create itself
    assert consent_only({"update_salesforce": updates.iloc[:2]}, links(("Contact", "003A", 9, "14155550101", "active"))
                        )["update_salesforce"].empty


def test_a_contact_at_an_opted_out_pairs_phone_is_opted_out_alone_and_keyed_on_the_contact() -> None:
    """An ``update_heymarket`` row with reason ``duplicate`` names the pair's record but writes another contact (one
    no link holds, at the pair's phone): the contact's uuid is used, nothing is linked (the pair keeps its contact),
    and the outcome is the contact's alone. A guard hold keeps it when the pair it follows is linked."""
    updates = rows({"action": "update_heymarket", "sf_id": "003A", "hm_id": 8, "phone": "14155550101",
                    "changed": OPT_OUT_KEY, OPT_OUT_KEY: "true", "reason": "duplicate", "first": "Annie"})
    state, hm = FakeState(), FakeHeymarket()
    hm.contacts["14155550101"] = {"id": 8, "uuid": "u-8", "phone": "14155550101", "first": "Annie"}
    result = applier(state).apply_heymarket({"update_heymarket": updates}, hm, {}, {8: "u-8"}, set(), ApplyResult())
    assert hm.contacts["14155550101"]["contact_id"] == "u-8"
    assert hm.contacts["14155550101"]["is_opted_out"] is True
    assert state.all("upserts") == []
    assert [(o.object, o.sf_id, o.hm_id, o.action, o.reason) for o in state.all("outcomes")] == [
        ("Contact", None, 8, "updated", "duplicate")]
    assert result.as_dict()["Contact"]["opt_out_heymarket"] == {"ok": 1}

    table = links(("Contact", "003A", 7, "14155550101", "active"))
    kept = consent_only({"update_heymarket": updates}, table)["update_heymarket"]
    assert kept[["hm_id", "changed", "phone"]].values.tolist() == [[8, OPT_OUT_KEY, "14155550101"]]
    assert consent_only({"update_heymarket": updates}, table.iloc[0:0])["update_heymarket"].empty


def test_the_budget_reserve_holds_back_every_salesforce_write_but_the_opt_outs_which_go_first() -> None:
    """The Salesforce apply's budget reserve is a guard too: with the reserve reached before the first batch, the
    opt-out updates are still written (checked for a cancel or a lost lock only), before any create; the
    creates and the other updates stay held back and the apply says why it stopped."""
    creates = rows({"action": "create_salesforce", "hm_id": 9, "phone": "14155550009", "last": "New"})
    updates = rows(
        {"action": "update_salesforce", "sf_id": "003A", "hm_id": 1, "phone": "1", "last": "Held", "changed": "last"},
        {"action": "update_salesforce", "sf_id": "003B", "hm_id": 2, "phone": "1", "changed": OPT_OUT_KEY,
         OPT_OUT_KEY: "true"},
        {"action": "update_salesforce", "sf_id": "00QC", "hm_id": 3, "phone": "1", "changed": OPT_OUT_KEY,
         OPT_OUT_KEY: "false", "object": "Lead"},
    )
    keys = {"Contact": KEYS, "Lead": KEYS}
    cancelled: list[str] = []
    state, sf = FakeState(), FakeSalesforce()
    applier = PlanApplier(state, "run-1", keys, keys, stop=lambda: "budget reserve reached",
                          consent_stop=lambda: cancelled[0] if cancelled else None, batch_size_salesforce=1,
                          progress=lambda _: None)
    result = applier.apply_salesforce({"create_salesforce": creates, "update_salesforce": updates}, sf,
                                      {"Contact": SF_FIELDS, "Lead": SF_FIELDS}, {}, {}, ApplyResult())
    assert [r["Id"] for _, r in sf.updated] == ["003B", "00QC"] and sf.created == []
    assert result.stopped and result.stop_reason == "budget reserve reached"
    assert result.as_dict()["Contact"]["opt_out_salesforce"] == {"ok": 1}
    assert result.as_dict()["Lead"]["opt_in_salesforce"] == {"ok": 1}

    cancelled.append("cancelled")  # a cancel stops the opt-outs too
    state, sf = FakeState(), FakeSalesforce()
    applier.apply_salesforce({"update_salesforce": updates}, sf, {"Contact": SF_FIELDS, "Lead": SF_FIELDS}, {}, {},
                             result := ApplyResult())
    assert sf.updated == [] and result.stop_reason == "cancelled"
