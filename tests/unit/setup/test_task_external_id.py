"""Setup step 6: the Task external id field of the messages DAG, against describe mappings as Salesforce
returns them (the emulator's Task describe has the same shape)."""

from __future__ import annotations

import pytest

from sync_engine.setup.task_external_id import check_task_external_id

EXT = "Heymarket_Message_Id__c"
GOOD = {"name": EXT, "type": "string", "externalId": True, "unique": True, "caseSensitive": False,
        "createable": True, "updateable": True}


def describe(**changes: object) -> dict[str, object]:
    return {"name": "Task", "fields": [{"name": "Id", "type": "id"}, {**GOOD, **changes}]}


def test_a_unique_external_id_text_field_is_ready() -> None:
    result = check_task_external_id(EXT, describe())
    assert result.ok and result.summary == f"Task.{EXT}: ready."
    assert result.facts == {"field": EXT, "type": "string", "external_id": True, "unique": True,
                            "case_sensitive": False}


def test_a_missing_field_says_how_to_create_it_in_setup() -> None:
    result = check_task_external_id(EXT, {"name": "Task", "fields": [{"name": "Id", "type": "id"}]})
    assert result.status == "failed"
    [finding] = result.findings
    assert finding.message == f"Task has no field {EXT}"
    assert "Object Manager > Activity > Fields & Relationships > New: Text, length 255" in finding.fix
    assert "'Unique'" in finding.fix and "'External ID'" in finding.fix and "editable" in finding.fix
    assert finding.path == "messages.external_id_field"


@pytest.mark.parametrize(("changes", "expected"), [
    ({"externalId": False}, "is not marked External ID"),
    ({"unique": False}, "is not Unique"),
    ({"type": "double"}, "is a double field, not Text"),
    ({"updateable": False}, "cannot write"),
])
def test_each_wrong_property_is_an_error_with_its_fix(changes: dict[str, object], expected: str) -> None:
    result = check_task_external_id(EXT, describe(**changes))
    assert result.status == "failed"
    errors = [f for f in result.findings if f.severity == "error"]
    assert len(errors) == 1 and expected in errors[0].message and errors[0].fix


def test_case_sensitivity_is_only_information_and_a_differently_cased_name_is_found() -> None:
    result = check_task_external_id(EXT.lower(), describe(caseSensitive=True))
    assert result.ok
    assert [f.severity for f in result.findings] == ["info"]


def test_no_task_access_and_messages_not_in_use() -> None:
    assert check_task_external_id(EXT, None).status == "failed"
    relaxed = check_task_external_id(EXT, {"fields": []}, enabled=False)
    assert relaxed.ok and [f.severity for f in relaxed.findings] == ["warning"]
