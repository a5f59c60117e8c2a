"""The compliance rules of the SMS opt-out (sync_engine.plan.consent) in the planner.

Table-driven: one linked pair per case, Salesforce's box ``s``, Heymarket's ``is_opted_out`` ``h`` and the
state remembered at the last sync ``y``, with the writes the rules want. Then a hypothesis property over
random pairs, read modes and conflicts on other fields: after the plan's writes both sides agree, a second
plan writes nothing, and an opt-out (Heymarket's, or a box ticked since the last sync) is never lost.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_engine.plan import ObjectSettings, Plan, PlanSettings
from sync_engine.vocabulary import OPT_OUT_KEY
from tests.unit.plan.test_plan_world import T0, T1, T2, World, apply_plan, hm_frame, link_frame, sf_frame

KEYS = ("first", "last", "email", OPT_OUT_KEY)
PHONE, RAW = "14155550101", "(415) 555-0101"
ANN = {"first": "Ann", "last": "Lee", "email": "ann@x.org"}


def consent_settings(**overrides: object) -> PlanSettings:
    base: dict[str, object] = {
        "objects": {"Contact": ObjectSettings("Contact"), "Lead": ObjectSettings("Lead")},
        "sf_mode": "full", "hm_mode": "full", "keys": KEYS, "auto_create": "Contact",
    }
    base.update(overrides)
    return PlanSettings(**base)  # type: ignore[arg-type]


def pair(s: str | None, h: str | None, y: str | None, *, sf: dict[str, object] | None = None,
         hm: dict[str, object] | None = None, memory: dict[str, object] | None = None,
         linked: bool = True, **overrides: object) -> World:
    """One Contact and one contact at the same number; linked with memory ``y`` unless ``linked`` is off."""
    record = {"sf_id": "003A", "phone_raw": RAW, "modstamp": T1, **ANN, OPT_OUT_KEY: s, **(sf or {})}
    contact = {"hm_id": 7, "phone": PHONE, "updated": T1, **ANN, OPT_OUT_KEY: h, **(hm or {})}
    links = [{"sf_id": "003A", "hm_id": 7, "phone": PHONE, "synced": {**ANN, OPT_OUT_KEY: y, **(memory or {})}}]
    return World(sf_frame(record, keys=KEYS), hm_frame(contact, keys=KEYS),
                 link_frame(*(links if linked else []), keys=KEYS), consent_settings(**overrides))


def writes(result: Plan) -> dict[str, list[tuple[str, str | None]]]:
    """Per write action, its rows' ``changed`` and opt-out value."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    for action in ("create_heymarket", "update_heymarket", "create_salesforce", "update_salesforce"):
        frame = result.actions[action]
        if len(frame):
            out[action] = list(zip(frame["changed"], frame[OPT_OUT_KEY], strict=True))
    return out


def remembered(result: Plan) -> list[str | None]:
    """The opt-out the plan's link rows store before the writes."""
    return result.actions["link"]["agreed." + OPT_OUT_KEY].tolist()


# s, h, y -> the writes, the link memory stored before the writes
CASES = [
    pytest.param("false", "true", "false", {"update_salesforce": [("opt_out", "true")]}, [],
                 id="Heymarket opt-out ticks the box"),
    pytest.param("true", "false", "false", {"update_heymarket": [("opt_out", "true")]}, [],
                 id="ticked box opts out in Heymarket"),
    # The memory takes the box's state until the write succeeds (a failed write is planned again).
    pytest.param("false", "true", "true", {"update_salesforce": [("opt_out", "true")]}, ["false"],
                 id="un-ticking never re-subscribes: the box is ticked again"),
    pytest.param("true", "false", "true", {"update_salesforce": [("opt_out", "false")]}, [],
                 id="Heymarket opt-in clears the box"),
    pytest.param("false", "false", "true", {}, ["false"], id="opt-in and un-ticked alike: memory only"),
    pytest.param("true", "true", "false", {}, ["true"], id="opted out on both sides: memory only"),
    pytest.param("true", "true", "true", {}, [], id="opted out and remembered: nothing"),
    pytest.param("false", "false", "false", {}, [], id="subscribed everywhere: nothing"),
    pytest.param(None, "false", None, {}, [], id="no memory yet and nobody opted out: nothing, no refresh"),
    pytest.param("true", None, None, {"update_heymarket": [("opt_out", "true")]}, [],
                 id="memory from before opt-out sync: a ticked box still counts"),
]


