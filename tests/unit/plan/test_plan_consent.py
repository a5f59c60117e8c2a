"""The compliance rules of the SMS opt-out (sync_engine.plan.consent) in the planner.

Table-driven: one linked pair per case, Salesforce's box ``s``, Heymarket's ``is_opted_out`` ``h`` and the
state remembered at the last sync ``y``, with the writes the rules want. Then a hypothesis property over
random pairs, read modes and conflicts on other fields: after the plan's writes both sides agree, a second
plan writes nothing, and an opt-out (Heymarket's, or a box ticked since the last sync) is never lost.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_engine.plan import ObjectSettings, Plan, PlanSettings
from sync_engine.vocabulary import OPT_OUT_KEY
from tests.unit.plan.test_plan_world import T0, T1, World, apply_plan, hm_frame, link_frame, sf_frame

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
