"""Table-driven tests of the planner: one small before-state per rule of DESIGN.md's table, and the plan
it must give. Frames are compared with ``assert_frame_equal`` on the columns that matter for the rule."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from sync_engine.plan import ObjectSettings, PlanSettings, plan
from tests.unit.plan.test_plan_world import (
    KEYS,
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

P1, P2, P3, P4 = "14155550101", "14155550102", "14155550103", "14155550104"
RAW1, RAW2, RAW3 = "(415) 555-0101", "415.555.0102", "+1 415 555 0103"
NO_LINKS = link_frame()
NO_HM = hm_frame()


def _plan(sf: pd.DataFrame, hm: pd.DataFrame = NO_HM, links: pd.DataFrame = NO_LINKS, **kw: object):
    return plan(sf, hm, links, settings(**kw))


def _pair(
    sf_values: dict[str, object],
    hm_values: dict[str, object],
    synced: dict[str, object],
    sf_time: pd.Timestamp = T0,
    hm_time: pd.Timestamp = T0,
    **kw: object,
):
    """One active pair (Contact 003A <-> contact 7, phone P1) with the given values on each side."""
    return _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW1, "modstamp": sf_time, **sf_values}),
        hm_frame({"hm_id": 7, "phone": P1, "updated": hm_time, **hm_values}),
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": synced}),
        **kw,
    )


SAME = {"first": "Ann", "last": "Lee", "email": "ann@x.org"}


# ------------------------------------------------------------------------------ create / link / reconcile
def test_record_without_link_or_match_is_created_in_heymarket() -> None:
    result = _plan(sf_frame({"sf_id": "003A", "phone_raw": RAW1, "first": "Ann", "last": "Lee"}))
    assert_frame_equal(
        view(result, "first", "last", "email"),
        expect(
            [
                (
                    "create_heymarket",
                    "Contact",
                    "003A",
                    None,
                    P1,
                    "no_match",
                    "phone,first,last",
                    "Ann",
                    "Lee",
                    None,
                ),
            ],
            "first",
            "last",
            "email",
        ),
    )
    assert result.report.empty


def test_record_matching_an_unlinked_contact_is_linked_then_reconciled() -> None:
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW1, "first": "Ann", "last": None, "email": "ann@x.org"}),
        hm_frame({"hm_id": 7, "phone": P1, "first": "Ann", "last": "Lee", "email": None}),
    )
    assert_frame_equal(
        view(result, "first", "last", "email", "agreed.last", "agreed.email"),
        expect(
            [
                (
                    "update_heymarket",
                    "Contact",
                    "003A",
                    7,
                    P1,
                    "",
                    "email",
                    "Ann",
                    "Lee",
                    "ann@x.org",
                    None,
                    None,
                ),
                (
                    "update_salesforce",
                    "Contact",
                    "003A",
                    7,
                    P1,
                    "",
                    "last",
                    "Ann",
                    "Lee",
                    "ann@x.org",
                    None,
                    None,
                ),
                # The memory stored now is what both sides agree on before the writes:
                # a failed write is simply planned again.
                ("link", "Contact", "003A", 7, P1, "phone_match", "", "Ann", "Lee", "ann@x.org", None, None),
            ],
            "first",
            "last",
            "email",
            "agreed.last",
            "agreed.email",
        ),
    )
    assert result.report.empty, "a value missing on one side is filled, not a conflict"


def test_identical_record_and_contact_are_only_linked() -> None:
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW1, **SAME}), hm_frame({"hm_id": 7, "phone": P1, **SAME})
    )
    assert_frame_equal(
        view(result, "agreed.first"),
        expect(
            [
                ("link", "Contact", "003A", 7, P1, "phone_match", "", "Ann"),
            ],
            "agreed.first",
        ),
    )


@pytest.mark.parametrize(
    ("policy", "sf_time", "hm_time", "winner"),
    [
        ("salesforce_wins", T0, T1, "salesforce"),
        ("heymarket_wins", T1, T0, "heymarket"),
        ("newest_wins", T1, T0, "salesforce"),
        ("newest_wins", T0, T1, "heymarket"),
        ("newest_wins", T1, T1, "salesforce"),  # a tie goes to Salesforce, the initial source
    ],
)
def test_first_link_with_different_values_follows_the_policy(
    policy: str, sf_time: pd.Timestamp, hm_time: pd.Timestamp, winner: str
) -> None:
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW1, "modstamp": sf_time, **SAME, "first": "Ann"}),
        hm_frame({"hm_id": 7, "phone": P1, "updated": hm_time, **SAME, "first": "Annie"}),
        conflict_policy=policy,
    )
    action = "update_heymarket" if winner == "salesforce" else "update_salesforce"
    value = "Ann" if winner == "salesforce" else "Annie"
    assert_frame_equal(
        view(result, "first"),
        expect(
            [
                (action, "Contact", "003A", 7, P1, "", "first", value),
                ("link", "Contact", "003A", 7, P1, "phone_match", "", value),
            ],
            "first",
        ),
    )
    assert report_view(result)["kind"].tolist() == ["conflict"]
    assert f"{policy} -> {winner.capitalize() if winner == 'heymarket' else 'Salesforce'}" in (
        result.report.loc[0, "detail"].replace("Heymarket", "Heymarket")
    )
    assert "differs at first link" in result.report.loc[0, "detail"]


# ------------------------------------------------------------------------------ linked pairs (rule 5)
def test_salesforce_change_updates_heymarket() -> None:
    result = _pair({**SAME, "email": "new@x.org"}, SAME, SAME)
    assert_frame_equal(
        view(result, "email"),
        expect(
            [
                ("update_heymarket", "Contact", "003A", 7, P1, "", "email", "new@x.org"),
            ],
            "email",
        ),
    )
    assert result.noop == {}


def test_heymarket_change_updates_salesforce() -> None:
    result = _pair(SAME, {**SAME, "last": "Lee-Smith", "email": None}, SAME)
    assert_frame_equal(
        view(result, "last", "email"),
        expect(
            [
                ("update_salesforce", "Contact", "003A", 7, P1, "", "last,email", "Lee-Smith", None),
            ],
            "last",
            "email",
        ),
    )


def test_changes_on_different_keys_go_both_ways() -> None:
    result = _pair({**SAME, "first": "Anne"}, {**SAME, "last": "Lea"}, SAME)
    assert_frame_equal(
        view(result, "first", "last"),
        expect(
            [
                ("update_heymarket", "Contact", "003A", 7, P1, "", "first", "Anne", "Lea"),
                ("update_salesforce", "Contact", "003A", 7, P1, "", "last", "Anne", "Lea"),
            ],
            "first",
            "last",
        ),
    )
    assert result.report.empty


@pytest.mark.parametrize(
    ("policy", "sf_time", "hm_time", "action", "value", "won"),
    [
        ("salesforce_wins", T0, T1, "update_heymarket", "Anne", "Salesforce"),
        ("heymarket_wins", T1, T0, "update_salesforce", "Annie", "Heymarket"),
        ("newest_wins", T1, T0, "update_heymarket", "Anne", "Salesforce"),
        ("newest_wins", T0, T1, "update_salesforce", "Annie", "Heymarket"),
    ],
)
def test_conflict_on_a_linked_pair_follows_the_policy(
    policy: str, sf_time: pd.Timestamp, hm_time: pd.Timestamp, action: str, value: str, won: str
) -> None:
    result = _pair(
        {**SAME, "first": "Anne"}, {**SAME, "first": "Annie"}, SAME, sf_time, hm_time, conflict_policy=policy
    )
    assert_frame_equal(
        view(result, "first", "agreed.first"),
        expect(
            [
                (action, "Contact", "003A", 7, P1, "", "first", value, None),
                # the memory moves to the losing side's current value: a failed write is planned again
                (
                    "link",
                    "Contact",
                    "003A",
                    7,
                    P1,
                    "refresh",
                    "",
                    value,
                    "Annie" if won == "Salesforce" else "Anne",
                ),
            ],
            "first",
            "agreed.first",
        ),
    )
    assert_frame_equal(report_view(result), expect_report([("conflict", "Contact", "003A", 7, None)]))
    assert result.report.loc[0, "detail"] == f"first: changed in both systems; {policy} -> {won} value kept"


def test_field_policy_overrides_the_default_per_key() -> None:
    result = _pair(
        {**SAME, "first": "Anne", "last": "L1"},
        {**SAME, "first": "Annie", "last": "L2"},
        SAME,
        conflict_policy="salesforce_wins",
        field_policies={"last": "heymarket_wins"},
    )
    assert_frame_equal(
        view(result, "first", "last"),
        expect(
            [
                ("update_heymarket", "Contact", "003A", 7, P1, "", "first", "Anne", "L2"),
                ("update_salesforce", "Contact", "003A", 7, P1, "", "last", "Anne", "L2"),
                ("link", "Contact", "003A", 7, P1, "refresh", "", "Anne", "L2"),
            ],
            "first",
            "last",
        ),
    )
    assert sorted(result.report["detail"].str.split(":").str[0]) == ["first", "last"]


def test_both_sides_changed_to_the_same_value_only_refreshes_the_memory() -> None:
    result = _pair({**SAME, "email": "new@x.org"}, {**SAME, "email": "new@x.org"}, SAME)
    assert_frame_equal(
        view(result, "agreed.email"),
        expect(
            [
                ("link", "Contact", "003A", 7, P1, "refresh", "", "new@x.org"),
            ],
            "agreed.email",
        ),
    )
    assert result.writes() == 0


def test_echo_values_equal_to_the_memory_are_no_change_whatever_the_timestamps() -> None:
    result = _pair(SAME, SAME, SAME, sf_time=T2, hm_time=T1)
    assert result.is_empty()
    assert result.noop == {"Contact": 1}
    assert result.counts() == {"Contact": {"noop": 1}}


def test_direction_to_heymarket_ignores_heymarket_edits_and_pushes_salesforce_ones() -> None:
    directions = {"first": "to_heymarket", "last": "to_salesforce"}
    # Heymarket edited a to_heymarket key and Salesforce a to_salesforce key: both ignored.
    ignored = _pair(
        {**SAME, "last": "SF-edit"}, {**SAME, "first": "HM-edit"}, SAME, field_directions=directions
    )
    assert ignored.is_empty()
    # The other way round both are synced.
    synced = _pair(
        {**SAME, "first": "SF-edit"}, {**SAME, "last": "HM-edit"}, SAME, field_directions=directions
    )
    assert_frame_equal(
        view(synced, "first", "last"),
        expect(
            [
                ("update_heymarket", "Contact", "003A", 7, P1, "", "first", "SF-edit", "HM-edit"),
                ("update_salesforce", "Contact", "003A", 7, P1, "", "last", "SF-edit", "HM-edit"),
            ],
            "first",
            "last",
        ),
    )
    # Both edited a to_heymarket key: no conflict, Salesforce's value goes over (the Heymarket edit is lost).
    both = _pair(
        {**SAME, "first": "SF-edit"},
        {**SAME, "first": "HM-edit"},
        SAME,
        field_directions=directions,
        conflict_policy="heymarket_wins",
    )
    assert_frame_equal(
        view(both, "first", "agreed.first"),
        expect(
            [
                ("update_heymarket", "Contact", "003A", 7, P1, "", "first", "SF-edit", None),
                ("link", "Contact", "003A", 7, P1, "refresh", "", "SF-edit", "HM-edit"),
            ],
            "first",
            "agreed.first",
        ),
    )
    assert both.report.empty


def test_direction_applies_on_first_link_too() -> None:
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW1, **SAME, "first": "Ann", "last": "SF"}),
        hm_frame({"hm_id": 7, "phone": P1, **SAME, "first": "Annie", "last": "HM"}),
        field_directions={"first": "to_heymarket", "last": "to_salesforce"},
        conflict_policy="heymarket_wins",
    )
    assert_frame_equal(
        view(result, "first", "last"),
        expect(
            [
                ("update_heymarket", "Contact", "003A", 7, P1, "", "first", "Ann", "HM"),
                ("update_salesforce", "Contact", "003A", 7, P1, "", "last", "Ann", "HM"),
                ("link", "Contact", "003A", 7, P1, "phone_match", "", "Ann", "HM"),
            ],
            "first",
            "last",
        ),
    )


def test_incremental_absent_side_means_unchanged() -> None:
    sf = sf_frame({"sf_id": "003A", "phone_raw": RAW1, **SAME, "email": "new@x.org"})
    links = link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME})
    result = plan(sf, NO_HM, links, settings(sf_mode="incremental", hm_mode="incremental"))
    assert_frame_equal(
        view(result, "email"),
        expect(
            [
                ("update_heymarket", "Contact", "003A", 7, P1, "", "email", "new@x.org"),
            ],
            "email",
        ),
    )
    hm = hm_frame({"hm_id": 7, "phone": P1, **SAME, "last": "Changed"})
    result = plan(sf_frame(), hm, links, settings(sf_mode="incremental", hm_mode="incremental"))
    assert_frame_equal(
        view(result, "last"),
        expect(
            [
                ("update_salesforce", "Contact", "003A", 7, P1, "", "last", "Changed"),
            ],
            "last",
        ),
    )
    assert plan(sf_frame(), NO_HM, links, settings(sf_mode="incremental", hm_mode="incremental")).is_empty()


def test_phone_change_in_salesforce_is_written_to_heymarket() -> None:
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW2, **SAME}),
        hm_frame({"hm_id": 7, "phone": P1, **SAME}),
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME}),
    )
    assert_frame_equal(
        view(result, "agreed.first"),
        expect(
            [
                ("update_heymarket", "Contact", "003A", 7, P2, "", "phone", None),
            ],
            "agreed.first",
        ),
    )


def test_phone_change_to_an_unlinked_contacts_number_links_it_and_releases_the_old_contact() -> None:
    """Was a ``conflict`` for ever; now the record takes the contact at its new number (first link: values
    fill the empty side) and its old contact is released: kept, never written, never auto-created."""
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW2, **SAME, "first": "Changed"}),
        hm_frame({"hm_id": 7, "phone": P1, **SAME}, {"hm_id": 8, "phone": P2}),
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME}),
        auto_create="Contact",
    )
    assert_frame_equal(
        view(result, "first", "agreed.first"),
        expect(
            [
                ("update_heymarket", "Contact", "003A", 8, P2, "", "first,last,email", "Changed", None),
                ("link", "Contact", "003A", 8, P2, "phone_match", "", "Changed", None),
                ("unlink", "Contact", "003A", 7, P1, "released", "", "Ann", None),
            ],
            "first",
            "agreed.first",
        ),
    )
    assert result.report.empty


# ------------------------------------------------------------------------------ deletes and scope
@pytest.mark.parametrize(
    ("delete_on", "action", "reason"),
    [
        (True, "delete_heymarket", "sf_deleted"),
        (False, "unlink", "sf_deleted"),
    ],
)
def test_deleted_record_deletes_or_unlinks_by_the_objects_option(
    delete_on: bool, action: str, reason: str
) -> None:
    links = link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME})
    hm = hm_frame({"hm_id": 7, "phone": P1, **SAME})
    deleted = sf_frame({"sf_id": "003A", "phone_raw": RAW1, "is_deleted": True, "in_scope": False, **SAME})
    absent = sf_frame()
    for sf in (deleted, absent):  # absent from a full extract of an 'all' scope means deleted too
        result = plan(sf, hm, links, settings(contact={"delete_in_heymarket": delete_on}))
        assert_frame_equal(
            view(result, "first"),
            expect(
                [
                    (action, "Contact", "003A", 7, P1, reason, "", "Ann"),
                ],
                "first",
            ),
        )


@pytest.mark.parametrize(
    ("sf_mode", "scope", "expected"),
    [
        ("full", "all", [("unlink", "Contact", "003A", 7, P1, "sf_deleted", "")]),
        ("full", "list_view", [("unlink", "Contact", "003A", 7, P1, "out_of_scope", "")]),
        ("full", "record_ids", []),
        ("incremental", "all", []),
        ("incremental", "list_view", []),
    ],
)
def test_what_an_absent_linked_record_means(
    sf_mode: str, scope: str, expected: list[tuple[object, ...]]
) -> None:
    links = link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME})
    hm = hm_frame({"hm_id": 7, "phone": P1, **SAME})
    result = plan(sf_frame(), hm, links, settings(sf_mode=sf_mode, contact={"scope": scope}))
    assert_frame_equal(view(result), expect(expected))


def test_record_leaving_its_list_view_is_unlinked_never_deleted() -> None:
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW1, "in_scope": False, **SAME}),
        hm_frame({"hm_id": 7, "phone": P1, **SAME}),
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME}),
        contact={"scope": "list_view", "delete_in_heymarket": True},
    )
    assert_frame_equal(view(result), expect([("unlink", "Contact", "003A", 7, P1, "out_of_scope", "")]))


def test_record_back_in_its_list_view_is_relinked_and_reconciled_against_the_memory() -> None:
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW1, **SAME, "email": "while-away@x.org"}),
        hm_frame({"hm_id": 7, "phone": P1, **SAME, "last": "Lee-HM"}),
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "status": "out_of_scope", "synced": SAME}),
        contact={"scope": "list_view"},
    )
    assert_frame_equal(
        view(result, "last", "email", "agreed.last", "agreed.email"),
        expect(
            [
                (
                    "update_heymarket",
                    "Contact",
                    "003A",
                    7,
                    P1,
                    "",
                    "email",
                    "Lee-HM",
                    "while-away@x.org",
                    None,
                    None,
                ),
                (
                    "update_salesforce",
                    "Contact",
                    "003A",
                    7,
                    P1,
                    "",
                    "last",
                    "Lee-HM",
                    "while-away@x.org",
                    None,
                    None,
                ),
                (
                    "link",
                    "Contact",
                    "003A",
                    7,
                    P1,
                    "back_in_scope",
                    "",
                    "Lee-HM",
                    "while-away@x.org",
                    "Lee",
                    "ann@x.org",
                ),
            ],
            "last",
            "email",
            "agreed.last",
            "agreed.email",
        ),
    )


def test_restored_record_is_relinked() -> None:
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW1, **SAME}),
        hm_frame({"hm_id": 7, "phone": P1, **SAME}),
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "status": "sf_deleted", "synced": SAME}),
    )
    assert_frame_equal(view(result), expect([("link", "Contact", "003A", 7, P1, "restored", "")]))


def test_remembered_links_stay_quiet_while_their_record_is_away() -> None:
    links = link_frame(
        {"sf_id": "003A", "hm_id": 7, "phone": P1, "status": "out_of_scope", "synced": SAME},
        {"sf_id": "003B", "hm_id": 8, "phone": P2, "status": "sf_deleted", "synced": SAME},
    )
    hm = hm_frame({"hm_id": 7, "phone": P1, **SAME, "first": "HM edit"}, {"hm_id": 8, "phone": P2})
    sf = sf_frame(
        {"sf_id": "003A", "phone_raw": RAW1, "in_scope": False},
        {"sf_id": "003B", "phone_raw": RAW2, "is_deleted": True, "in_scope": False},
    )
    result = plan(sf, hm, links, settings(auto_create="Contact", contact={"delete_in_heymarket": True}))
    assert result.is_empty()
    assert result.report.empty, "contacts of remembered links are not unknown: never auto-created back"


# ------------------------------------------------------------------------------ Heymarket deletes (rule 8)
def test_contact_deleted_in_heymarket_unlinks_and_recreates_the_in_scope_record() -> None:
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW1, **SAME}),
        NO_HM,
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME}),
    )
    assert_frame_equal(
        view(result, "first"),
        expect(
            [
                (
                    "create_heymarket",
                    "Contact",
                    "003A",
                    None,
                    P1,
                    "recreate",
                    "phone,first,last,email",
                    "Ann",
                ),
                ("unlink", "Contact", "003A", 7, P1, "heymarket_deleted", "", "Ann"),
            ],
            "first",
        ),
    )


def test_contact_deleted_in_heymarket_with_record_absent_from_an_incremental_extract() -> None:
    result = plan(
        sf_frame(),
        NO_HM,
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME}),
        settings(sf_mode="incremental", hm_mode="full"),
    )
    assert_frame_equal(
        view(result, "email"),
        expect(
            [
                (
                    "create_heymarket",
                    "Contact",
                    "003A",
                    None,
                    P1,
                    "recreate",
                    "phone,first,last,email",
                    "ann@x.org",
                ),
                ("unlink", "Contact", "003A", 7, P1, "heymarket_deleted", "", "ann@x.org"),
            ],
            "email",
        ),
    )


def test_contact_deleted_in_heymarket_and_recreated_there_by_hand_is_linked_not_duplicated() -> None:
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": RAW1, **SAME}),
        hm_frame({"hm_id": 9, "phone": P1, **SAME}),
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME}),
    )
    assert_frame_equal(
        view(result),
        expect(
            [
                ("link", "Contact", "003A", 9, P1, "phone_match", ""),
                ("unlink", "Contact", "003A", 7, P1, "heymarket_deleted", ""),
            ]
        ),
    )


@pytest.mark.parametrize("status", ["sf_deleted", "out_of_scope"])
def test_remembered_link_whose_contact_is_deleted_is_dropped(status: str) -> None:
    result = _plan(
        sf_frame(),
        NO_HM,
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "status": status}),
        contact={"scope": "list_view"},
    )
    assert_frame_equal(view(result), expect([("unlink", "Contact", "003A", 7, P1, "heymarket_deleted", "")]))


def test_heymarket_absence_means_nothing_in_incremental_mode_or_a_record_ids_run() -> None:
    sf = sf_frame({"sf_id": "003A", "phone_raw": RAW1, **SAME})
    links = link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME})
    assert plan(sf, NO_HM, links, settings(hm_mode="incremental")).is_empty()
    assert plan(sf, NO_HM, links, settings(hm_mode="full", contact={"scope": "record_ids"})).is_empty()


# ------------------------------------------------------------------------------ unknown Heymarket contacts
@pytest.mark.parametrize("target", ["Contact", "Lead"])
def test_unknown_contact_is_auto_created_as_the_configured_object(target: str) -> None:
    result = _plan(
        sf_frame(),
        hm_frame({"hm_id": 7, "phone": P1, "first": "Zed", "email": "z@x.org"}),
        auto_create=target,
    )
    assert_frame_equal(
        view(result, "first", "last", "email"),
        expect(
            [
                (
                    "create_salesforce",
                    target,
                    None,
                    7,
                    P1,
                    "auto_create",
                    "phone,first,email",
                    "Zed",
                    None,
                    "z@x.org",
                ),
            ],
            "first",
            "last",
            "email",
        ),
    )


def test_unknown_contact_without_auto_create_is_reported() -> None:
    result = _plan(sf_frame(), hm_frame({"hm_id": 7, "phone": P1}), auto_create="none")
    assert result.is_empty()
    assert_frame_equal(report_view(result), expect_report([("unlinked", None, None, 7, None)]))
    assert result.counts() == {"(heymarket)": {"unlinked": 1}}


def test_auto_create_into_a_disabled_object_is_only_reported() -> None:
    result = _plan(
        sf_frame(), hm_frame({"hm_id": 7, "phone": P1}), auto_create="Lead", lead={"enabled": False}
    )
    assert result.is_empty()
    assert "auto_create object Lead is not enabled" in result.report.loc[0, "detail"]


def test_contact_whose_phone_any_record_or_link_has_is_never_auto_created() -> None:
    hm = hm_frame(
        {"hm_id": 1, "phone": P1},
        {"hm_id": 2, "phone": P2},
        {"hm_id": 3, "phone": P3},
        {"hm_id": 4, "phone": P4},
    )
    sf = sf_frame(
        {"sf_id": "003A", "phone_raw": RAW1, "in_scope": False},  # seen, out of scope
        {"object": "Lead", "sf_id": "00QB", "phone_raw": RAW2, "is_deleted": True, "in_scope": False},
    )
    links = link_frame({"sf_id": "003Z", "hm_id": 99, "phone": P3, "status": "sf_deleted"})
    result = plan(sf, hm, links, settings(auto_create="Contact", hm_mode="incremental"))
    assert_frame_equal(
        view(result),
        expect(
            [
                ("create_salesforce", "Contact", None, 4, P4, "auto_create", "phone"),
            ]
        ),
    )


# ------------------------------------------------------------------------------ duplicates (rule 2)
@pytest.mark.parametrize(
    ("records", "winner", "why"),
    [
        (
            [
                {"object": "Lead", "sf_id": "00QA", "modstamp": T2},
                {"object": "Contact", "sf_id": "003B", "modstamp": T0},
            ],
            "003B",
            "is a Contact",
        ),
        (
            [{"sf_id": "003A", "modstamp": T0}, {"sf_id": "003B", "modstamp": T1}],
            "003B",
            "modified more recently",
        ),
        ([{"sf_id": "003B", "modstamp": T1}, {"sf_id": "003A", "modstamp": T1}], "003A", "smaller Id"),
    ],
)
def test_duplicate_phones_have_one_deterministic_winner(
    records: list[dict[str, object]], winner: str, why: str
) -> None:
    sf = sf_frame(*({"phone_raw": RAW1, **r} for r in records))
    loser = next(r for r in records if r["sf_id"] != winner)
    for frame in (sf, sf.iloc[::-1].reset_index(drop=True)):
        result = _plan(frame)
        winner_object = next(r.get("object", "Contact") for r in records if r["sf_id"] == winner)
        assert_frame_equal(
            view(result),
            expect(
                [
                    ("create_heymarket", winner_object, winner, None, P1, "no_match", "phone"),
                ]
            ),
        )
        assert_frame_equal(
            report_view(result),
            expect_report(
                [
                    ("duplicate", loser.get("object", "Contact"), loser["sf_id"], None, winner),
                ]
            ),
        )
        assert why in result.report.loc[0, "detail"]


def test_the_record_already_linked_to_the_phones_contact_wins_and_the_loser_keeps_its_link() -> None:
    sf = sf_frame(
        {"sf_id": "003A", "phone_raw": RAW1, "modstamp": T0, **SAME},
        {"sf_id": "003B", "phone_raw": RAW1, "modstamp": T2, **SAME, "first": "Changed"},
    )
    hm = hm_frame({"hm_id": 7, "phone": P1, **SAME}, {"hm_id": 8, "phone": P2, **SAME})
    links = link_frame(
        {"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME},
        {"sf_id": "003B", "hm_id": 8, "phone": P2, "synced": SAME},
    )
    result = plan(sf, hm, links, settings())
    assert result.is_empty(), "the loser's link stays untouched: no update, no unlink"
    assert_frame_equal(report_view(result), expect_report([("duplicate", "Contact", "003B", 8, "003A")]))
    detail = result.report.loc[0, "detail"]
    assert "already linked to this phone's Heymarket contact" in detail and "kept untouched" in detail


def test_a_new_record_takes_over_a_contact_remembered_out_of_scope() -> None:
    """Was a ``duplicate`` of the remembered record for ever; a live record beats a remembered link."""
    result = _plan(
        sf_frame({"object": "Lead", "sf_id": "00QB", "phone_raw": RAW1}),
        hm_frame({"hm_id": 7, "phone": P1}),
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "status": "out_of_scope"}),
    )
    assert_frame_equal(view(result), expect([("link", "Lead", "00QB", 7, P1, "takeover", "")]))
    assert result.report.empty


# ------------------------------------------------------------------------------ phones (rule 1)
def test_missing_and_invalid_phones_are_reported_and_not_matched() -> None:
    sf = sf_frame(
        {"sf_id": "003A", "phone_raw": None},
        {"sf_id": "003B", "phone_raw": "12"},
        {"sf_id": "003C", "phone_raw": "(415) 555-01"},
        {"sf_id": "003D", "phone_raw": "hello"},
        {"sf_id": "003E", "phone_raw": None, "in_scope": False},
    )
    result = _plan(sf, auto_create="Contact")
    assert result.is_empty()
    assert_frame_equal(
        report_view(result),
        expect_report(
            [
                ("invalid_phone", "Contact", "003B", None, None),
                ("invalid_phone", "Contact", "003C", None, None),
                ("invalid_phone", "Contact", "003D", None, None),
                ("no_phone", "Contact", "003A", None, None),
            ]
        ),
    )
    assert result.report["detail"].tolist()[:3] == [
        "phone not_possible",
        "phone not_possible",
        "phone unparseable",
    ]


def test_active_link_of_a_record_that_lost_its_phone_is_left_alone() -> None:
    result = _plan(
        sf_frame({"sf_id": "003A", "phone_raw": None, **SAME, "first": "Changed"}),
        hm_frame({"hm_id": 7, "phone": P1, **SAME}),
        link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME}),
        auto_create="Lead",
    )
    assert result.is_empty()
    assert_frame_equal(
        report_view(result),
        expect_report(
            [
                ("no_phone", "Contact", "003A", 7, None),
                ("skipped", "Contact", "003A", 7, None),
            ]
        ),
    )


def test_heymarket_side_duplicates_and_bad_phones_are_reported() -> None:
    hm = hm_frame({"hm_id": 9, "phone": P1}, {"hm_id": 8, "phone": P1}, {"hm_id": 5, "phone": "not-a-phone"})
    result = _plan(sf_frame({"sf_id": "003A", "phone_raw": RAW1}), hm)
    assert_frame_equal(view(result), expect([("link", "Contact", "003A", 8, P1, "phone_match", "")]))
    assert_frame_equal(
        report_view(result),
        expect_report([("duplicate", None, None, 9, None), ("invalid_phone", None, None, 5, None)]),
    )


# ------------------------------------------------------------------------------ objects (rule 10)
def test_disabled_object_is_ignored_entirely() -> None:
    sf = sf_frame(
        {"object": "Lead", "sf_id": "00QA", "phone_raw": RAW1, "first": "Changed"},
        {"object": "Lead", "sf_id": "00QB", "phone_raw": "bad"},
        {"object": "Lead", "sf_id": "00QC", "phone_raw": RAW3},
    )
    hm = hm_frame({"hm_id": 7, "phone": P1}, {"hm_id": 8, "phone": P2})
    links = link_frame(
        {"object": "Lead", "sf_id": "00QA", "hm_id": 7, "phone": P1},
        {"object": "Lead", "sf_id": "00QZ", "hm_id": 8, "phone": P2},
    )
    result = plan(sf, hm, links, settings(lead={"enabled": False}, auto_create="Contact"))
    assert result.is_empty()
    assert result.report.empty


def test_contact_wins_a_phone_over_a_lead_of_the_same_run() -> None:
    sf = sf_frame(
        {"object": "Lead", "sf_id": "00QA", "phone_raw": RAW1, "modstamp": T2},
        {"object": "Contact", "sf_id": "003Z", "phone_raw": "4155550101", "modstamp": T0},
    )
    result = _plan(sf, hm_frame({"hm_id": 7, "phone": P1}))
    assert_frame_equal(view(result), expect([("link", "Contact", "003Z", 7, P1, "phone_match", "")]))


# ------------------------------------------------------------------------------ the result object
def test_inputs_are_never_mutated() -> None:
    sf = sf_frame(
        {"sf_id": "003A", "phone_raw": " (415) 555-0101 ", "first": " Ann "},
        {"sf_id": "003B", "phone_raw": RAW2, "is_deleted": True},
    )
    hm = hm_frame({"hm_id": 7, "phone": P2, "first": "x"}, {"hm_id": 8, "phone": P3})
    links = link_frame({"sf_id": "003B", "hm_id": 7, "phone": P2, "synced": {"first": "x"}})
    copies = [f.copy(deep=True) for f in (sf, hm, links)]
    plan(sf, hm, links, settings(auto_create="Lead"), phone_cache={})
    for before, after in zip(copies, (sf, hm, links), strict=True):
        assert_frame_equal(before, after)


def test_every_action_frame_is_present_with_its_columns_even_when_empty() -> None:
    result = _plan(sf_frame())
    columns = [
        "action",
        "object",
        "sf_id",
        "hm_id",
        "phone",
        "reason",
        "changed",
        "sf_modstamp",
        "hm_rev",
        *KEYS,
        *(f"agreed.{k}" for k in KEYS),
    ]
    for frame in result.actions.values():
        assert list(frame.columns) == columns and frame.empty
        assert (
            str(frame["hm_id"].dtype) == "Int64" and str(frame["sf_modstamp"].dtype) == "datetime64[ns, UTC]"
        )
    assert list(result.report.columns) == [
        "kind",
        "object",
        "sf_id",
        "hm_id",
        "phone",
        "detail",
        "winner_sf_id",
    ]


def test_plan_round_trips_through_parquet_and_counts_without_personal_data(tmp_path: object) -> None:
    sf = sf_frame(
        {"sf_id": "003A", "phone_raw": RAW1, "first": "Ann", "email": "ann@x.org"},
        {"object": "Lead", "sf_id": "00QB", "phone_raw": RAW1},
        {"sf_id": "003C", "phone_raw": "bad"},
    )
    hm = hm_frame({"hm_id": 7, "phone": P2, "first": "Zed"})
    result = plan(sf, hm, link_frame(), settings(auto_create="Lead"), phone_cache={})
    result.to_dir(tmp_path / "plan")  # type: ignore[operator]
    loaded = type(result).from_dir(tmp_path / "plan")  # type: ignore[operator]
    for action, frame in result.actions.items():
        assert_frame_equal(loaded.actions[action], frame)
    assert_frame_equal(loaded.report, result.report)
    assert loaded.keys == result.keys and loaded.counts() == result.counts()
    assert result.counts() == {
        "Contact": {"create_heymarket": 1, "invalid_phone": 1},
        "Lead": {"create_salesforce": 1, "duplicate": 1},
    }
    text = result.summary_text()
    assert "Contact: create_heymarket 1; reported: invalid_phone 1" in text
    for personal in ("Ann", "Zed", "ann@x.org", P1, P2, "415"):
        assert personal not in text


def test_settings_are_validated_with_messages_that_say_what_to_fix() -> None:
    with pytest.raises(ValueError, match="conflict_policy must be one of"):
        settings(conflict_policy="latest")
    with pytest.raises(ValueError, match="'phone' is the match key"):
        settings(keys=("first", "phone"))
    with pytest.raises(ValueError, match="without commas"):
        settings(keys=("first", "custom.City, State"))
    with pytest.raises(ValueError, match="not one of the compared keys"):
        settings(field_directions={"mobile": "both"})
    with pytest.raises(ValueError, match="key them by name"):
        PlanSettings(objects={"Lead": ObjectSettings("Contact")})


def test_input_frames_breaking_the_contract_are_refused() -> None:
    sf = sf_frame({"sf_id": "003A", "phone_raw": RAW1}, {"sf_id": "003A", "phone_raw": RAW2})
    with pytest.raises(ValueError, match=r"repeats \(object, sf_id\)"):
        _plan(sf)
    with pytest.raises(ValueError, match="lacks columns"):
        _plan(sf_frame({"sf_id": "003A"}).drop(columns=["in_scope"]))
    with pytest.raises(ValueError, match="no column 'email'"):
        _plan(sf_frame({"sf_id": "003A"}).drop(columns=["email"]))
    with pytest.raises(ValueError, match="repeats hm_id"):
        _plan(sf_frame(), hm_frame({"hm_id": 1, "phone": P1}, {"hm_id": 1, "phone": P2}))
    with pytest.raises(ValueError, match="unknown status"):
        _plan(sf_frame(), NO_HM, link_frame({"sf_id": "003A", "hm_id": 1, "phone": P1, "status": "gone"}))


def test_a_new_mapping_key_missing_from_old_link_memory_starts_unknown() -> None:
    keys = (*KEYS, "custom.Tier")
    sf = sf_frame({"sf_id": "003A", "phone_raw": RAW1, **SAME, "custom.Tier": "Gold"}, keys=keys)
    hm = hm_frame({"hm_id": 7, "phone": P1, **SAME}, keys=keys)
    links = link_frame({"sf_id": "003A", "hm_id": 7, "phone": P1, "synced": SAME})  # no synced.custom.Tier
    result = plan(sf, hm, links, settings(keys=keys))
    assert_frame_equal(
        view(result, "custom.Tier"),
        expect(
            [
                ("update_heymarket", "Contact", "003A", 7, P1, "", "custom.Tier", "Gold"),
            ],
            "custom.Tier",
        ),
    )


# ------------------------------------------------------------------------------ echo suppression
def test_applying_a_plan_and_planning_again_gives_an_empty_plan() -> None:
    """Every rule at once; after the simulated apply, nothing echoes back."""
    sf = sf_frame(
        {"sf_id": "003A", "phone_raw": RAW1, **SAME, "email": "new@x.org"},  # SF change
        {"sf_id": "003B", "phone_raw": RAW2, **SAME},  # HM change
        {"sf_id": "003C", "phone_raw": RAW3, **SAME, "first": "SF", "modstamp": T1},  # conflict
        {"sf_id": "003D", "phone_raw": "(415) 555-0104", "first": "New"},  # create
        {"object": "Lead", "sf_id": "00QE", "phone_raw": "(415) 555-0105", "last": "Match"},  # link by phone
        {"sf_id": "003F", "phone_raw": "(415) 555-0106", "is_deleted": True},  # delete
        {"sf_id": "003G", "phone_raw": "(415) 555-0107", "in_scope": False},  # out of scope
        {"sf_id": "003H", "phone_raw": "(415) 555-0108", **SAME},  # HM deleted -> recreate
        {"sf_id": "003I", "phone_raw": "(415) 555-0120", **SAME},  # phone changed (was 0109)
    )
    hm = hm_frame(
        {"hm_id": 1, "phone": P1, **SAME},
        {"hm_id": 2, "phone": P2, **SAME, "last": "HM"},
        {"hm_id": 3, "phone": P3, **SAME, "first": "HM", "updated": T2},
        {"hm_id": 5, "phone": "14155550105", "first": "Eve"},
        {"hm_id": 6, "phone": "14155550106", **SAME},
        {"hm_id": 7, "phone": "14155550107", **SAME},
        {"hm_id": 9, "phone": "14155550109", **SAME},
        {"hm_id": 10, "phone": "14155550110", "first": "Unknown"},  # auto-create
    )
    links = link_frame(
        *(
            {"sf_id": sid, "hm_id": hid, "phone": ph, "synced": SAME}
            for sid, hid, ph in [
                ("003A", 1, P1),
                ("003B", 2, P2),
                ("003C", 3, P3),
                ("003F", 6, "14155550106"),
                ("003G", 7, "14155550107"),
                ("003H", 8, "14155550108"),
                ("003I", 9, "14155550109"),
            ]
        )
    )
    world = World(
        sf,
        hm,
        links,
        settings(
            conflict_policy="newest_wins",
            auto_create="Lead",
            contact={"delete_in_heymarket": True, "scope": "list_view"},
        ),
    )
    first = world.plan_once()
    assert first.counts() == {
        "Contact": {
            "create_heymarket": 2,
            "update_heymarket": 2,
            "delete_heymarket": 1,
            "update_salesforce": 2,
            "link": 1,
            "unlink": 2,
            "conflict": 1,
        },
        "Lead": {"create_salesforce": 1, "update_heymarket": 1, "update_salesforce": 1, "link": 1},
    }
    after = apply_plan(world, first)
    second = after.plan_once()
    assert second.is_empty(), second.summary_text()
    assert second.report.empty


def test_the_same_id_under_two_objects_is_two_records() -> None:
    """Salesforce Ids are unique across objects, but the contract keys records on (object, sf_id)."""
    sf = sf_frame(
        {"sf_id": "X1", "phone_raw": RAW1, **SAME},
        {"object": "Lead", "sf_id": "X1", "phone_raw": RAW2, **SAME, "first": "Lead edit"},
    )
    hm = hm_frame({"hm_id": 7, "phone": P1, **SAME}, {"hm_id": 8, "phone": P2, **SAME})
    links = link_frame(
        {"sf_id": "X1", "hm_id": 7, "phone": P1, "synced": SAME},
        {"object": "Lead", "sf_id": "X1", "hm_id": 8, "phone": P2, "synced": SAME},
    )
    result = plan(sf, hm, links, settings())
    assert_frame_equal(
        view(result, "first"),
        expect([("update_heymarket", "Lead", "X1", 8, P2, "", "first", "Lead edit")], "first"),
    )
    assert result.noop == {"Contact": 1}