@pytest.mark.parametrize(("s", "h", "y", "expected", "memory"), CASES)
def test_compliance_rules_for_a_linked_pair(s: str | None, h: str | None, y: str | None,
                                            expected: dict[str, list[tuple[str, str]]],
                                            memory: list[str]) -> None:
    world = pair(s, h, y)
    result = world.plan_once()
    assert writes(result) == expected
    assert remembered(result) == memory
    assert result.report.empty  # consent is never a conflict
    after = apply_plan(world, result)
    assert writes(after.plan_once()) == {}


@pytest.mark.parametrize(("s", "h", "expected"), [
    ("true", "false", {"update_heymarket": [("opt_out", "true")]}),
    ("false", "true", {"update_salesforce": [("opt_out", "true")]}),
    ("false", "false", {}),
])
def test_a_first_link_by_phone_spreads_either_sides_opt_out(s: str, h: str,
                                                            expected: dict[str, list[tuple[str, str]]]) -> None:
    result = pair(s, h, None, linked=False).plan_once()
    assert result.actions["link"]["reason"].tolist() == ["phone_match"]
    assert writes(result) == expected


def test_an_opt_out_is_written_even_when_the_pair_has_a_field_conflict() -> None:
    """Both sides changed the first name (Salesforce wins it) and Heymarket opted out: the opt-out goes
    to Salesforce in the same run, next to the name going to Heymarket."""
    world = pair("false", "true", "false", sf={"first": "Annie"}, hm={"first": "Anna"})
    result = world.plan_once()
    # Rows carry every key's final state; only ``changed`` is written (the name goes to Heymarket alone).
    assert writes(result) == {"update_heymarket": [("first", "true")],
                              "update_salesforce": [("opt_out", "true")]}
    assert result.report["kind"].tolist() == ["conflict"]
    after = apply_plan(world, result)
    assert after.sf.loc[0, OPT_OUT_KEY] == "true" and after.hm.loc[0, "first"] == "Annie"
    assert writes(after.plan_once()) == {}


def test_heymarket_wins_a_conflict_and_the_ticked_box_still_reaches_heymarket() -> None:
    world = pair("true", "false", "false", sf={"first": "Annie"}, hm={"first": "Anna"},
                 conflict_policy="heymarket_wins")
    result = world.plan_once()
    assert writes(result) == {"update_heymarket": [("opt_out", "true")],
                              "update_salesforce": [("first", "true")]}


def test_the_opt_out_ignores_field_directions_of_other_keys() -> None:
    world = pair("false", "true", "false", field_directions={"first": "to_heymarket", "last": "to_heymarket",
                                                             "email": "to_heymarket"})
    assert writes(world.plan_once()) == {"update_salesforce": [("opt_out", "true")]}


def test_an_unread_contact_is_at_its_remembered_state() -> None:
    """Incremental Heymarket read without the contact: it still says opted out, so an un-ticked box is
    ticked again; the un-ticking never reaches Heymarket."""
    world = replace(pair("false", "true", "true"), since=T0, settings=consent_settings(hm_mode="incremental"))
    world = replace(world, hm=world.hm.assign(updated=T0))
    assert world.read()[1].empty
    assert writes(world.plan_once()) == {"update_salesforce": [("opt_out", "true")]}


def test_an_unread_record_is_at_its_remembered_box() -> None:
    """Incremental Salesforce read without the record: Heymarket opted the person back in, the box is
    cleared."""
    world = replace(pair("true", "false", "true"), since=T0, settings=consent_settings(sf_mode="incremental"))
    world = replace(world, sf=world.sf.assign(modstamp=T0))
    assert world.read()[0].empty
    assert writes(world.plan_once()) == {"update_salesforce": [("opt_out", "false")]}


