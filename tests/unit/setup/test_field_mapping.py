"""Step 5, field mapping: describe problems, required defaults, Heymarket fields to create."""

from __future__ import annotations

from sync_engine.config import (
    ConfigProblem,
    SyncConfig,
    validate_against_describe,
)
from sync_engine.setup.config_file import split_problems
from sync_engine.setup.field_mapping import (
    check_field_mapping,
    creatable_titles,
    field_mapping_step,
    required_fields,
)
from sync_engine.setup.results import StepResult
from tests.unit.setup.data import DESCRIBES, config


def mapping_config(**top: object) -> SyncConfig:
    return config(
        **{
            "auto_create": "Lead",
            "objects": {
                "Contact": {
                    "fields": [
                        {"salesforce": "Birthdate", "heymarket": "Birthday"},
                        {"salesforce": "Favourite_Colour__c", "heymarket": "Colour"},
                        {"salesforce": "Customer_Tier__c", "heymarket": "Customer Tier"},
                    ]
                },
                "Lead": {
                    "fields": [{"salesforce": "Preferred_Language__c", "heymarket": "Preferred Language"}]
                },
            },
            **top,
        }
    )


def field_step(
    cfg: SyncConfig, hm_fields: list[dict] | None, apply: bool = False, created: tuple = ()
) -> StepResult:
    problems = validate_against_describe(cfg, DESCRIBES, hm_fields or [])
    if hm_fields is None:
        problems = [p for p in problems if not p.path.endswith(".heymarket")]
    _, other = split_problems(problems)
    required = [r for obj in cfg.enabled_objects() for r in required_fields(cfg, obj, DESCRIBES[obj])]
    return field_mapping_step(cfg, other, required, heymarket_fields=hm_fields, created=created, apply=apply)


def test_field_step_reports_forbidden_types_unknown_fields_and_missing_required_defaults() -> None:
    result = field_step(mapping_config(), [{"id": 1, "title": "Customer Tier"}])
    assert result.status == "failed"
    errors = {f.message: f.fix for f in result.findings if f.severity == "error"}
    assert (
        errors["Contact.Birthdate is a date field and can't be mapped"]
        == "date fields can't be mapped; use a text field"
    )
    assert errors["Contact has no field 'Favourite_Colour__c'"].startswith(
        "check the API name in Setup > Object Manager"
    )
    assert errors["Lead.Company is required to create a Lead"] == "add objects.Lead.required_defaults.Company"
    assert "Heymarket has no custom field titled 'Preferred Language'" in errors
    # Only the title whose Salesforce side works would be created; Birthday and Colour would be clutter.
    assert result.facts["would_create"] == ["Preferred Language"]


def test_required_defaults_are_reported_for_every_object() -> None:
    cfg = config(auto_create="Contact", objects={"Lead": {"required_defaults": {"Company": "Unknown"}}})
    assert [
        (r.object, r.field, r.default)
        for obj in cfg.enabled_objects()
        for r in required_fields(cfg, obj, DESCRIBES[obj])
    ] == [("Lead", "Company", "Unknown")]
    result = field_step(cfg, [])
    assert any(
        f.message == "Lead.Company is required to create a Lead: default 'Unknown' configured"
        for f in result.findings
    )
    without = field_step(config(auto_create="Contact"), [])
    note = [f for f in without.findings if f.path == "objects.Lead.required_defaults.Company"]
    assert [(f.severity, f.message) for f in note] == [
        (
            "info",
            "Lead.Company is required to create a Lead; no default configured "
            "(needed only with auto_create: Lead)",
        )
    ]


def test_field_step_without_heymarket_checks_the_salesforce_side_only() -> None:
    result = field_step(mapping_config(), None)
    messages = [f.message for f in result.findings]
    assert "Heymarket custom fields not checked: the Heymarket connection failed" in messages
    assert not any("no custom field titled" in m for m in messages)
    assert "Contact.Birthdate is a date field and can't be mapped" in messages


def test_field_step_after_apply_lists_created_fields_and_passes() -> None:
    cfg = config(
        auto_create="none",
        objects={
            "Lead": {"enabled": False},
            "Contact": {"fields": [{"salesforce": "Customer_Tier__c", "heymarket": "Customer Tier"}]},
        },
    )
    result = field_step(
        cfg, [{"id": 7, "title": "Customer Tier"}], apply=True, created=({"id": 7, "title": "Customer Tier"},)
    )
    assert result.ok
    assert "created Heymarket custom field 'Customer Tier' (id 7)" in [f.message for f in result.findings]
    assert result.facts["created"] == ["Customer Tier"]


