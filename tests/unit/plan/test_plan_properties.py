"""Property-based tests of the planner on small random Salesforce / Heymarket / link states.

Invariants (docs/contracts.md): the plan is deterministic whatever the row order; at most one action per
record and per contact per target; never two creates for one phone; never a create for a phone someone
already has; and applying a plan, then planning again, converges to an empty plan.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from sync_engine.phones import normalise_phones
from sync_engine.plan import ObjectSettings, Plan, PlanSettings, plan
from sync_engine.plan.model import ACTIONS, TARGETS
from tests.unit.plan.test_plan_world import KEYS, T0, T1, World, apply_plan, hm_frame, link_frame, sf_frame

PHONES = ["14155550101", "14155550102", "14155550103", "14155550104", "14155550105"]
VALUES = st.sampled_from([None, "a", "b"])
TIMES = st.sampled_from([T0, T1])
PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _raw(phone: str, form: int) -> str:
    return [
        f"({phone[1:4]}) {phone[4:7]}-{phone[7:]}",
        "+" + phone,
        phone[1:],
        f"{phone[1:4]}.{phone[4:7]}.{phone[7:]}",
    ][form]


@st.composite
def plan_settings(draw: st.DrawFn) -> PlanSettings:
    objects = {
        name: ObjectSettings(
            name,
            enabled=draw(st.booleans()) if name == "Lead" else True,
            scope=draw(st.sampled_from(["all", "all", "list_view", "record_ids"])),
            delete_in_heymarket=draw(st.booleans()),
        )
        for name in ("Contact", "Lead")
    }
    policies = st.sampled_from(["salesforce_wins", "heymarket_wins", "newest_wins"])
    return PlanSettings(
        objects=objects,
        auto_create=draw(st.sampled_from(["Contact", "Lead", "none"])),
        conflict_policy=draw(policies),
        field_policies=draw(st.dictionaries(st.sampled_from(KEYS), policies, max_size=2)),
        field_directions=draw(
            st.dictionaries(
                st.sampled_from(KEYS), st.sampled_from(["both", "to_heymarket", "to_salesforce"]), max_size=2
            )
        ),
        keys=KEYS,
        sf_mode=draw(st.sampled_from(["full", "incremental"])),
        hm_mode=draw(st.sampled_from(["full", "incremental"])),
    )


@st.composite
def worlds(draw: st.DrawFn) -> World:
    config = draw(plan_settings())
    records = []
    for i in range(draw(st.integers(0, 6))):
        obj = draw(st.sampled_from(["Contact", "Lead"]))
        phone = draw(st.one_of(st.none(), st.just("bad"), st.sampled_from(PHONES), st.sampled_from(PHONES)))
        raw = _raw(phone, draw(st.integers(0, 3))) if phone not in (None, "bad") else phone
        records.append(
            {
                "object": obj,
                "sf_id": f"{'003' if obj == 'Contact' else '00Q'}{i:03d}",
                "phone_raw": raw,
                "modstamp": draw(TIMES),
                "in_scope": draw(st.sampled_from([True, True, True, False])),
                "is_deleted": draw(st.sampled_from([False, False, False, True])),
                **{k: draw(VALUES) for k in KEYS},
            }
        )
    for record in records:
        if record["is_deleted"]:
            record["in_scope"] = False
    contacts = [
        {
            "hm_id": i + 1,
            "phone": draw(st.sampled_from(PHONES)),
            "updated": draw(TIMES),
            **{k: draw(VALUES) for k in KEYS},
        }
        for i in range(draw(st.integers(0, 5)))
    ]

    # Links may point at records/contacts that are absent, but only where absence means something (full
    # extracts), so that the simulator can apply every write to a record or contact it holds.
    record_choices = [(r["object"], r["sf_id"]) for r in records]
    record_choices += [
        (o, f"{'003' if o == 'Contact' else '00Q'}9{i}")
        for i, o in enumerate(["Contact", "Lead"] * 2)
        if config.absent_means(o) != "unchanged"
    ]
    contact_choices = [c["hm_id"] for c in contacts] + ([90, 91, 92] if config.heymarket_full() else [])
    links, used_records, used_contacts = [], set(), set()
    for _ in range(draw(st.integers(0, 5))):
        if not record_choices or not contact_choices:
            break
        record = draw(st.sampled_from(record_choices))
        contact = draw(st.sampled_from(contact_choices))
        if record in used_records or contact in used_contacts:
            continue
        used_records.add(record)
        used_contacts.add(contact)
        links.append(
            {
                "object": record[0],
                "sf_id": record[1],
                "hm_id": contact,
                "phone": draw(st.sampled_from(PHONES)),
                "status": draw(st.sampled_from(["active", "active", "out_of_scope", "sf_deleted"])),
                "synced": {k: draw(VALUES) for k in KEYS},
            }
        )
    return World(sf_frame(*records), hm_frame(*contacts), link_frame(*links), config)


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@PROFILE
@given(worlds(), st.integers(0, 2**16))
def test_plan_invariants(world: World, seed: int) -> None:
    result = world.plan_once()
    _same_plan_whatever_the_row_order(world, result, seed)
    _one_action_per_record_and_contact_per_target(result)
    _creates_never_duplicate_a_phone(world, result)


def _same_plan_whatever_the_row_order(world: World, result: Plan, seed: int) -> None:
    again = plan(
        _shuffled(world.sf, seed),
        _shuffled(world.hm, seed + 1),
        _shuffled(world.links, seed + 2),
        world.settings,
    )
    for action in ACTIONS:
        assert_frame_equal(result.actions[action], again.actions[action])
    assert_frame_equal(result.report, again.report)
    assert result.noop == again.noop


def _one_action_per_record_and_contact_per_target(result: Plan) -> None:
    for target in ("heymarket", "salesforce"):
        rows = pd.concat([result.actions[a] for a in ACTIONS if TARGETS[a] == target], ignore_index=True)
        records = rows.dropna(subset=["sf_id"])
        assert not records.duplicated(["object", "sf_id"]).any(), f"two {target} actions for one record"
        contacts = rows.dropna(subset=["hm_id"])
        assert not contacts.duplicated(["hm_id"]).any(), f"two {target} actions for one contact"
    # Link-table changes: one per link row (a record may drop its old pair and link a new one).
    for action in ("link", "unlink"):
        frame = result.actions[action]
        assert not frame.duplicated(["object", "sf_id"]).any() and not frame.duplicated(["hm_id"]).any()
    pairs = pd.merge(result.actions["link"], result.actions["unlink"], on=["object", "sf_id", "hm_id"])
    assert pairs.empty, "a pair linked and unlinked in one plan"


def _creates_never_duplicate_a_phone(world: World, result: Plan) -> None:
    created = result.actions["create_heymarket"]["phone"]
    assert not created.duplicated().any(), "two create_heymarket for one phone"
    dropped = set(result.actions["unlink"].query("reason == 'heymarket_deleted'")["hm_id"].astype(int))
    live_links = world.links[~world.links["hm_id"].isin(dropped)]
    taken = set(world.hm["phone"]) | set(live_links["phone"])
    assert not set(created) & taken, "create_heymarket for a phone a contact or a link already has"

    auto = result.actions["create_salesforce"]["phone"]
    sf_phones = set(normalise_phones(world.sf["phone_raw"])["phone"].dropna())
    assert not set(auto) & (sf_phones | set(world.links["phone"])), "create_salesforce for a known phone"
    linked_hm = set(world.links["hm_id"])
    assert not set(result.actions["create_salesforce"]["hm_id"].astype(int)) & linked_hm


@settings(PROFILE, max_examples=40)
@given(worlds())
def test_applying_the_plan_converges_and_never_echoes(world: World) -> None:
    """Apply, plan again: what was written is not written again, and a few rounds reach an empty plan.

    One round is not always enough: a phone freed in this run (a record moved to another number, a
    duplicate contact left without its link) can only be taken on the next one.
    """
    current, history, written = world, [], None
    for _ in range(6):
        result = current.plan_once()
        history.append(result.counts())
        if written is not None:
            for action in ("update_heymarket", "update_salesforce", "create_heymarket", "create_salesforce"):
                frame = result.actions[action].dropna(subset=["sf_id"])
                again = set(zip(frame["object"], frame["sf_id"], strict=True)) & written
                assert not again, f"{action} again for records written in the previous round: {history}"
        if result.is_empty():
            return
        writes = pd.concat([result.actions[a] for a in ACTIONS if TARGETS[a] != "state"], ignore_index=True)
        written = set(zip(writes["object"], writes["sf_id"], strict=True))
        current = apply_plan(current, result)
    raise AssertionError(f"no fixpoint after 6 rounds: {history}")
