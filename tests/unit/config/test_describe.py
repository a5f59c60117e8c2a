"""The sync config against live metadata: one case per mapping-screen rule of the managed package.

The describe fixture (tests/unit/fixtures/salesforce_describe.json) is the Salesforce emulator's
Contact and Lead describe, written to a file so these tests need no server.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sync_engine.config import (
    ConfigProblem,
    SyncConfig,
    load_config,
    required_create_columns,
    required_on_create,
    validate_against_describe,
)

REPO = Path(__file__).resolve().parents[3]
DESCRIBES: dict[str, dict] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "salesforce_describe.json").read_text(encoding="utf-8"))
HEYMARKET_FIELDS = [{"id": 11, "title": "Customer Tier"}, {"id": 12, "title": "Preferred Language"}]


def config_with(contact: dict | None = None, lead: dict | None = None, **top: object) -> SyncConfig:
    return SyncConfig.model_validate({
        "auto_create": "none",
        **top,
        "objects": {"Contact": contact or {},
                    "Lead": {"required_defaults": {"Company": "Unknown"}} if lead is None else lead},
    })


def problems(config: SyncConfig, describes: dict | None = None, hm_fields: list | None = None
             ) -> list[ConfigProblem]:
    return validate_against_describe(config, describes or DESCRIBES,
                                     HEYMARKET_FIELDS if hm_fields is None else hm_fields)


def only(found: list[ConfigProblem]) -> ConfigProblem:
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def with_extra_field(obj: str, **field: object) -> dict:
    describes = copy.deepcopy(DESCRIBES)
    base = {"createable": True, "updateable": True, "nillable": True, "defaultedOnCreate": False,
            "calculated": False, "compoundFieldName": None}
    describes[obj]["fields"].append({**base, **field})
    return describes


def test_shipped_config_fits_the_emulator_org() -> None:
    config = load_config(REPO / "include" / "mappings" / "sync.yaml")
    assert problems(config) == []


def test_unknown_field_suggests_the_api_name() -> None:
    found = only(problems(config_with({"fields": [{"salesforce": "customer_tier__c", "heymarket": "Customer Tier"}]})))
    assert found.path == "objects.Contact.fields[0].salesforce"
    assert found.problem == "Contact has no field 'customer_tier__c'"
    assert "check the API name in Setup > Object Manager" in found.fix
    assert "did you mean 'Customer_Tier__c'?" in found.fix
    assert found.severity == "error"


def test_unknown_phone_field() -> None:
    found = only(problems(config_with(lead={"phone_field": "HomePhone", "required_defaults": {"Company": "x"}})))
    assert (found.path, found.problem) == ("objects.Lead.phone_field", "Lead has no field 'HomePhone'")


def test_phone_field_must_be_a_phone_field() -> None:
    found = only(problems(config_with({"phone_field": "Email"})))
    assert found.path == "objects.Contact.phone_field"
    assert found.problem == "Contact.Email is of type email, not a phone field"
    assert "AssistantPhone" in found.fix and "MobilePhone" in found.fix


@pytest.mark.parametrize(
    ("sf_field", "describes", "expected_problem", "expected_fix"),
    [
        ("AccountId", None, "is a lookup (reference) field", "map a text field instead"),
        ("Birthdate", None, "is a date field", "date fields can't be mapped"),
        ("CreatedDate", None, "is a date/time field", "can't be mapped"),
        ("Call_Time__c", with_extra_field("Contact", name="Call_Time__c", type="time"), "is a time field",
         "can't be mapped"),
        ("MailingAddress", None, "is a compound address field", "map the address parts such as MailingStreet"),
        ("Full_Phone_Display__c", None, "is a formula field", "fields the formula is computed from"),
        ("Office__c", with_extra_field("Contact", name="Office__c", type="location"),
         "is a compound geolocation field", "can't be mapped"),
        ("Photo__c", with_extra_field("Contact", name="Photo__c", type="base64"), "is a binary (base64) field",
         "can't be mapped"),
    ],
    ids=["reference", "date", "datetime", "time", "address", "formula", "location", "base64"],
)
def test_forbidden_field_types(sf_field: str, describes: dict | None, expected_problem: str,
                               expected_fix: str) -> None:
    config = config_with({"fields": [{"salesforce": sf_field, "heymarket": "Customer Tier",
                                      "direction": "to_heymarket"}]})
    found = only(problems(config, describes))
    assert found.path == "objects.Contact.fields[0].salesforce"
    assert found.problem == f"Contact.{sf_field} {expected_problem} and can't be mapped"
    assert expected_fix in found.fix


def test_address_parts_can_be_mapped_both_ways() -> None:
    config = config_with({"fields": [{"salesforce": "MailingStreet", "heymarket": "Customer Tier"},
                                     {"salesforce": "MailingCity", "heymarket": "Preferred Language"}]})
    assert problems(config) == []


def test_read_only_field_can_only_go_to_heymarket() -> None:
    mapping = {"salesforce": "IsConverted", "heymarket": "Customer Tier", "direction": "to_salesforce"}
    found = only(problems(config_with(lead={"fields": [mapping], "required_defaults": {"Company": "x"}})))
    assert found.path == "objects.Lead.fields[0].direction"
    assert "Lead.IsConverted is read-only for the integration user" in found.problem
    assert "set direction: to_heymarket" in found.fix
    mapping["direction"] = "to_heymarket"
    assert problems(config_with(lead={"fields": [mapping], "required_defaults": {"Company": "x"}})) == []


def test_missing_heymarket_field_points_to_setup_dag() -> None:
    found = problems(load_config(REPO / "include" / "mappings" / "sync.yaml"),
                     hm_fields=[{"id": 1, "title": "Customer Tier"}])
    # Both objects map "Preferred Language"; each mapping is reported where it is written.
    assert [p.path for p in found] == ["objects.Contact.fields[1].heymarket", "objects.Lead.fields[0].heymarket"]
    for problem in found:
        assert problem.problem == "Heymarket has no custom field titled 'Preferred Language'"
        assert problem.fix == ("run heymarket_setup with apply=true to create it, or create it in"
                               " Heymarket > Admin > Fields")


def test_missing_heymarket_field_is_reported_per_mapping() -> None:
    found = problems(load_config(REPO / "include" / "mappings" / "sync.yaml"), hm_fields=[])
    assert sorted(p.path for p in found) == ["objects.Contact.fields[0].heymarket",
                                             "objects.Contact.fields[1].heymarket",
                                             "objects.Lead.fields[0].heymarket"]


def test_heymarket_title_differing_in_case() -> None:
    config = config_with({"fields": [{"salesforce": "Title", "heymarket": "customer tier"}]})
    found = only(problems(config))
    assert found.problem == "Heymarket's field is titled 'Customer Tier', not 'customer tier'"


def test_missing_required_default_for_auto_created_lead() -> None:
    config = config_with(lead={}, auto_create="Lead")
    found = only(problems(config))
    assert found.path == "objects.Lead.required_defaults.Company"
    assert found.problem == "Lead.Company is required to create a Lead"
    assert found.fix == "add objects.Lead.required_defaults.Company"
    assert found.severity == "error"


def test_required_defaults_only_matter_for_the_auto_created_object() -> None:
    assert problems(config_with(lead={}, auto_create="Contact")) == []


def test_required_field_mapped_from_heymarket_still_wants_a_default() -> None:
    lead = {"fields": [{"salesforce": "Company", "heymarket": "Customer Tier"}]}
    found = only(problems(config_with(lead=lead, auto_create="Lead")))
    assert found.severity == "warning"
    assert "mapped from Heymarket 'custom.Customer Tier'" in found.problem


def test_new_required_field_in_the_org_is_caught() -> None:
    describes = with_extra_field("Contact", name="Languages__c", type="string", nillable=False)
    found = only(problems(config_with(auto_create="Contact"), describes))
    assert str(found) == ("objects.Contact.required_defaults.Languages__c: Contact.Languages__c is required to"
                          " create a Contact — add objects.Contact.required_defaults.Languages__c")
    assert problems(config_with({"required_defaults": {"Languages__c": "English"}}, auto_create="Contact"),
                    describes) == []


def test_required_default_for_unknown_or_uncreateable_field() -> None:
    found = problems(config_with(lead={"required_defaults": {"Company": "x", "Compnay": "y", "IsConverted": True}}))
    assert sorted(p.problem for p in found) == [
        "Lead has no field 'Compnay'", "Lead.IsConverted can't be set on create, so a default is never used"]


def test_required_default_outside_a_restricted_picklist() -> None:
    describes = with_extra_field("Lead", name="Region__c", type="picklist", restrictedPicklist=True,
                                 picklistValues=[{"value": "EMEA", "active": True}, {"value": "APAC", "active": True}])
    found = only(problems(config_with(lead={"required_defaults": {"Company": "x", "Region__c": "Mars"}}), describes))
    assert found.problem == "'Mars' is not an active value of the picklist Lead.Region__c"
    assert found.fix == "use one of: EMEA, APAC"


def test_missing_describe_of_an_enabled_object() -> None:
    found = only(problems(config_with(), {"Contact": DESCRIBES["Contact"]}))
    assert (found.path, found.problem) == ("objects.Lead", "no Salesforce describe of Lead was available")


def test_disabled_object_is_not_checked() -> None:
    config = config_with(lead={"enabled": False, "phone_field": "Nope"})
    assert problems(config, {"Contact": DESCRIBES["Contact"]}) == []


def test_errors_come_before_warnings() -> None:
    lead = {"fields": [{"salesforce": "Company", "heymarket": "Customer Tier"}]}
    found = problems(config_with({"phone_field": "Email"}, lead=lead, auto_create="Lead"))
    assert [p.severity for p in found] == ["error", "warning"]


def test_required_on_create_follows_the_describe_recipe() -> None:
    assert sorted(required_on_create(DESCRIBES["Lead"])) == ["Company", "LastName"]
    assert required_on_create(DESCRIBES["Contact"]) == ["LastName"]


def test_required_create_columns() -> None:
    config = config_with(lead={"required_defaults": {"Company": "x"}}, auto_create="Lead")
    assert required_create_columns(config, "Lead", DESCRIBES["Lead"]) == ("phone", "last")
    mapped = config_with(lead={"fields": [{"salesforce": "Company", "heymarket": "Org"}]}, auto_create="Lead")
    assert required_create_columns(mapped, "Lead", DESCRIBES["Lead"]) == ("phone", "last", "custom.Org")


def test_problem_is_json_able() -> None:
    found = only(problems(config_with({"phone_field": "Email"})))
    assert json.loads(json.dumps(found.as_dict()))["path"] == "objects.Contact.phone_field"
