"""Describe results reduced to what the sync decides with: which fields hold phones, which must be filled
on create, which can be mapped to a Heymarket field and, when not, why.

The raw describe of a Contact is ~200 kB; the pipeline only needs a dozen properties per field, and wants
them typed so a mapping check reads as ``meta.field("Phone").type == "phone"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: Field types the Heymarket integration cannot map (the managed package's guide: REFERENCE, DATE,
#: DATETIME, TIME, ADDRESS and FORMULA fields; plus types with no text form at all).
UNMAPPABLE_TYPES = frozenset({"reference", "date", "datetime", "time", "address", "location", "base64", "id"})


@dataclass(frozen=True)
class FieldMetadata:
    """One field's describe properties that matter for reading, writing and mapping it."""

    name: str
    type: str
    label: str = ""
    nillable: bool = True
    createable: bool = False
    updateable: bool = False
    defaulted_on_create: bool = False
    calculated: bool = False
    compound_field_name: str | None = None
    length: int = 0
    reference_to: tuple[str, ...] = ()

    @classmethod
    def from_describe(cls, raw: Mapping[str, object]) -> FieldMetadata:
        """Build from one item of describe's ``fields`` list (missing flags take Salesforce's defaults)."""
        return cls(
            name=str(raw["name"]),
            type=str(raw.get("type", "")).lower(),
            label=str(raw.get("label") or raw["name"]),
            nillable=bool(raw.get("nillable", True)),
            createable=bool(raw.get("createable", False)),
            updateable=bool(raw.get("updateable", False)),
            defaulted_on_create=bool(raw.get("defaultedOnCreate", False)),
            calculated=bool(raw.get("calculated", False)),
            compound_field_name=_opt_str(raw.get("compoundFieldName")),
            length=int(str(raw.get("length") or 0)),
            reference_to=tuple(str(r) for r in _as_list(raw.get("referenceTo"))),
        )

    @property
    def required_on_create(self) -> bool:
        """Salesforce rejects a create without it: createable, not nillable, and no default on create."""
        return self.createable and not self.nillable and not self.defaulted_on_create

    @property
    def is_compound(self) -> bool:
        """An address/location (or name) field made of component fields; it can't be written directly."""
        return self.type in {"address", "location"}


@dataclass(frozen=True)
class ObjectMetadata:
    """An sObject's describe, reduced: its fields by API name (lookups are case-insensitive like SOQL)."""

    name: str
    label: str
    fields: dict[str, FieldMetadata] = field(default_factory=dict)
    createable: bool = True
    updateable: bool = True
    deletable: bool = True

    @classmethod
    def from_describe(cls, raw: Mapping[str, object]) -> ObjectMetadata:
        fields = [
            FieldMetadata.from_describe(f) for f in _as_list(raw.get("fields")) if isinstance(f, Mapping)
        ]
        return cls(
            name=str(raw["name"]),
            label=str(raw.get("label") or raw["name"]),
            fields={f.name: f for f in fields},
            createable=bool(raw.get("createable", True)),
            updateable=bool(raw.get("updateable", True)),
            deletable=bool(raw.get("deletable", True)),
        )

    def field(self, name: str) -> FieldMetadata | None:
        """The field called *name* (case-insensitive), or ``None``."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((f for n, f in self.fields.items() if n.lower() == lowered), None)

    def has_field(self, name: str) -> bool:
        return self.field(name) is not None

    def phone_fields(self) -> list[str]:
        """Fields of type ``phone``: the candidates for an object's default phone field."""
        return [f.name for f in self.fields.values() if f.type == "phone"]

    def required_on_create(self) -> list[str]:
        """Fields a create must fill (``createable and not nillable and not defaultedOnCreate``)."""
        return [f.name for f in self.fields.values() if f.required_on_create]

    def unmappable_reasons(self, name: str, *, to_salesforce: bool = True) -> list[str]:
        """Why *name* can't be mapped to a Heymarket field; an empty list means it can.

        :param to_salesforce: the mapping also writes Heymarket values back into Salesforce, so the
            field must be updateable too (read-only fields can still be pushed to Heymarket).
        """
        meta = self.field(name)
        if meta is None:
            return [f"{self.name} has no field {name!r}"]
        reasons = []
        if meta.calculated:
            reasons.append(f"{meta.name} is a formula (calculated) field")
        if meta.type in UNMAPPABLE_TYPES:
            hint = " - map its parts (e.g. Street, City, State) instead" if meta.is_compound else ""
            reasons.append(f"{meta.name} is a {meta.type.upper()} field, which Heymarket can't hold{hint}")
        if to_salesforce and not meta.calculated and not meta.updateable:
            reasons.append(f"{meta.name} is read-only (not updateable) for the integration user")
        return reasons

    def is_mappable(self, name: str, *, to_salesforce: bool = True) -> bool:
        return not self.unmappable_reasons(name, to_salesforce=to_salesforce)


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _opt_str(value: object) -> str | None:
    return None if value in (None, "") else str(value)