def test_objects_with_opt_out_sync_off_are_left_alone() -> None:
    world = pair("false", "true", "false", opt_out_off=frozenset({"Contact"}))
    result = world.plan_once()
    assert writes(result) == {} and remembered(result) == []


def test_creates_carry_the_opt_out_both_ways() -> None:
    """A new ticked record is created opted out; an opted-out stranger is auto-created with its box ticked."""
    record = {"sf_id": "003A", "phone_raw": RAW, **ANN, OPT_OUT_KEY: "true"}
    stranger = {"hm_id": 8, "phone": "14155550102", **ANN, OPT_OUT_KEY: "true"}
    world = World(sf_frame(record, keys=KEYS), hm_frame(stranger, keys=KEYS), link_frame(keys=KEYS),
                  consent_settings())
    result = world.plan_once()
    assert result.actions["create_heymarket"][OPT_OUT_KEY].tolist() == ["true"]
    assert result.actions["create_salesforce"][OPT_OUT_KEY].tolist() == ["true"]
    after = apply_plan(world, result)
    assert writes(after.plan_once()) == {}


# --------------------------------------------------------------------------------------------- property
STATES = st.sampled_from([None, "false", "true"])
NAMES = st.sampled_from(["Ann", "Bo"])


def _opted_out(value: object) -> bool:
    return value == "true"


@st.composite
def consent_worlds(draw: st.DrawFn) -> tuple[World, list[bool]]:
    """Up to four linked pairs (some linked only by phone, some absent from an incremental read) with random
    opt-out states, memories and name edits on both sides; returns the world and, per pair, whether the
    rules say the person is opted out (an opt-out since the last sync, or Heymarket's state)."""
    n = draw(st.integers(1, 4))
    sf_mode = draw(st.sampled_from(["full", "incremental"]))
    hm_mode = draw(st.sampled_from(["full", "incremental"]))
    records, contacts, links, expected = [], [], [], []
    for i in range(n):
        phone, raw = f"1415555010{i + 1}", f"(415) 555-010{i + 1}"
        y = draw(STATES)
        linked = draw(st.booleans())
        # Unread sides (incremental, unchanged since the last sync) hold the remembered state.
        sf_read = sf_mode == "full" or not linked or draw(st.booleans())
        hm_read = hm_mode == "full" or not linked or draw(st.booleans())
        s = draw(STATES) if sf_read else y
        h = draw(STATES) if hm_read else y
        memory_name = draw(NAMES)
        records.append({"sf_id": f"003{i}", "phone_raw": raw, "modstamp": T1 if sf_read else T0,
                        "first": draw(NAMES) if sf_read else memory_name, OPT_OUT_KEY: s})
        contacts.append({"hm_id": 10 + i, "phone": phone, "updated": T1 if hm_read else T0,
                         "first": draw(NAMES) if hm_read else memory_name, OPT_OUT_KEY: h})
        if linked:
            links.append({"sf_id": f"003{i}", "hm_id": 10 + i, "phone": phone,
                          "synced": {"first": memory_name, OPT_OUT_KEY: y}})
        memory = y if linked else None
        expected.append(_opted_out(h) or (_opted_out(s) and not _opted_out(memory)))
    config = consent_settings(sf_mode=sf_mode, hm_mode=hm_mode,
                              conflict_policy=draw(st.sampled_from(["salesforce_wins", "heymarket_wins",
                                                                    "newest_wins"])))
    world = World(sf_frame(*records, keys=KEYS), hm_frame(*contacts, keys=KEYS), link_frame(*links, keys=KEYS),
                  config, since=T0 if "incremental" in (sf_mode, hm_mode) else None)
    return world, expected


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(consent_worlds())
def test_after_the_writes_both_sides_agree_no_opt_out_is_lost_and_a_second_plan_writes_nothing(
        drawn: tuple[World, list[bool]]) -> None:
    world, expected = drawn
    after = apply_plan(world, world.plan_once())
    sf = after.sf.set_index("sf_id")
    hm = after.hm.set_index("hm_id")
    for i, opted in enumerate(expected):
        box, contact = _opted_out(sf.loc[f"003{i}", OPT_OUT_KEY]), _opted_out(hm.loc[10 + i, OPT_OUT_KEY])
        assert box == contact == opted, f"pair {i}: box {box}, Heymarket {contact}, rules say {opted}"
    again = after.plan_once()
    assert again.writes() == 0, again.summary_text()
    assert again.actions["link"].empty


