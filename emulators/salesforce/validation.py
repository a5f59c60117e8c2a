"""Validating the field values of a create or update the way a real org does, in the same order.

Order matters because clients see only the first failing check: unknown field, then ``Id`` in the
body, then field-level access (non-createable/non-updateable), then the values themselves, then
required fields. Cross-record checks (references, uniqueness, duplicate rules) are the store's job.
"""

from __future__ import annotations

from typing import Any

from emulators.salesforce.describe import ObjectDef
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.fields import FieldDef
from emulators.salesforce.values import coerce

ACCESS_MESSAGE = (
    "Unable to create/update fields: {names}. Please check the security settings of this field "
    "and verify that it is read/write for your profile or permission set."
)


def required_missing(names: list[str]) -> SalesforceError:
    return SalesforceError(
        400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(names)}]", names
    )


def _check_restricted_picklist(fdef: FieldDef, value: Any) -> None:
    """A restricted picklist takes only its active values (exact case); unrestricted ones take anything."""
    if not fdef.restrictedPicklist or value is None or fdef.type not in ("picklist", "multipicklist"):
        return
    allowed = {v["value"] for v in fdef.picklistValues if v.get("active", True)}
    chosen = value.split(";") if fdef.type == "multipicklist" else [value]
    if any(v not in allowed for v in chosen):
        raise SalesforceError(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{fdef.label}: bad value for restricted picklist field: {value}",
            [fdef.name],
        )


def prepare_write(
    obj: ObjectDef, data: dict[str, Any], *, creating: bool, from_csv: bool = False
) -> dict[str, Any]:
    """Validate a client's field values and convert them to stored values.

    :param obj: the object written.
    :param data: API field names (any case) to JSON values; ``attributes`` is ignored.
    :param creating: True for inserts (createable and required checks), False for updates.
    :param from_csv: values are Bulk CSV text.
    :returns: canonical field name -> stored value (only the fields the client sent).
    :raises SalesforceError: the first failing check, with the real error code and message.
    """
    resolved = []
    for key, value in data.items():
        if key == "attributes":
            continue
        fdef = obj.get_field(key)
        if fdef is None:
            raise SalesforceError(
                400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}"
            )
        resolved.append((fdef, value))

    if any(fdef.name == "Id" for fdef, _ in resolved):
        raise SalesforceError(
            400, "INVALID_FIELD", "The Id field should not be specified in the sobject data."
        )

    blocked = [fdef.name for fdef, _ in resolved if not (fdef.createable if creating else fdef.updateable)]
    if blocked:
        raise SalesforceError(
            400, "INVALID_FIELD_FOR_INSERT_UPDATE", ACCESS_MESSAGE.format(names=", ".join(blocked)), blocked
        )

    values = {fdef.name: coerce(fdef, value, from_csv=from_csv) for fdef, value in resolved}
    for fdef, _ in resolved:
        _check_restricted_picklist(fdef, values[fdef.name])

    if creating:
        missing = [f.name for f in obj.field_list if f.required_on_create and values.get(f.name) is None]
    else:
        missing = [
            name for name, value in values.items() if value is None and not obj.fields[name.lower()].nillable
        ]
    if missing:
        raise required_missing(missing)
    return values
