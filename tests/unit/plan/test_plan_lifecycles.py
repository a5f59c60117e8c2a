"""Record lifecycles, table-driven: the phone decides which record owns a Heymarket contact.

One case per situation of the issue "Record lifecycles" (rules 3-7 of :mod:`sync_engine.plan`): a record
re-created after a delete or after leaving its scope, phone swaps and cycles, moves to free and to taken
numbers, released contacts, merges, conversions, undeletes, objects outside the run, Heymarket phones that
are not valid numbers. Each case gives the three frames and the whole plan it must give (actions and
reports); every case is also applied in the simulator and must then plan to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from sync_engine.plan import plan
from tests.unit.plan.test_plan_world import (
    T0,
    T1,
    T2,
    World,
    apply_plan,
    expect,
    expect_report,
    hm_frame,
    link_frame,
    report_view,
    settings,
    sf_frame,
    view,
)

P1, P2, P3, P4, P5 = (f"1415555010{i}" for i in range(1, 6))
RAW = {P1: "(415) 555-0101", P2: "415.555.0102", P3: "+1 415 555 0103", P4: "4155550104", P5: "415-555-0105"}
ANN = {"first": "Ann", "last": "Lee", "email": "ann@x.org"}
BEN = {"first": "Ben", "last": "Oka", "email": "ben@x.org"}
CY = {"first": "Cy", "last": "Ray", "email": "cy@x.org"}
ALL = "first,last,email"


@dataclass(frozen=True)
class Case:
    """Frames as rows (see the builders of test_plan_world) and the expected plan.

    :param actions: (action, object, sf_id, hm_id, phone, reason, changed, first) per action row
    :param reports: (kind, object, sf_id, hm_id, winner_sf_id) per report row
    :param detail: text every report detail must contain

    Incremental cases read only what changed after ``T1``: records at ``T2``, nothing at ``T0``.
    """

    sf: tuple[dict[str, object], ...] = ()
    hm: tuple[dict[str, object], ...] = ()
    links: tuple[dict[str, object], ...] = ()
    settings: dict[str, object] = field(default_factory=dict)
    actions: tuple[tuple[object, ...], ...] = ()
    reports: tuple[tuple[object, ...], ...] = ()
    detail: str = ""


def rec(sf_id: str, phone: str, values: dict[str, object], **extra: object) -> dict[str, object]:
    obj = "Lead" if sf_id.startswith("00Q") else "Contact"
    return {"object": obj, "sf_id": sf_id, "phone_raw": RAW[phone], **values, **extra}


def con(hm_id: int, phone: str, values: dict[str, object], **extra: object) -> dict[str, object]:
    return {"hm_id": hm_id, "phone": phone, **values, **extra}


def pair(sf_id: str | None, hm_id: int, phone: str, values: dict[str, object], status: str = "active"
         ) -> dict[str, object]:
    obj = "Lead" if sf_id and sf_id.startswith("00Q") else "Contact"
    return {"object": obj, "sf_id": sf_id, "hm_id": hm_id, "phone": phone, "status": status, "synced": values}


DELETED = {"is_deleted": True, "in_scope": False}
INCREMENTAL = {"sf_mode": "incremental", "hm_mode": "incremental"}

CASES = {
    # --- re-created records take the contact over ------------------------------------------------------
    "recreated after a delete (link remembered sf_deleted): takes the contact, new e-mail written": Case(
        sf=(rec("003A", P1, ANN, **DELETED), rec("003N", P1, {**ANN, "email": "new@x.org"})),
        hm=(con(7, P1, ANN),),
        links=(pair("003A", 7, P1, ANN, "sf_deleted"),),
        settings={"auto_create": "Contact"},
        actions=(("update_heymarket", "Contact", "003N", 7, P1, "", "email", "Ann"),
                 ("link", "Contact", "003N", 7, P1, "takeover", "", "Ann")),
    ),
    "recreated after leaving the list view (link remembered out_of_scope): takes the contact": Case(
        sf=(rec("003N", P1, ANN),),
        hm=(con(7, P1, ANN),),
        links=(pair("003A", 7, P1, ANN, "out_of_scope"),),
        settings={"contact": {"scope": "list_view"}},
        actions=(("link", "Contact", "003N", 7, P1, "takeover", "", "Ann"),),
    ),
    "deleted and recreated in one run, delete option on: taken over, never deleted": Case(
        sf=(rec("003A", P1, ANN, **DELETED), rec("003N", P1, ANN)),
        hm=(con(7, P1, ANN),),
        links=(pair("003A", 7, P1, ANN),),
        settings={"contact": {"delete_in_heymarket": True}},
        actions=(("link", "Contact", "003N", 7, P1, "takeover", "", "Ann"),),
    ),
    "incremental run, the contact not read: taken over at the number its link remembers": Case(
        sf=(rec("003N", P1, {**ANN, "first": "Annie"}, modstamp=T2),),
        hm=(con(7, P1, ANN),),
        links=(pair("003A", 7, P1, ANN, "sf_deleted"),),
        settings=INCREMENTAL,
        actions=(("update_heymarket", "Contact", "003N", 7, P1, "", "first", "Annie"),
                 ("link", "Contact", "003N", 7, P1, "takeover", "", "Annie")),
    ),
    "a Heymarket edit made while the record was deleted is kept (a Heymarket change)": Case(
        sf=(rec("003N", P1, ANN),),
        hm=(con(7, P1, {**ANN, "last": "Lee-Smith"}),),
        links=(pair("003A", 7, P1, ANN, "sf_deleted"),),
        actions=(("update_salesforce", "Contact", "003N", 7, P1, "", "last", "Ann"),
                 ("link", "Contact", "003N", 7, P1, "takeover", "", "Ann")),
    ),
    # --- phone moves re-pair by phone -----------------------------------------------------------------
    "swap: each record takes the contact at its new number": Case(
        sf=(rec("003A", P2, ANN), rec("003B", P1, BEN)),
        hm=(con(7, P1, ANN), con(8, P2, BEN)),
        links=(pair("003A", 7, P1, ANN), pair("003B", 8, P2, BEN)),
        actions=(("update_heymarket", "Contact", "003A", 8, P2, "", ALL, "Ann"),
                 ("update_heymarket", "Contact", "003B", 7, P1, "", ALL, "Ben"),
                 ("link", "Contact", "003A", 8, P2, "takeover", "", "Ann"),
                 ("link", "Contact", "003B", 7, P1, "takeover", "", "Ben")),
    ),
    "three-cycle: resolved in one run": Case(
        sf=(rec("003A", P2, ANN), rec("003B", P3, BEN), rec("003C", P1, CY)),
        hm=(con(7, P1, ANN), con(8, P2, BEN), con(9, P3, CY)),
        links=(pair("003A", 7, P1, ANN), pair("003B", 8, P2, BEN), pair("003C", 9, P3, CY)),
        actions=(("update_heymarket", "Contact", "003A", 8, P2, "", ALL, "Ann"),
                 ("update_heymarket", "Contact", "003B", 9, P3, "", ALL, "Ben"),
                 ("update_heymarket", "Contact", "003C", 7, P1, "", ALL, "Cy"),
                 ("link", "Contact", "003A", 8, P2, "takeover", "", "Ann"),
                 ("link", "Contact", "003B", 9, P3, "takeover", "", "Ben"),
                 ("link", "Contact", "003C", 7, P1, "takeover", "", "Cy")),
    ),
    "move to a free number: the contact follows the record": Case(
        sf=(rec("003A", P4, ANN),),
        hm=(con(7, P1, ANN),),
        links=(pair("003A", 7, P1, ANN),),
        actions=(("update_heymarket", "Contact", "003A", 7, P4, "", "phone", "Ann"),),
    ),
    "move to an unlinked contact's number: linked to it, the old contact released": Case(
        sf=(rec("003A", P2, ANN),),
        hm=(con(7, P1, ANN), con(8, P2, {"first": "Annie"})),
        links=(pair("003A", 7, P1, ANN),),
        settings={"auto_create": "Lead"},
        actions=(("update_heymarket", "Contact", "003A", 8, P2, "", ALL, "Ann"),
                 ("link", "Contact", "003A", 8, P2, "phone_match", "", "Ann"),
                 ("unlink", "Contact", "003A", 7, P1, "released", "", "Ann")),
        reports=(("conflict", "Contact", "003A", 8, None),),
        detail="first: differs at first link; salesforce_wins -> Salesforce value kept",
    ),
    "move to a free number while a new record takes the old one: the mover gets a new contact": Case(
        sf=(rec("003A", P5, ANN), rec("003N", P1, BEN)),
        hm=(con(7, P1, ANN),),
        links=(pair("003A", 7, P1, ANN),),
        actions=(("create_heymarket", "Contact", "003A", None, P5, "no_match", "phone," + ALL, "Ann"),
                 ("update_heymarket", "Contact", "003N", 7, P1, "", ALL, "Ben"),
                 ("link", "Contact", "003N", 7, P1, "takeover", "", "Ben")),
    ),
    "a phone edited in Heymarket is set back to the record's (Salesforce owns the phone)": Case(
        sf=(rec("003A", P1, ANN),),
        hm=(con(7, P4, ANN),),
        links=(pair("003A", 7, P1, ANN),),
        actions=(("update_heymarket", "Contact", "003A", 7, P1, "", "phone", "Ann"),
                 # until the write succeeds the memory says where the contact is
                 ("link", "Contact", "003A", 7, P4, "refresh", "", "Ann")),
    ),
    # --- released contacts -----------------------------------------------------------------------------
    "a released contact is never auto-created, written or deleted": Case(
        hm=(con(7, P1, ANN),),
        links=(pair(None, 7, P1, ANN, "released"),),
        settings={"auto_create": "Contact", "contact": {"delete_in_heymarket": True}},
    ),
    "a released contact is taken over by a later record with its number": Case(
        sf=(rec("00QN", P1, {**ANN, "last": "Lee-Ray"}),),
        hm=(con(7, P1, ANN),),
        links=(pair(None, 7, P1, ANN, "released"),),
        actions=(("update_heymarket", "Lead", "00QN", 7, P1, "", "last", "Ann"),
                 ("link", "Lead", "00QN", 7, P1, "takeover", "", "Ann")),
    ),
    "a released contact deleted in Heymarket: its memory goes": Case(
        links=(pair(None, 7, P1, ANN, "released"),),
        actions=(("unlink", "Contact", None, 7, P1, "heymarket_deleted", "", "Ann"),),
    ),
    # --- merges ----------------------------------------------------------------------------------------
    "merge, the master keeps its number, delete on: the victim's contact is deleted": Case(
        sf=(rec("003M", P1, ANN), rec("003V", P2, BEN, **DELETED)),
        hm=(con(7, P1, ANN), con(8, P2, BEN)),
        links=(pair("003M", 7, P1, ANN), pair("003V", 8, P2, BEN)),
        settings={"contact": {"delete_in_heymarket": True}},
        actions=(("delete_heymarket", "Contact", "003V", 8, P2, "sf_deleted", "", "Ben"),),
    ),
    "merge, the master keeps its number, delete off: the victim is unlinked": Case(
        sf=(rec("003M", P1, ANN), rec("003V", P2, BEN, **DELETED)),
        hm=(con(7, P1, ANN), con(8, P2, BEN)),
        links=(pair("003M", 7, P1, ANN), pair("003V", 8, P2, BEN)),
        actions=(("unlink", "Contact", "003V", 8, P2, "sf_deleted", "", "Ben"),),
    ),
    **{
        f"merge, the master takes the victim's number, delete {'on' if on else 'off'}: taken over, not deleted": Case(
            sf=(rec("003M", P2, ANN), rec("003V", P2, BEN, **DELETED)),
            hm=(con(7, P1, ANN), con(8, P2, BEN)),
            links=(pair("003M", 7, P1, ANN), pair("003V", 8, P2, BEN)),
            settings={"contact": {"delete_in_heymarket": on}},
            actions=(("update_heymarket", "Contact", "003M", 8, P2, "", ALL, "Ann"),
                     ("link", "Contact", "003M", 8, P2, "takeover", "", "Ann"),
                     ("unlink", "Contact", "003M", 7, P1, "released", "", "Ann")),
        )
        for on in (True, False)
    },
    # --- conversions, undeletes, objects outside the run ----------------------------------------------
    "a converted Lead (out of scope) and its new Contact in one run: the Contact takes the contact": Case(
        sf=(rec("00QL", P1, ANN, in_scope=False), rec("003C", P1, ANN)),
        hm=(con(7, P1, ANN),),
        links=(pair("00QL", 7, P1, ANN),),
        actions=(("link", "Contact", "003C", 7, P1, "takeover", "", "Ann"),),
    ),
    "undeleted after its contact was taken over: a duplicate of the record that took it": Case(
        sf=(rec("003A", P1, ANN, modstamp=T2), rec("003N", P1, ANN)),
        hm=(con(7, P1, ANN),),
        links=(pair("003N", 7, P1, ANN),),
        reports=(("duplicate", "Contact", "003A", None, "003N"),),
        detail="is already linked to this phone's Heymarket contact",
    ),
    "undeleted before anyone took its contact: restored": Case(
        sf=(rec("003A", P1, ANN),),
        hm=(con(7, P1, ANN),),
        links=(pair("003A", 7, P1, ANN, "sf_deleted"),),
        actions=(("link", "Contact", "003A", 7, P1, "restored", "", "Ann"),),
    ),
    "Contact-only run, a Lead's link owns the number: never taken over, reported": Case(
        sf=(rec("003C", P1, ANN),),
        hm=(con(7, P1, ANN),),
        links=(pair("00QL", 7, P1, ANN),),
        settings={"lead": {"enabled": False}},
        reports=(("duplicate", "Contact", "003C", 7, "00QL"),),
        detail="linked to Lead 00QL (link active), which is not part of this run",
    ),
    "Contact-only run, a Lead's link remembers the number of a moved contact: not taken either": Case(
        sf=(rec("003C", P1, ANN),),
        hm=(con(7, P2, ANN),),
        links=(pair("00QL", 7, P1, ANN, "sf_deleted"),),
        settings={"lead": {"enabled": False}},
        reports=(("duplicate", "Contact", "003C", 7, "00QL"),),
        detail="which is not part of this run",
    ),
    # --- incremental runs: an unchanged linked record still holds its number ---------------------------
    "incremental: a new record with the number of an unchanged linked record is its duplicate": Case(
        sf=(rec("003A", P1, ANN), rec("003N", P1, ANN, modstamp=T2)),
        hm=(con(7, P1, ANN),),
        links=(pair("003A", 7, P1, ANN),),
        settings=INCREMENTAL,
        reports=(("duplicate", "Contact", "003N", None, "003A"),),
        detail="is already linked to this phone's Heymarket contact",
    ),
    "incremental: a record moved to an unchanged record's number is its duplicate (no conflict)": Case(
        sf=(rec("003A", P1, ANN), rec("003B", P1, BEN, modstamp=T2)),
        hm=(con(7, P1, ANN), con(8, P2, BEN)),
        links=(pair("003A", 7, P1, ANN), pair("003B", 8, P2, BEN)),
        settings=INCREMENTAL,
        reports=(("duplicate", "Contact", "003B", 8, "003A"),),
        detail="this record's link to Heymarket contact 8 is kept untouched",
    ),
    # --- Heymarket phones are validated like Salesforce's ---------------------------------------------
    "a Heymarket phone without its country code is invalid: reported, never auto-created": Case(
        hm=({"hm_id": 7, "phone": "4155552700", "first": "Zed"},),
        settings={"auto_create": "Contact"},
        reports=(("invalid_phone", None, None, 7, None),),
        detail="Heymarket phone not_possible",
    ),
    "the contact of a linked record gets an invalid phone: the record's number is written back": Case(
        sf=(rec("003A", P1, ANN),),
        hm=({"hm_id": 7, "phone": "4155550101", **ANN},),
        links=(pair("003A", 7, P1, ANN),),
        actions=(("update_heymarket", "Contact", "003A", 7, P1, "", "phone", "Ann"),),
        reports=(("invalid_phone", None, None, 7, None),),
        detail="Heymarket phone not_possible",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_lifecycle(case: Case) -> None:
    sf = sf_frame(*({"modstamp": T0, **r} for r in case.sf))
    world = World(sf, hm_frame(*case.hm), link_frame(*case.links), settings(**case.settings), since=T1)
    result = world.plan_once()
    assert_frame_equal(view(result, "first"), expect(list(case.actions), "first"))
    assert_frame_equal(report_view(result), expect_report(list(case.reports)))
    assert all(case.detail in d for d in result.report["detail"]), result.report["detail"].tolist()
    # applied, the world plans to nothing
    again = apply_plan(world, result).plan_once()
    assert again.is_empty(), again.summary_text()


def test_a_takeover_link_stores_the_old_pairs_memory_until_the_write_succeeds() -> None:
    """The new pair starts from what the contact last got, so a failed write is planned again."""
    result = plan(
        sf_frame({"sf_id": "003N", "phone_raw": RAW[P1], **ANN, "email": "new@x.org"}),
        hm_frame(con(7, P1, ANN)),
        link_frame(pair("003A", 7, P1, ANN, "sf_deleted")),
        settings(),
    )
    [row] = result.actions["link"].to_dict("records")
    assert (row["reason"], row["email"], row["agreed.email"], row["agreed.first"]) == (
        "takeover", "new@x.org", "ann@x.org", "Ann"
    )


def test_heymarket_phones_equal_to_a_valid_salesforce_phone_are_not_parsed_again() -> None:
    """Only the other contacts' phones reach the phone cache, keyed ``+<digits>`` (region independent)."""
    cache: dict[str, tuple[str | None, str]] = {}
    plan(
        sf_frame(rec("003A", P1, ANN)),
        hm_frame(con(7, P1, ANN), con(8, P2, BEN), {"hm_id": 9, "phone": "4155552700"}),
        link_frame(),
        settings(),
        phone_cache=cache,
    )
    assert cache == {RAW[P1]: (P1, "ok"), "+" + P2: (P2, "ok"), "+4155552700": (None, "not_possible")}
    # the same cache then serves another region: "+<digits>" reads the same everywhere
    result = plan(sf_frame(), hm_frame({"hm_id": 9, "phone": "4155552700"}), link_frame(), settings(),
                  default_region="GB", phone_cache=cache)
    assert result.report["detail"].tolist() == [
        "Heymarket phone not_possible; the contact takes no part in matching and is never auto-created"
    ]