def test_the_property_sees_every_rule() -> None:
    """The generator reaches each rule: an opt-out from either side, an opt-in, a re-ticked box."""
    seen: set[str] = set()

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
    @given(consent_worlds())
    def collect(drawn: tuple[World, list[bool]]) -> None:
        world, _ = drawn
        result = world.plan_once()
        for action in ("update_heymarket", "update_salesforce"):
            frame = result.actions[action]
            for changed, value in zip(frame["changed"], frame[OPT_OUT_KEY], strict=True):
                if OPT_OUT_KEY in changed.split(","):
                    seen.add(f"{action}:{value}")

    collect()
    assert seen == {"update_heymarket:true", "update_salesforce:true", "update_salesforce:false"}


def test_frames_without_memory_of_the_key_plan_like_null_memory() -> None:
    """Links written before opt-out sync have no ``synced.opt_out`` column at all."""
    world = pair("true", "false", None)
    links = world.links.drop(columns=["synced." + OPT_OUT_KEY])
    result = replace(world, links=links).plan_once()
    assert writes(result) == {"update_heymarket": [("opt_out", "true")]}


def test_plan_counts_its_consent_writes_and_a_dry_run_records_them_as_planned() -> None:
    from sync_engine.history import history_counts, summary_table

    opt_in = pair("true", "false", "true")
    counts = opt_in.plan_once().counts()
    assert counts["Contact"] == {"update_salesforce": 1, "opt_in_salesforce": 1}
    ticked = pair("true", "false", "false").plan_once()
    assert ticked.counts()["Contact"] == {"update_heymarket": 1, "opt_out_heymarket": 1}
    assert "opt_out_heymarket 1" in ticked.summary_text()
    planned = history_counts(ticked.counts(), [], planned=True)
    assert planned["Contact"]["to_heymarket"] == {"updated": 1, "opted_out": 1}
    assert "would opt out" in summary_table("r1", "dry_run", planned, {}, planned=True)
    assert history_counts(ticked.counts(), []) == {}  # a run that wrote nothing records no consent write


def test_an_auto_created_record_of_an_object_without_opt_out_sync_gets_no_opt_out() -> None:
    stranger = {"hm_id": 8, "phone": "14155550102", **ANN, OPT_OUT_KEY: "true"}
    world = World(sf_frame(keys=KEYS), hm_frame(stranger, keys=KEYS), link_frame(keys=KEYS),
                  consent_settings(auto_create="Lead", opt_out_off=frozenset({"Lead"})))
    result = world.plan_once()
    assert result.actions["create_salesforce"][OPT_OUT_KEY].tolist() == [None]
    assert "opt_out_salesforce" not in result.counts()["Lead"]


# --------------------------------------------------------------------------------------------- duplicates
def duplicates(s: str | None, h: str | None, y: str | None, others: list[str | None],
               *, lead: bool = False, **overrides: object) -> World:
    """The linked pair of :func:`pair` (Contact 003A, modified last) plus records with the same phone that lose
    it to 003A (a duplicate report): Contacts 003B, 003C... with boxes ``others`` (Leads with ``lead``)."""
    world = pair(s, h, y, **overrides)
    extra = [{"object": "Lead" if lead else "Contact", "sf_id": f"00{'Q' if lead else '3'}{chr(66 + i)}",
              "phone_raw": RAW, "modstamp": T0, **ANN, OPT_OUT_KEY: box} for i, box in enumerate(others)]
    return replace(world, sf=sf_frame(*world.sf.to_dict("records"), *extra, keys=KEYS))


