"""Run-time checks of the sync config against live metadata (Salesforce describe, Heymarket fields).

The file can be well formed and still not fit the org: a field renamed in Setup, a phone field that is
a text field, a formula field mapped for writing, a Heymarket custom field never created, a new
required Lead field without a default. These are the managed package's mapping-screen rules, applied
before the first write of a run instead of in a UI.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from .problems import ConfigProblem

if TYPE_CHECKING:
    from ..vocabulary import ObjectName
    from .model import SyncConfig

#: One field of a describe response (``fields[]`` item), as returned by ``describe_object``.
DescribeField = Mapping[str, object]
#: A describe response (``{"name", "fields": [...], ...}``).
Describe = Mapping[str, object]

#: Field types Heymarket's untyped text custom fields can't round-trip (the managed package forbids them
#: too), with why and what to map instead.
FORBIDDEN_TYPES: dict[str, tuple[str, str]] = {
    "reference": ("a lookup (reference) field", "map a text field instead; lookups hold record ids"),
    "date": ("a date field", "date fields can't be mapped; use a text field"),
    "datetime": ("a date/time field", "date/time fields can't be mapped; use a text field"),
    "time": ("a time field", "time fields can't be mapped; use a text field"),
    "location": ("a compound geolocation field", "geolocation fields can't be mapped"),
    "base64": ("a binary (base64) field", "binary fields can't be mapped"),
}


def validate_against_describe(
    config: SyncConfig,
    describes: Mapping[str, Describe],
    heymarket_fields: Sequence[Mapping[str, object]],
) -> list[ConfigProblem]:
    """Check the config against the org and the Heymarket team it will run on.

    :param config: the loaded config
    :param describes: object name -> Salesforce describe of that object, for every enabled object
    :param heymarket_fields: Heymarket custom fields, ``[{"id": ..., "title": ...}]``
    :return: problems, errors first; no ``error`` means the run may write
    """
    problems: list[ConfigProblem] = []
    for obj in config.enabled_objects():
        describe = describes.get(obj)
        if describe is None:
            problems.append(ConfigProblem(
                f"objects.{obj}", f"no Salesforce describe of {obj} was available",
                f"check that the integration user can read {obj} (profile or permission set)",
            ))
            continue
        fields = _fields_by_name(describe)
        problems += _phone_field_problems(config, obj, fields)
        problems += _mapping_problems(config, obj, fields)
        problems += _required_default_problems(config, obj, fields)
        problems += opt_out_field_problems(config, obj, fields)
        if config.auto_create == obj:
            problems += _create_problems(config, obj, fields)
    problems += _heymarket_field_problems(config, heymarket_fields)
    return sorted(problems, key=lambda p: p.severity != "error")


def required_on_create(describe: Describe) -> list[str]:
    """Fields a create must fill: ``createable and not nillable and not defaultedOnCreate``."""
    return [
        str(f["name"]) for f in _fields_by_name(describe).values()
        if f.get("createable") and not f.get("nillable") and not f.get("defaultedOnCreate")
    ]


def required_create_columns(config: SyncConfig, obj: ObjectName, describe: Describe) -> tuple[str, ...]:
    """Plan columns that must be non-null on ``create_salesforce`` rows of ``obj``.

    A required field with a configured default is filled at write time, so its column may be null;
    a required field that is only mapped (LastName, or a mapped custom field) must arrive with a value.

    :param config: the loaded config
    :param obj: the object being created
    :param describe: its Salesforce describe
    """
    cfg = config.object_config(obj)
    defaults = {name.casefold() for name in cfg.required_defaults}
    by_field = {name.casefold(): key for key, name in _written_fields(config, obj).items()}
    columns = ["phone"]
    for name in required_on_create(describe):
        key = by_field.get(name.casefold())
        if key and name.casefold() not in defaults and key not in columns:
            columns.append(key)
    return tuple(columns)


def _fields_by_name(describe: Describe) -> dict[str, DescribeField]:
    raw = describe.get("fields")
    items = raw if isinstance(raw, list) else []
    return {str(f["name"]): f for f in items if isinstance(f, Mapping) and "name" in f}


def _unknown_field(obj: str, name: str, path: str, fields: Mapping[str, DescribeField]) -> ConfigProblem:
    fix = f"check the API name in Setup > Object Manager > {obj} > Fields & Relationships"
    by_fold = {n.casefold(): n for n in fields}
    close = [by_fold[name.casefold()]] if name.casefold() in by_fold else difflib.get_close_matches(
        name, list(fields), n=1, cutoff=0.7)
    if close:
        fix += f" (did you mean '{close[0]}'?)"
    return ConfigProblem(path, f"{obj} has no field '{name}'", fix)


def _phone_field_problems(config: SyncConfig, obj: ObjectName, fields: Mapping[str, DescribeField]
                          ) -> Iterator[ConfigProblem]:
    name = config.object_config(obj).phone_field
    path = f"objects.{obj}.phone_field"
    field = fields.get(name)
    if field is None:
        yield _unknown_field(obj, name, path, fields)
        return
    kind = str(field.get("type", "")).lower()
    if kind != "phone":
        phones = sorted(n for n, f in fields.items() if str(f.get("type", "")).lower() == "phone")
        yield ConfigProblem(path, f"{obj}.{name} is of type {kind or 'unknown'}, not a phone field",
                            "choose one of the phone fields: " + (", ".join(phones) or "(none found)"))


def _written_fields(config: SyncConfig, obj: ObjectName) -> dict[str, str]:
    """Canonical key -> Salesforce field for every mapping that writes into Salesforce (fixed ones too)."""
    directions = config.field_directions(obj)
    return {key: name for key, name in config.salesforce_fields(obj).items()
            if key == "phone" or directions.get(key) != "to_heymarket"}


def _mapping_problems(config: SyncConfig, obj: ObjectName, fields: Mapping[str, DescribeField]
                      ) -> Iterator[ConfigProblem]:
    mapped = config.salesforce_fields(obj)
    for name in (mapped["first"], mapped["last"], mapped["email"]):
        if fields.get(name) is None:
            yield _unknown_field(obj, name, f"objects.{obj}", fields)
    for index, mapping in enumerate(config.object_config(obj).fields):
        path = f"objects.{obj}.fields[{index}].salesforce"
        field = fields.get(mapping.salesforce)
        if field is None:
            yield _unknown_field(obj, mapping.salesforce, path, fields)
            continue
        yield from _type_problems(obj, mapping.salesforce, field, fields, path)
        if mapping.direction != "to_heymarket" and not field.get("updateable"):
            yield ConfigProblem(
                path.removesuffix(".salesforce") + ".direction",
                f"{obj}.{mapping.salesforce} is read-only for the integration user, but direction"
                f" {mapping.direction} writes it",
                "set direction: to_heymarket, or give the integration user edit access to the field"
                " (field-level security)",
            )


def _type_problems(obj: str, name: str, field: DescribeField, fields: Mapping[str, DescribeField],
                   path: str) -> Iterator[ConfigProblem]:
    kind = str(field.get("type", "")).lower()
    if field.get("calculated"):
        yield ConfigProblem(path, f"{obj}.{name} is a formula field and can't be mapped",
                            "map the fields the formula is computed from instead")
    elif kind == "address":
        parts = [n for n, f in fields.items() if f.get("compoundFieldName") == name]
        example = ", ".join(parts[:3]) or "MailingStreet, MailingCity"
        yield ConfigProblem(path, f"{obj}.{name} is a compound address field and can't be mapped",
                            f"map the address parts such as {example} instead")
    elif kind in FORBIDDEN_TYPES:
        what, fix = FORBIDDEN_TYPES[kind]
        yield ConfigProblem(path, f"{obj}.{name} is {what} and can't be mapped", fix)


def create_checkbox_fix(obj: str, name: str) -> str:
    """How to create the opt-out checkbox: Salesforce fields are created in Setup, the REST API cannot."""
    label = name.removesuffix("__c").replace("_", " ")
    return (
        f"create it in Salesforce Setup > Object Manager > {obj} > Fields & Relationships > New > Checkbox"
        f" (Field Label '{label}', Field Name '{name.removesuffix('__c')}', default Unchecked), make it visible"
        f" and editable for the integration user's profile or permission set, or set objects.{obj}.opt_out_field:"
        " false to turn opt-out sync off for this object"
    )


def opt_out_field_problems(config: SyncConfig, obj: ObjectName, fields: Mapping[str, DescribeField]
                           ) -> Iterator[ConfigProblem]:
    """The opt-out field must be an updateable checkbox: the sync reads it as the person's SMS consent and
    ticks or clears it (a text or formula field would make the compliance rules guess)."""
    name = config.object_config(obj).opt_out_field
    if name is None:
        return
    path = f"objects.{obj}.opt_out_field"
    field = fields.get(name)
    if field is None:
        by_fold = {n.casefold(): n for n in fields}
        if name.casefold() in by_fold:
            yield ConfigProblem(path, f"{obj} has no field '{name}'",
                                f"write opt_out_field: {by_fold[name.casefold()]} (API names match exactly)")
        else:
            yield ConfigProblem(path, f"{obj} has no field '{name}' (the SMS opt-out checkbox)",
                                create_checkbox_fix(obj, name))
        return
    kind = str(field.get("type", "")).lower()
    if kind != "boolean":
        boxes = sorted(n for n, f in fields.items() if str(f.get("type", "")).lower() == "boolean"
                       and f.get("custom") and not f.get("calculated"))
        yield ConfigProblem(
            path, f"{obj}.{name} is of type {kind or 'unknown'}, not a checkbox (boolean)",
            "name a Checkbox field" + (f", e.g. {', '.join(boxes[:3])}" if boxes else "") + "; "
            + create_checkbox_fix(obj, name),
        )
    elif field.get("calculated") or not field.get("updateable"):
        yield ConfigProblem(
            path, f"{obj}.{name} can't be written by the integration user (formula or read-only), but the sync"
            " ticks and clears it",
            "give the integration user edit access to the field (field-level security), or name an editable"
            " Checkbox field",
        )


def _required_default_problems(config: SyncConfig, obj: ObjectName, fields: Mapping[str, DescribeField]
                               ) -> Iterator[ConfigProblem]:
    for name, value in config.object_config(obj).required_defaults.items():
        path = f"objects.{obj}.required_defaults.{name}"
        field = fields.get(name)
        if field is None:
            yield _unknown_field(obj, name, path, fields)
        elif not field.get("createable"):
            yield ConfigProblem(path, f"{obj}.{name} can't be set on create, so a default is never used",
                                "remove this default")
        elif str(field.get("type", "")).lower() in ("picklist", "multipicklist"):
            values = field.get("picklistValues")
            active = [str(v.get("value")) for v in (values if isinstance(values, list) else [])
                      if isinstance(v, Mapping) and v.get("active", True)]
            if active and str(value) not in active:
                yield ConfigProblem(
                    path, f"{value!r} is not an active value of the picklist {obj}.{name}",
                    "use one of: " + ", ".join(active[:10]) + (" …" if len(active) > 10 else ""),
                    severity="error" if field.get("restrictedPicklist") else "warning",
                )


def _create_problems(config: SyncConfig, obj: ObjectName, fields: Mapping[str, DescribeField]
                     ) -> Iterator[ConfigProblem]:
    """What auto-create needs: a createable phone field and a value for every required field."""
    cfg = config.object_config(obj)
    phone = fields.get(cfg.phone_field)
    if phone is not None and not phone.get("createable"):
        yield ConfigProblem(f"objects.{obj}.phone_field",
                            f"{obj}.{cfg.phone_field} can't be set on create, so auto-created records get no phone",
                            "choose a createable phone field, or set auto_create: none")
    defaults = {name.casefold() for name in cfg.required_defaults}
    written = {name.casefold(): key for key, name in _written_fields(config, obj).items()}
    for name in required_on_create({"fields": list(fields.values())}):
        folded = name.casefold()
        if folded == "lastname" or folded in defaults:
            continue
        path = f"objects.{obj}.required_defaults.{name}"
        if folded in written:
            yield ConfigProblem(
                path,
                f"{obj}.{name} is required to create a {obj}; it is mapped from Heymarket '{written[folded]}',"
                " but a Heymarket contact without that value can't be created",
                f"add objects.{obj}.required_defaults.{name} as a fallback",
                severity="warning",
            )
        else:
            yield ConfigProblem(path, f"{obj}.{name} is required to create a {obj}",
                                f"add objects.{obj}.required_defaults.{name}")


def _heymarket_field_problems(config: SyncConfig, heymarket_fields: Sequence[Mapping[str, object]]
                              ) -> Iterator[ConfigProblem]:
    titles = {str(f.get("title")) for f in heymarket_fields if f.get("title") is not None}
    by_fold = {t.casefold(): t for t in titles}
    for obj in config.enabled_objects():
        for index, mapping in enumerate(config.object_config(obj).fields):
            if mapping.heymarket in titles:
                continue
            path = f"objects.{obj}.fields[{index}].heymarket"
            other = by_fold.get(mapping.heymarket.casefold())
            if other is not None:
                yield ConfigProblem(path, f"Heymarket's field is titled '{other}', not '{mapping.heymarket}'",
                                    f"write heymarket: {other} (titles must match exactly)")
            else:
                yield ConfigProblem(
                    path, f"Heymarket has no custom field titled '{mapping.heymarket}'",
                    "run heymarket_setup with apply=true to create it, or create it in Heymarket > Admin > Fields",
                )
