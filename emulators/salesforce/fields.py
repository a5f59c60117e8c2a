"""Field metadata: one :class:`FieldDef` per field, rendered as a describe ``fields[]`` item.

Clients decide from describe which fields are required on create (``createable and not nillable and
not defaultedOnCreate``), which they may update, and which are phones; the emulator uses the very same
metadata to validate writes, so describe and behaviour cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

#: describe ``type`` -> internal value kind used for coercion, comparison and formatting
KIND_BY_TYPE: dict[str, str] = {
    "id": "id",
    "reference": "id",
    "string": "string",
    "textarea": "string",
    "phone": "string",
    "email": "string",
    "url": "string",
    "picklist": "string",
    "multipicklist": "string",
    "combobox": "string",
    "encryptedstring": "string",
    "boolean": "boolean",
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "date",
    "datetime": "datetime",
    "address": "address",
}

SOAP_TYPE_BY_KIND = {
    "id": "tns:ID",
    "string": "xsd:string",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "address": "urn:address",
}

#: a calculated field's value, computed from the stored record
Compute = Callable[[dict[str, Any]], Any]


@dataclass
class FieldDef:
    """One field of an sObject, with the describe properties clients read."""

    name: str
    label: str
    type: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaultedOnCreate: bool = False  # noqa: N815 - the describe property name
    calculated: bool = False
    calculatedFormula: str | None = None  # noqa: N815
    compoundFieldName: str | None = None  # noqa: N815
    referenceTo: list[str] = field(default_factory=list)  # noqa: N815
    relationshipName: str | None = None  # noqa: N815
    picklistValues: list[dict[str, Any]] = field(default_factory=list)  # noqa: N815
    restrictedPicklist: bool = False  # noqa: N815
    custom: bool = False
    externalId: bool = False  # noqa: N815
    unique: bool = False
    #: unique/external id values differ by case ("ABC" and "abc" are two values); Salesforce's default is False
    caseSensitive: bool = False  # noqa: N815
    #: a reference to several objects (``WhoId``: Contact or Lead), whose relationship is the ``Name`` entity
    polymorphicForeignKey: bool = False  # noqa: N815
    #: the relationship points at the ``Name`` entity (polymorphic ``Who``/``What``)
    namePointing: bool = False  # noqa: N815
    idLookup: bool = False  # noqa: N815
    nameField: bool = False  # noqa: N815
    filterable: bool = True
    sortable: bool = True
    groupable: bool = True
    precision: int = 0
    scale: int = 0
    digits: int = 0
    defaultValue: Any = None  # noqa: N815
    inlineHelpText: str | None = None  # noqa: N815
    #: computes the value of a calculated/compound field from the record (not part of describe)
    compute: Compute | None = field(default=None, repr=False, compare=False)
    #: added or changed through the admin ``FieldDefinition`` load (not part of describe)
    admin_defined: bool = field(default=False, compare=False)

    @property
    def kind(self) -> str:
        return KIND_BY_TYPE[self.type]

    def match_key(self, value: Any) -> Any:
        """*value* as unique checks and external id matching compare it (text ignores case unless
        the field is ``caseSensitive``)."""
        if isinstance(value, str) and not self.caseSensitive:
            return value.lower()
        return value

    @property
    def required_on_create(self) -> bool:
        """Salesforce's own recipe: createable, not nillable, not defaulted on create."""
        return self.createable and not self.nillable and not self.defaultedOnCreate

    def describe(self) -> dict[str, Any]:
        """The describe ``fields[]`` item (the keys jsforce's ``Field`` type lists)."""
        kind = self.kind
        length = self.length if kind in ("string", "id") else 0
        return {
            "aggregatable": kind not in ("address", "boolean"),
            "aiPredictionField": False,
            "autoNumber": False,
            "byteLength": length * 3 if kind == "string" else length,
            "calculated": self.calculated,
            "calculatedFormula": self.calculatedFormula,
            "cascadeDelete": False,
            "caseSensitive": self.caseSensitive,
            "compoundFieldName": self.compoundFieldName,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.defaultValue,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.defaultedOnCreate,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": self.digits,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "externalId": self.externalId,
            "extraTypeInfo": _extra_type_info(self),
            "filterable": self.filterable and kind != "address",
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False,
            "groupable": self.groupable and kind not in ("address", "double", "datetime"),
            "highScaleNumber": False,
            "htmlFormatted": False,
            "idLookup": self.idLookup or self.type == "id" or self.externalId,
            "inlineHelpText": self.inlineHelpText,
            "label": self.label,
            "length": length,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.nameField,
            "namePointing": self.namePointing,
            "nillable": self.nillable,
            "permissionable": self.nillable and not self.calculated and self.createable,
            "picklistValues": [dict(v) for v in self.picklistValues],
            "polymorphicForeignKey": self.polymorphicForeignKey,
            "precision": self.precision,
            "queryByDistance": False,
            "referenceTargetField": None,
            "referenceTo": list(self.referenceTo),
            "relationshipName": self.relationshipName,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": self.restrictedPicklist,
            "scale": self.scale,
            "searchPrefilterable": False,
            "soapType": SOAP_TYPE_BY_KIND[kind],
            "sortable": self.sortable and kind != "address",
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


def _extra_type_info(fdef: FieldDef) -> str | None:
    if fdef.type == "textarea":
        return "plaintextarea"
    if fdef.name in ("Name", "FirstName", "LastName", "Salutation") and fdef.compoundFieldName == "Name":
        return "personname"
    if fdef.name == "Name" and fdef.type == "string" and fdef.calculated:
        return "personname"
    return None


#: every describe key a ``FieldDefinition`` admin load may set (plus ``sobject``)
SETTABLE_PROPERTIES = {
    "name",
    "label",
    "type",
    "length",
    "nillable",
    "createable",
    "updateable",
    "defaultedOnCreate",
    "calculated",
    "calculatedFormula",
    "compoundFieldName",
    "referenceTo",
    "relationshipName",
    "picklistValues",
    "restrictedPicklist",
    "custom",
    "externalId",
    "unique",
    "caseSensitive",
    "polymorphicForeignKey",
    "namePointing",
    "idLookup",
    "nameField",
    "filterable",
    "sortable",
    "groupable",
    "precision",
    "scale",
    "digits",
    "defaultValue",
    "inlineHelpText",
}


def field_from_definition(spec: dict[str, Any], existing: FieldDef | None) -> FieldDef:
    """Build the field an admin ``FieldDefinition`` entry describes, on top of an existing one.

    :param spec: describe properties (``name`` and, for a new field, ``type`` required).
    :param existing: the field being overridden, or None for a new field.
    :raises ValueError: for unknown properties or types.
    """
    unknown = set(spec) - SETTABLE_PROPERTIES
    if unknown:
        raise ValueError(
            f"FieldDefinition: unknown properties {sorted(unknown)}; allowed: "
            f"{sorted(SETTABLE_PROPERTIES)} plus 'sobject'"
        )
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("FieldDefinition: 'name' is required")
    ftype = spec.get("type", existing.type if existing else None)
    if ftype not in KIND_BY_TYPE:
        raise ValueError(f"FieldDefinition {name}: type must be one of {sorted(KIND_BY_TYPE)}, not {ftype!r}")
    picklist = spec.get("picklistValues")
    if picklist is not None:
        spec = dict(spec, picklistValues=[pick(v) if isinstance(v, str) else dict(v) for v in picklist])
    if existing is not None:
        fdef = replace(existing, **spec)
    else:
        defaults: dict[str, Any] = {
            "label": name.removesuffix("__c").replace("_", " "),
            "custom": name.endswith("__c"),
            "length": 255 if KIND_BY_TYPE[ftype] == "string" else (18 if KIND_BY_TYPE[ftype] == "id" else 0),
        }
        if ftype == "boolean":
            defaults.update(nillable=False, defaultedOnCreate=True, defaultValue=False)
        fdef = FieldDef(**(defaults | spec))
    fdef.admin_defined = True
    return fdef


def pick(value: str, default: bool = False) -> dict[str, Any]:
    """One ``picklistValues`` entry."""
    return {"active": True, "defaultValue": default, "label": value, "validFor": None, "value": value}


# --- builders: keep the object schemas in describe.py short and readable -----------------------


def id_field() -> FieldDef:
    return FieldDef(
        "Id",
        "Record ID",
        "id",
        length=18,
        nillable=False,
        createable=False,
        updateable=False,
        defaultedOnCreate=True,
        idLookup=True,
    )


def text(name: str, label: str, length: int = 255, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "string", length=length, **kw)


def phone(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "phone", length=40, **kw)


def email(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "email", length=80, idLookup=True, **kw)


def textarea(name: str, label: str, length: int = 255, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "textarea", length=length, sortable=False, groupable=False, **kw)


def picklist(name: str, label: str, values: list[str], default: str | None = None, **kw: Any) -> FieldDef:
    entries = [pick(v, v == default) for v in values]
    return FieldDef(name, label, "picklist", length=255, picklistValues=entries, defaultValue=default, **kw)


def combobox(name: str, label: str, values: list[str], length: int = 255, **kw: Any) -> FieldDef:
    """A picklist that also takes free text (``Task.Subject``)."""
    return FieldDef(name, label, "combobox", length=length, picklistValues=[pick(v) for v in values], **kw)


def boolean(name: str, label: str, default: bool = False, **kw: Any) -> FieldDef:
    kw.setdefault("nillable", False)
    kw.setdefault("defaultedOnCreate", True)
    return FieldDef(name, label, "boolean", defaultValue=default, **kw)


def reference(name: str, label: str, to: list[str], relationship: str | None, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "reference", length=18, referenceTo=to, relationshipName=relationship, **kw)


def number(name: str, label: str, precision: int = 18, scale: int = 0, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "double", precision=precision, scale=scale, **kw)


def date(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "date", **kw)


def datetime_field(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, label, "datetime", **kw)


def system_fields() -> list[FieldDef]:
    """The audit fields every object has; set by the platform, never by clients."""
    ro = {"nillable": False, "createable": False, "updateable": False, "defaultedOnCreate": True}
    return [
        datetime_field("CreatedDate", "Created Date", **ro),
        reference("CreatedById", "Created By ID", ["User"], "CreatedBy", **ro),
        datetime_field("LastModifiedDate", "Last Modified Date", **ro),
        reference("LastModifiedById", "Last Modified By ID", ["User"], "LastModifiedBy", **ro),
        datetime_field("SystemModstamp", "System Modstamp", **ro),
    ]


def is_deleted_field() -> FieldDef:
    return boolean("IsDeleted", "Deleted", createable=False, updateable=False)


def address_fields(prefix: str, label_prefix: str, compound: str) -> list[FieldDef]:
    """The component fields of a compound address plus the read-only compound field itself."""
    parts = [
        textarea(f"{prefix}Street", f"{label_prefix} Street", 255, compoundFieldName=compound),
        text(f"{prefix}City", f"{label_prefix} City", 40, compoundFieldName=compound),
        text(f"{prefix}State", f"{label_prefix} State/Province", 80, compoundFieldName=compound),
        text(f"{prefix}PostalCode", f"{label_prefix} Zip/Postal Code", 20, compoundFieldName=compound),
        text(f"{prefix}Country", f"{label_prefix} Country", 80, compoundFieldName=compound),
    ]
    keys = ("street", "city", "state", "postalCode", "country")
    names = [p.name for p in parts]

    def compute(rec: dict[str, Any]) -> dict[str, Any] | None:
        values = [rec.get(n) for n in names]
        if all(v is None for v in values):
            return None
        out: dict[str, Any] = dict(zip(keys, values, strict=True))
        out.update(countryCode=None, geocodeAccuracy=None, latitude=None, longitude=None, stateCode=None)
        return out

    label = "Address" if not label_prefix else f"{label_prefix} Address"
    compound_field = FieldDef(compound, label, "address", createable=False, updateable=False, compute=compute)
    return [*parts, compound_field]