def duplicate_rows(result: Plan) -> list[tuple[str, str | None, int]]:
    frame = result.actions["update_salesforce"]
    rows = frame[frame["reason"] == "duplicate"]
    return list(zip(rows["sf_id"], rows[OPT_OUT_KEY], rows["hm_id"].astype(int), strict=True))


def boxes(world: World) -> dict[str, bool]:
    return {str(i): _opted_out(v) for i, v in zip(world.sf["sf_id"], world.sf[OPT_OUT_KEY], strict=True)}


def test_a_duplicates_ticked_box_opts_the_person_out_and_every_record_shows_it() -> None:
    """Issue 15: the consent is the person's. A box ticked on a record that lost the phone to the linked one
    opts the contact out in Heymarket; the winner's box is ticked in the same run, the other duplicate's too."""
    world = duplicates("false", "false", "false", ["true", "false"])
    result = world.plan_once()
    assert set(result.report["kind"]) == {"duplicate"}
    assert writes(result)["update_heymarket"] == [("opt_out", "true")]
    assert duplicate_rows(result) == [("003C", "true", 7)]  # 003B is ticked already
    winner = result.actions["update_salesforce"]
    assert winner[winner["reason"] == ""][["sf_id", "changed", OPT_OUT_KEY]].values.tolist() == [
        ["003A", "opt_out", "true"]]
    after = apply_plan(world, result)
    assert boxes(after) == {"003A": True, "003B": True, "003C": True}
    assert after.hm[OPT_OUT_KEY].tolist() == ["true"]
    assert after.links["sf_id"].tolist() == ["003A"]  # the duplicates joined no pair
    assert after.plan_once().writes() == 0


def test_a_heymarket_opt_out_ticks_every_duplicate_and_an_opt_in_clears_every_one() -> None:
    world = duplicates("false", "true", "false", [None, "false"], lead=True)
    result = world.plan_once()
    assert duplicate_rows(result) == [("00QB", "true", 7), ("00QC", "true", 7)]
    after = apply_plan(world, result)
    assert set(boxes(after).values()) == {True} and after.plan_once().writes() == 0

    # the person texts START: Heymarket's opt-in clears the box on every record with the phone
    hm = after.hm.copy()
    hm[OPT_OUT_KEY] = "false"
    back = replace(after, hm=hm)
    result = back.plan_once()
    assert duplicate_rows(result) == [("00QB", "false", 7), ("00QC", "false", 7)]
    assert writes(result).get("update_heymarket") is None
    again = apply_plan(back, result)
    assert set(boxes(again).values()) == {False} and again.plan_once().writes() == 0


def test_a_duplicate_ticked_while_the_person_is_known_opted_out_is_in_step_not_news() -> None:
    """Memory says opted out (``y``), Heymarket says opted in: START wins over a duplicate's old tick."""
    world = duplicates("true", "false", "true", ["true"])
    result = world.plan_once()
    assert duplicate_rows(result) == [("003B", "false", 7)]
    assert "update_heymarket" not in writes(result)


def test_a_duplicate_of_an_object_without_opt_out_sync_neither_counts_nor_is_written() -> None:
    world = duplicates("false", "true", "false", ["true"], lead=True, opt_out_off=frozenset({"Lead"}))
    assert duplicate_rows(world.plan_once()) == []
    world = duplicates("false", "false", "false", ["true"], lead=True, opt_out_off=frozenset({"Lead"}))
    assert writes(world.plan_once()) == {}


def followers(result: Plan) -> list[tuple[str, str | None, object]]:
    """The ``created_opted_out`` rows: record, box written, contact named (none: it is created by the run)."""
    frame = result.actions["update_salesforce"]
    rows = frame[frame["reason"] == "created_opted_out"]
    return list(zip(rows["sf_id"], rows[OPT_OUT_KEY], rows["hm_id"].astype(object).where(rows["hm_id"].notna(), None),
                    strict=True))


