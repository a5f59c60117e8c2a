"""The closed sets of ``sync_engine.vocabulary`` and the tables keyed by them agree."""

from __future__ import annotations

from typing import get_args

from sync_engine import vocabulary as v
from sync_engine.drift import HELD_ACTIONS
from sync_engine.history import ACTION_NAMES, REPORT_NAMES
from sync_engine.settings import TARGET_ACTIONS, WRITE_KEYS


def test_every_action_has_a_target_and_its_reasons():
    assert tuple(v.ACTION_TARGET) == v.ACTIONS
    assert tuple(v.ACTION_REASONS) == v.ACTIONS
    assert set(v.ACTION_TARGET.values()) == set(v.TARGETS)
    assert set().union(*v.ACTION_REASONS.values()) == set(v.PLAN_REASONS)
    assert v.REFRESH in v.ACTION_REASONS["link"]


def test_the_derived_sets_follow_the_targets():
    assert v.WRITE_ACTIONS == (*v.HEYMARKET_WRITES, *v.SALESFORCE_WRITES)
    assert set(v.ACTIONS) == {*v.WRITE_ACTIONS, *v.STATE_ACTIONS}
    assert set(v.HEYMARKET_UPSERTS) | set(v.DELETE_ACTIONS) == set(v.HEYMARKET_WRITES)
    assert set(v.CREATE_ACTIONS) <= set(v.WRITE_ACTIONS)
    assert v.PHONE_WRITERS <= set(v.ACTIONS)


def test_each_action_is_applied_by_exactly_one_apply_task():
    applied = [a for actions in v.APPLY_TASK_ACTIONS.values() for a in actions]
    assert sorted(applied) == sorted(v.ACTIONS)
    assert set(v.APPLY_TASK_ACTIONS) == set(get_args(v.ApplyTask))


def test_tables_keyed_by_action_cover_the_actions():
    assert set(ACTION_NAMES) == set(v.ACTIONS)
    assert set(WRITE_KEYS) == set(v.WRITE_ACTIONS)
    assert {a for actions in TARGET_ACTIONS.values() for a in actions} == set(v.WRITE_ACTIONS)


def test_history_names_are_count_directions_and_actions():
    names = [*ACTION_NAMES.values(), *REPORT_NAMES.values()]
    assert {d for d, _ in names} <= set(v.COUNT_DIRECTIONS)
    assert {a for _, a in names} <= set(v.COUNT_ACTIONS)
    assert set(HELD_ACTIONS.values()) <= set(v.COUNT_ACTIONS)
    assert set(REPORT_NAMES) - {"noop"} == set(v.REPORT_KINDS)


def test_scopes():
    assert set(get_args(v.ConfiguredScope)) < set(v.OBJECT_SCOPES)
    assert v.OBJECT_SCOPES == ("all", "list_view", "record_ids")


def test_consent_counts_are_count_directions_and_actions_and_never_plan_actions():
    assert {d for d, _ in v.CONSENT_COUNTS.values()} <= {"to_heymarket", "to_salesforce"}
    assert {a for _, a in v.CONSENT_COUNTS.values()} == {"opted_out", "opted_in"} <= set(v.COUNT_ACTIONS)
    assert not set(v.CONSENT_COUNTS) & set(v.ACTIONS)
    assert ("to_heymarket", "opted_in") not in v.CONSENT_COUNTS.values()  # only the person opts in, in Heymarket


def test_record_outcomes_cover_every_action_and_report_kind():
    assert tuple(v.ACTION_OUTCOME) == v.ACTIONS and tuple(v.ACTION_DIRECTION) == v.ACTIONS
    assert set(v.ACTION_OUTCOME.values()) == set(v.WRITTEN_OUTCOMES)
    assert set(v.ACTION_DIRECTION.values()) == set(v.COUNT_DIRECTIONS)
    assert set(v.REPORT_OUTCOME) == set(v.REPORT_KINDS)
    assert set(v.REPORT_OUTCOME.values()) == set(v.HELD_OUTCOMES)
    assert v.OUTCOME_ACTIONS == (*v.WRITTEN_OUTCOMES, "failed", *v.HELD_OUTCOMES)
    # the outcome names are the history's count names, but for a record without a phone
    assert set(v.OUTCOME_ACTIONS) - set(v.COUNT_ACTIONS) == {"no_phone"}
