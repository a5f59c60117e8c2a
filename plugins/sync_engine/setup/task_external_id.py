"""Step 6, the Task external id field: the ``heymarket_messages`` DAG upserts one Task per Heymarket message
on ``messages.external_id_field`` (default ``Heymarket_Message_Id__c``), which must exist on Task, be a text
field marked External ID and Unique, and be writable by the integration user.

Why each property matters: without External ID the upsert endpoints refuse the field (``INVALID_FIELD``);
without Unique two Tasks may hold one message id and an upsert that matches both fails
(``MULTIPLE_RECORDS``); without write access every upsert fails. Salesforce fields are created in Setup (the
REST API cannot create them), so a missing or wrong field gets step-by-step instructions, never a write.
The step reads the Task describe as a plain mapping (``Describe``), so it runs without Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from ..config.describe import Describe
from .results import Facts, Finding, StepResult

STEP = "task_external_id"
#: Field types an external id can have; the message id is a number, but text keeps leading zeros and any
#: future id format.
EXTERNAL_ID_TYPES = ("string",)


def create_field_steps(field_name: str) -> str:
    """How to create the field in Salesforce Setup (the REST API cannot)."""
    label = field_name.removesuffix("__c").replace("_", " ")
    return (f"in Salesforce Setup > Object Manager > Activity > Fields & Relationships > New: Text, length 255, "
            f"label '{label}', API name {field_name}, tick 'Unique' (case insensitive) and 'External ID'; on the "
            "field-level security page make it visible and editable for the integration user's profile or "
            "permission set; then run heymarket_setup again")


def check_task_external_id(field_name: str, task_describe: Describe | None, enabled: bool = True) -> StepResult:
    """Step 6: the Task external id field exists, is a unique external id, and the integration user can write it.

    :param task_describe: the full describe of ``Task`` (``None``: the org has no Task the user can see).
    :param enabled: whether the messages DAG is in use; when not, problems are warnings, not errors.
    """
    severity: Literal["error", "warning"] = "error" if enabled else "warning"
    facts: Facts = {"field": field_name}
    if task_describe is None:
        finding = Finding(severity, "the integration user cannot see the Task object",
                          "give the integration user's profile or permission set Read, Create and Edit on Tasks "
                          "(Setup > Permission Sets > Object Settings > Tasks)")
        return StepResult.build(STEP, "Task is not accessible.", [finding], facts)
    fields = {str(f.get("name")): f for f in _fields(task_describe)}
    field = fields.get(field_name) or next(
        (f for name, f in fields.items() if name.casefold() == field_name.casefold()), None)
    if field is None:
        finding = Finding(severity, f"Task has no field {field_name}", create_field_steps(field_name),
                          path="messages.external_id_field")
        return StepResult.build(STEP, f"{field_name} is missing on Task.", [finding], facts)
    facts.update({"type": field.get("type"), "external_id": bool(field.get("externalId")),
                  "unique": bool(field.get("unique")), "case_sensitive": bool(field.get("caseSensitive"))})
    found = _problems(field_name, field, severity)
    if not found:
        found.append(Finding("ok", f"Task.{field_name} is a unique external id text field the integration user "
                                   "can write"))
    summary = f"Task.{field_name}: " + ("ready." if all(f.severity == "ok" for f in found) else "needs a fix.")
    return StepResult.build(STEP, summary, found, facts)


def _problems(field_name: str, field: Mapping[str, object], severity: Literal["error", "warning"]) -> list[Finding]:
    edit = (f"in Salesforce Setup > Object Manager > Activity > Fields & Relationships > {field_name} > Edit, ")
    found: list[Finding] = []
    kind = str(field.get("type") or "")
    if kind not in EXTERNAL_ID_TYPES:
        found.append(Finding(_sev(severity), f"Task.{field_name} is a {kind} field, not Text",
                             f"a field's type cannot always be changed: create a new Text field instead "
                             f"({create_field_steps(field_name)}), or set messages.external_id_field to it",
                             path="messages.external_id_field"))
    if not field.get("externalId"):
        found.append(Finding(_sev(severity), f"Task.{field_name} is not marked External ID (upserts on it are "
                             "refused)", edit + "tick 'External ID'"))
    if not field.get("unique"):
        found.append(Finding(_sev(severity), f"Task.{field_name} is not Unique (a message could get two Tasks)",
                             edit + "tick 'Unique' (case insensitive); remove duplicate values first"))
    if field.get("caseSensitive"):
        found.append(Finding("info", f"Task.{field_name} is case sensitive; message ids are digits, so it does "
                             "not matter"))
    if not (field.get("createable") and field.get("updateable")):
        found.append(Finding(_sev(severity), f"the integration user cannot write Task.{field_name}",
                             "give its profile or permission set edit access to the field (Setup > Object "
                             f"Manager > Activity > Fields & Relationships > {field_name} > Set Field-Level "
                             "Security)"))
    return found


def _sev(severity: str) -> Literal["error", "warning"]:
    return "error" if severity == "error" else "warning"


def _fields(describe: Describe) -> list[Mapping[str, object]]:
    raw = describe.get("fields")
    return [f for f in raw if isinstance(f, Mapping)] if isinstance(raw, list) else []
