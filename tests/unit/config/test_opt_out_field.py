"""``opt_out_field`` per object: its default, switching it off, and its checks in the file and against
describe (an editable checkbox; the fix says how to create one in Salesforce Setup)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from sync_engine.config import ConfigError, SyncConfig, load_config
from sync_engine.settings import plan_settings
from tests.unit.config.test_describe import DESCRIBES, config_with, only, problems


def test_default_is_sms_opt_out_on_both_objects_and_maps_the_opt_out_key() -> None:
    config = SyncConfig()
    assert config.object_config("Contact").opt_out_field == "SMS_Opt_Out__c"
    assert config.opt_out_objects() == ("Contact", "Lead")
    assert config.salesforce_fields("Lead")["opt_out"] == "SMS_Opt_Out__c"
    assert "SMS_Opt_Out__c" in config.query_fields("Contact")


@pytest.mark.parametrize("off", ["false", "null", "~"])
def test_false_or_null_turns_it_off_for_that_object(tmp_path: Path, off: str) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text(f"objects:\n  Lead:\n    opt_out_field: {off}\n", encoding="utf-8")
    config = load_config(path)
    assert config.object_config("Lead").opt_out_field is None
    assert "opt_out" not in config.canonical_keys("Lead") and "opt_out" not in config.salesforce_fields("Lead")
    assert config.opt_out_objects() == ("Contact",)
    settings = plan_settings(config, ["Contact", "Lead"], sf_mode="full", hm_mode="full")
    assert "opt_out" in settings.keys and settings.opt_out_off == frozenset({"Lead"})


@pytest.mark.parametrize(("value", "expected"), [
    ("true", "objects.Contact.opt_out_field: true names no field — write the API name of the opt-out checkbox"),
    ("Phone", "objects.Contact.opt_out_field: Phone is already mapped as a field — the opt-out checkbox must be"),
    ("'SMS Opt Out'", "objects.Contact.opt_out_field"),
])
def test_bad_values_name_the_key_and_the_fix(tmp_path: Path, value: str, expected: str) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text(f"objects:\n  Contact:\n    opt_out_field: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)


def test_the_emulator_orgs_checkbox_passes() -> None:
    assert problems(config_with()) == []


def test_a_missing_field_says_how_to_create_it_in_setup() -> None:
    found = only(problems(config_with(contact={"opt_out_field": "Text_Opt_Out__c"})))
    assert found.path == "objects.Contact.opt_out_field"
    assert found.problem == "Contact has no field 'Text_Opt_Out__c' (the SMS opt-out checkbox)"
    assert found.fix.startswith("create it in Salesforce Setup > Object Manager > Contact > Fields & Relationships >"
                                " New > Checkbox (Field Label 'Text Opt Out', Field Name 'Text_Opt_Out'")
    assert "opt_out_field: false" in found.fix


def test_a_field_in_other_letter_case_names_the_right_spelling() -> None:
    found = only(problems(config_with(contact={"opt_out_field": "sms_opt_out__c"})))
    assert found.fix == "write opt_out_field: SMS_Opt_Out__c (API names match exactly)"


def test_a_field_that_is_not_a_checkbox_is_refused() -> None:
    found = only(problems(config_with(lead={"required_defaults": {"Company": "Unknown"}, "opt_out_field": "Title"})))
    assert found.problem == "Lead.Title is of type string, not a checkbox (boolean)"
    assert "e.g. SMS_Opt_Out__c" in found.fix and "New > Checkbox" in found.fix


def test_a_read_only_checkbox_is_refused() -> None:
    describes = copy.deepcopy(DESCRIBES)
    field = next(f for f in describes["Contact"]["fields"] if f["name"] == "SMS_Opt_Out__c")
    field["updateable"] = False
    found = only(problems(config_with(), describes))
    assert found.problem.startswith("Contact.SMS_Opt_Out__c can't be written by the integration user")
    assert "field-level security" in found.fix
