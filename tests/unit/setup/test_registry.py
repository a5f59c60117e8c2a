"""The setup step registry: the guide's order, one task per step after the config file, lookups by id."""

from __future__ import annotations

import pytest

from sync_engine.setup.registry import STEP_TITLES, STEPS, TASK_STEPS, task_id_of


def test_steps_are_numbered_in_the_guides_order() -> None:
    assert [step.id for step in STEPS] == [
        "config",
        "credentials",
        "default_inbox",
        "user_mapping",
        "phone_fields",
        "field_mapping",
        "task_external_id",
    ]


def test_every_step_after_the_config_file_has_its_own_task() -> None:
    assert [step.id for step in TASK_STEPS] == [step.id for step in STEPS[1:]]
    task_ids = [step.task_id for step in TASK_STEPS]
    assert len(set(task_ids)) == len(task_ids)
    assert task_id_of("user_mapping") == "map_users"
    assert STEP_TITLES["phone_fields"] == "Phone fields"


def test_the_config_file_and_unknown_steps_have_no_task() -> None:
    with pytest.raises(KeyError, match="has no task"):
        task_id_of("config")
    with pytest.raises(KeyError, match="has no task"):
        task_id_of("nope")