def test_no_pair_stays_in_conflict_over_a_phone() -> None:
    """Before, a record moved to the number of another linked contact was a ``conflict`` every run."""
    world = World(
        sf_frame(rec("003A", P2, ANN), rec("003B", P3, BEN)),
        hm_frame(con(7, P1, ANN), con(8, P2, BEN)),
        link_frame(pair("003A", 7, P1, ANN), pair("003B", 8, P2, BEN)),
        settings(),
    )
    first = world.plan_once()
    assert first.report.empty
    assert pd.Series(first.actions["link"]["reason"]).tolist() == ["takeover"]
    # 003B's old contact 8 went to 003A; 003B, at a free number, gets a new contact
    assert first.actions["create_heymarket"]["sf_id"].tolist() == ["003B"]
    assert apply_plan(world, first).plan_once().is_empty()


def test_a_contact_at_the_phone_of_a_link_dropped_this_run_is_auto_created_by_this_run() -> None:
    """Found by the lifecycle model (explore seed 1008). A deleted Lead's link (``sf_deleted``) remembers its phone;
    its contact moved away and was then deleted, and an agent made contact 6 at the Lead's old phone. The full run
    that drops the link (its contact is gone) must not count the dropped memory as knowing the phone: else contact 6
    is auto-created only by the next full run, and a full run followed by another is not quiet. Nor may the deleted
    Lead itself, which a full read reads only by its link's id."""
    lead_phone = "14155550107"
    world = World(
        sf_frame({"sf_id": "003A", "phone_raw": "(415) 555-0101", "first": "Ann"},
                 # a full read still reads the deleted Lead, by its link's id; the next full read will not
                 {"object": "Lead", "sf_id": "00QL", "phone_raw": "(415) 555-0107", "is_deleted": True,
                  "in_scope": False}),
        hm_frame({"hm_id": 7, "phone": "14155550101", "first": "Ann"}, {"hm_id": 6, "phone": lead_phone, "first": "Cara"}),
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": "14155550101", "synced": {"first": "Ann"}},
                   {"object": "Lead", "sf_id": "00QL", "hm_id": 5, "phone": lead_phone, "status": "sf_deleted"}),
        settings(auto_create="Contact"),
    )
    first = world.plan_once()
    assert first.actions["unlink"][["sf_id", "hm_id", "reason"]].values.tolist() == [["00QL", 5, "heymarket_deleted"]]
    assert first.actions["create_salesforce"][["hm_id", "reason"]].values.tolist() == [[6, "auto_create"]]
    assert apply_plan(world, first).plan_once().writes() == 0