def test_creatable_titles_skip_case_variants_and_broken_mappings() -> None:
    cfg = mapping_config()
    problems = validate_against_describe(cfg, DESCRIBES, [])
    assert creatable_titles(cfg, [{"id": 1, "title": "customer tier"}], problems) == ["Preferred Language"]
    assert creatable_titles(cfg, [], problems) == ["Customer Tier", "Preferred Language"]


def test_problems_split_between_phone_step_and_field_step() -> None:
    problems = [
        ConfigProblem("objects.Lead.phone_field", "p", "f"),
        ConfigProblem("objects.Lead.fields[0].salesforce", "p", "f"),
    ]
    phone, other = split_problems(problems)
    assert [p.path for p in phone] == ["objects.Lead.phone_field"]
    assert [p.path for p in other] == ["objects.Lead.fields[0].salesforce"]


# --------------------------------------------------------------------------------------------- the step with a fake Heymarket


class FakeContactFields:
    """Heymarket's custom fields; creating one adds it (an existing title comes back as a duplicate)."""

    def __init__(self, titles: list[str]) -> None:
        self.fields = [{"id": index + 1, "title": title} for index, title in enumerate(titles)]
        self.created: list[list[str]] = []

    def list_contact_fields(self) -> list[dict[str, object]]:
        return [dict(f) for f in self.fields]

    def create_contact_fields(self, titles: list[str]) -> list[dict[str, object]]:
        self.created.append(list(titles))
        answers: list[dict[str, object]] = []
        for title in titles:
            existing = next((f for f in self.fields if f["title"] == title), None)
            if existing is None:
                existing = {"id": len(self.fields) + 1, "title": title}
                self.fields.append(existing)
                answers.append({**existing, "duplicate": False})
            else:
                answers.append({**existing, "duplicate": True})
        return answers


def tier_config() -> SyncConfig:
    return config(
        auto_create="none",
        objects={
            "Lead": {"enabled": False},
            "Contact": {"fields": [{"salesforce": "Customer_Tier__c", "heymarket": "Customer Tier"}]},
        },
    )


def test_report_mode_creates_nothing_and_names_the_missing_field() -> None:
    heymarket = FakeContactFields([])
    result = check_field_mapping(tier_config(), DESCRIBES, heymarket, apply=False)
    assert heymarket.created == []
    assert not result.ok
    assert any("Customer Tier" in f.message for f in result.findings if f.severity == "error")


def test_apply_creates_the_missing_field_and_checks_again() -> None:
    heymarket = FakeContactFields(["Other"])
    result = check_field_mapping(tier_config(), DESCRIBES, heymarket, apply=True)
    assert heymarket.created == [["Customer Tier"]]
    assert result.ok
    assert result.facts["created"] == ["Customer Tier"]
    again = check_field_mapping(tier_config(), DESCRIBES, heymarket, apply=True)
    assert heymarket.created == [["Customer Tier"]] and again.ok


def test_without_heymarket_the_step_is_the_same_as_field_step_without_fields() -> None:
    assert check_field_mapping(mapping_config(), DESCRIBES, None, apply=True) == field_step(mapping_config(), None)


def test_field_step_checks_the_opt_out_checkbox_and_says_how_to_create_a_missing_one() -> None:
    cfg = config(auto_create="none", objects={"Contact": {"opt_out_field": "Text_Opt_Out__c"},
                                              "Lead": {"opt_out_field": False}})
    result = field_step(cfg, [])
    assert result.status == "failed"
    [error] = [f for f in result.findings if f.severity == "error"]
    assert error.message == "Contact has no field 'Text_Opt_Out__c' (the SMS opt-out checkbox)"
    assert "Salesforce Setup > Object Manager > Contact > Fields & Relationships > New > Checkbox" in error.fix
    [off] = [f for f in result.findings if f.path == "objects.Lead.opt_out_field"]
    assert (off.severity, off.message.split(";")[0]) == ("info", "Lead: opt-out sync is off (opt_out_field: false)")
    assert result.facts["opt_out_fields"] == {"Contact": "Text_Opt_Out__c", "Lead": None}


def test_field_step_confirms_a_sound_opt_out_checkbox() -> None:
    result = field_step(config(auto_create="none", objects={"Lead": {"enabled": False}}), [])
    assert result.ok
    assert ("ok", "Contact.SMS_Opt_Out__c is an editable checkbox: opt-outs sync both ways (compliance rules, "
                  "README 'Opt-out status')") in [(f.severity, f.message) for f in result.findings]