def new_person(*boxes: str | None) -> World:
    """Contacts 003A (the winner: modified last), 003B... with one phone and these boxes; no contact, no link."""
    records = [{"sf_id": f"003{chr(65 + i)}", "phone_raw": RAW, "modstamp": T1 if i == 0 else T0, **ANN,
                OPT_OUT_KEY: box} for i, box in enumerate(boxes)]
    return World(sf_frame(*records, keys=KEYS), hm_frame(keys=KEYS), link_frame(keys=KEYS), consent_settings())


def test_a_duplicates_ticked_box_creates_a_new_contact_opted_out_and_ticks_every_box_in_the_same_run() -> None:
    """Issue 15, rule 5 for a person new to Heymarket: the contact is created opted out, and the winner's clear box
    is ticked by the same run (no contact id yet: the row names none and links nothing; the create links 003A)."""
    world = new_person("false", "true", None)
    result = world.plan_once()
    created = result.actions["create_heymarket"]
    assert created[["sf_id", OPT_OUT_KEY]].values.tolist() == [["003A", "true"]]
    assert OPT_OUT_KEY in created["changed"].iloc[0].split(",")
    assert followers(result) == [("003A", "true", None), ("003C", "true", None)]
    assert result.counts()["Contact"]["opt_out_salesforce"] == 2
    after = apply_plan(world, result)
    assert boxes(after) == {"003A": True, "003B": True, "003C": True}
    assert after.hm[OPT_OUT_KEY].tolist() == ["true"]
    assert after.links["sf_id"].tolist() == ["003A"]
    assert after.plan_once().writes() == 0


def test_the_winners_ticked_box_creates_the_contact_opted_out_and_ticks_its_duplicates() -> None:
    world = new_person("true", "false")
    result = world.plan_once()
    assert followers(result) == [("003B", "true", None)]
    assert apply_plan(world, result).plan_once().writes() == 0


def test_a_new_person_nobody_opted_out_gets_no_box_written() -> None:
    assert followers(new_person("false", None, "false").plan_once()) == []


def test_a_contact_no_link_holds_at_an_opted_out_pairs_phone_is_opted_out_in_the_same_run() -> None:
    """Issue 15: the pair's contact 7 was deleted in Heymarket and contact 8 created by hand at the phone. An
    incremental run reads contact 8 but not the delete (only a full sweep sees deletes): the pair stands, and
    contact 8, which no link holds, gets the person's opt-out, its other values left as they are."""
    world = pair("true", "true", "true")
    hm = hm_frame({"hm_id": 8, "phone": PHONE, "updated": T2, "first": "Annie", "last": "Lee", OPT_OUT_KEY: "false"},
                  keys=KEYS)
    world = replace(world, hm=hm, since=T1, settings=consent_settings(hm_mode="incremental"))
    result = world.plan_once()
    rows = result.actions["update_heymarket"]
    assert rows[["sf_id", "hm_id", "reason", "changed", OPT_OUT_KEY, "first", "email"]].values.tolist() == [
        ["003A", 8, "duplicate", OPT_OUT_KEY, "true", "Annie", None]]
    assert result.writes() == 1
    after = apply_plan(world, result)
    assert after.hm[OPT_OUT_KEY].tolist() == ["true"] and after.hm["first"].tolist() == ["Annie"]
    assert after.links["hm_id"].tolist() == [7]  # the pair and its memory stand until a full sweep sees the delete
    assert after.plan_once().writes() == 0
    # The next full sweep: contact 7 is gone, 003A links contact 8 by phone, already opted out; only the name and
    # e-mail (a first link with different values) are written.
    swept = replace(after, settings=consent_settings()).plan_once()
    assert swept.actions["link"][["sf_id", "hm_id", "agreed." + OPT_OUT_KEY]].values.tolist() == [
        ["003A", 8, "true"]]
    assert {change for _, frame in swept.actions.items() for change in frame.get("changed", [])} == {
        "first,email", ""}


def test_an_opted_out_contact_beside_the_pair_opts_the_person_out_like_a_duplicates_ticked_box() -> None:
    """Rule 4 on Heymarket's side: contact 8, which no link holds, is read at the pair's phone and opted out (the
    person texted STOP to it). The pair's contact 7 is not read (incremental) and the memory says subscribed: the
    box is ticked and contact 7 opted out in the same run. (Contact 7 is kept here as if Heymarket allowed two
    contacts with one number; when it was deleted, that write is rejected and the full sweep links contact 8.)"""
    world = pair("false", "false", "false")
    beside = {"hm_id": 8, "phone": PHONE, "updated": T2, **ANN, OPT_OUT_KEY: "true"}
    world = replace(world, hm=hm_frame(*world.hm.to_dict("records"), beside, keys=KEYS), since=T1,
                    settings=consent_settings(hm_mode="incremental"))
    result = world.plan_once()
    assert writes(result) == {"update_heymarket": [(OPT_OUT_KEY, "true")], "update_salesforce": [(OPT_OUT_KEY, "true")]}
    assert result.actions["update_heymarket"][["hm_id", "reason"]].values.tolist() == [[7, ""]]
    after = apply_plan(world, result)
    assert boxes(after) == {"003A": True} and after.hm[OPT_OUT_KEY].tolist() == ["true", "true"]
    assert after.plan_once().writes() == 0
    # a START texted to the pair's own contact is the newer consent: the box is cleared, contact 8 keeps its STOP
    hm = after.hm.copy()
    hm.loc[hm["hm_id"] == 7, [OPT_OUT_KEY, "updated"]] = ["false", after.latest() + pd.Timedelta(minutes=1)]
    back = replace(after, hm=hm)
    result = back.plan_once()
    assert writes(result) == {"update_salesforce": [(OPT_OUT_KEY, "false")]}
    assert apply_plan(back, result).plan_once().writes() == 0


def test_a_contact_at_the_phone_of_a_subscribed_person_is_left_alone() -> None:
    world = pair("false", "false", "false")
    hm = hm_frame({"hm_id": 8, "phone": PHONE, "updated": T2, **ANN, OPT_OUT_KEY: "false"}, keys=KEYS)
    world = replace(world, hm=hm, since=T1, settings=consent_settings(hm_mode="incremental"))
    assert "update_heymarket" not in writes(world.plan_once())


@st.composite
def duplicate_worlds(draw: st.DrawFn) -> tuple[World, bool]:
    """One linked pair (winner 003A, newest) and one to three duplicates with the phone, random boxes on every
    record, Heymarket state and memory; returns the world and whether the person is opted out by the rules:
    Heymarket's state, or a box ticked on any record with the phone since the last sync."""
    y, h, s = draw(STATES), draw(STATES), draw(STATES)
    others = draw(st.lists(STATES, min_size=1, max_size=3))
    lead = draw(st.booleans())
    world = duplicates(s, h, y, others, lead=lead)
    ticked = _opted_out(s) or any(_opted_out(o) for o in others)
    if draw(st.booleans()):  # a person new to Heymarket: no contact, no link, no memory; the run creates one
        return replace(world, hm=hm_frame(keys=KEYS), links=link_frame(keys=KEYS)), ticked
    return world, _opted_out(h) or (ticked and not _opted_out(y))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(duplicate_worlds())
def test_every_record_with_the_phone_ends_at_the_persons_state_and_a_second_plan_writes_nothing(
        drawn: tuple[World, bool]) -> None:
    world, opted = drawn
    result = world.plan_once()
    assert result.report["kind"].tolist().count("duplicate") == len(world.sf) - 1
    assert not len(result.actions["create_heymarket"]) or result.actions["create_heymarket"][OPT_OUT_KEY].map(
        _opted_out).tolist() == [opted]
    after = apply_plan(world, result)
    assert set(boxes(after).values()) == {opted}, (boxes(after), opted)
    assert _opted_out(after.hm[OPT_OUT_KEY].iloc[0]) == opted
    again = after.plan_once()
    assert again.writes() == 0, again.summary_text()
