"""Step 5, field mapping: the mappings against describe and Heymarket's fields, the custom fields to
create, and the fields Salesforce requires on create.

Heymarket is reached through :class:`ContactFields` (the ``HeymarketHook`` in the DAG, a fake in the tests),
so the step runs without Airflow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..config.describe import validate_against_describe
from .config_file import problem_findings, split_problems
from .results import Facts, Finding, StepResult

if TYPE_CHECKING:
    from ..config import ConfigProblem, Describe, SyncConfig
    from ..vocabulary import ObjectName

log = logging.getLogger(__name__)


class ContactFields(Protocol):
    """Heymarket's custom contact fields, as the step reads and creates them."""

    def list_contact_fields(self) -> Sequence[Mapping[str, object]]:
        """``[{id, title}]``."""
        ...

    def create_contact_fields(self, titles: Iterable[str]) -> Sequence[Mapping[str, object]]:
        """Create fields by title: ``[{id, title, duplicate}]`` (``duplicate``: it existed)."""
        ...


@dataclass(frozen=True)
class RequiredField:
    """A field Salesforce needs on create, and how an auto-created record would get a value."""

    object: str
    field: str
    default: str | int | float | bool | None
    mapped_from: str | None


def required_fields(config: SyncConfig, obj: ObjectName, describe: Describe) -> list[RequiredField]:
    """Fields required to create *obj* (from describe), except LastName, which the sync always fills."""
    from ..config import required_on_create

    cfg = config.object_config(obj)
    defaults = {name.casefold(): value for name, value in cfg.required_defaults.items()}
    mapped = {name.casefold(): key for key, name in config.salesforce_fields(obj).items()}
    return [
        RequiredField(obj, name, defaults.get(name.casefold()), mapped.get(name.casefold()))
        for name in required_on_create(describe)
        if name.casefold() != "lastname"
    ]


def missing_heymarket_titles(
    config: SyncConfig, heymarket_fields: Sequence[Mapping[str, object]]
) -> list[str]:
    """Mapped Heymarket field titles with no field at all; a title that differs only in letter case is not
    missing (creating it would make a near-duplicate field: the describe check tells the admin to fix it)."""
    titles = {str(f.get("title")).casefold() for f in heymarket_fields if f.get("title") is not None}
    return [title for title in config.heymarket_field_titles() if title.casefold() not in titles]


def creatable_titles(
    config: SyncConfig, heymarket_fields: Sequence[Mapping[str, object]], problems: Sequence[ConfigProblem]
) -> list[str]:
    """Missing Heymarket titles worth creating: those with at least one mapping whose Salesforce side is
    sound (a field for a mapping that can't work yet would only clutter Heymarket's field list)."""
    broken = {
        p.path.rsplit(".", 1)[0]
        for p in problems
        if p.severity == "error" and ".fields[" in p.path and not p.path.endswith(".heymarket")
    }
    usable = {
        mapping.heymarket
        for obj in config.enabled_objects()
        for index, mapping in enumerate(config.object_config(obj).fields)
        if f"objects.{obj}.fields[{index}]" not in broken
    }
    return [title for title in missing_heymarket_titles(config, heymarket_fields) if title in usable]


def field_mapping_step(
    config: SyncConfig,
    problems: Sequence[ConfigProblem],
    required: Sequence[RequiredField],
    *,
    heymarket_fields: Sequence[Mapping[str, object]] | None,
    created: Sequence[Mapping[str, object]] = (),
    apply: bool = False,
) -> StepResult:
    """Step 5: every mapping against describe and the Heymarket field list; required-field defaults.

    :param problems: describe problems except those about phone fields (step 4 shows those).
    :param heymarket_fields: the Heymarket custom fields after any creation; ``None`` when Heymarket could
        not be read (its side is then reported as not checked).
    :param created: fields this run created (apply mode).
    """
    found = problem_findings(problems)
    for obj in config.enabled_objects():
        count = len(config.object_config(obj).fields)
        found.append(
            Finding(
                "info",
                f"{obj}: FirstName, LastName, Email and {config.object_config(obj).phone_field} "
                f"are fixed mappings; {count} extra mapping(s) checked",
            )
        )
    found += _opt_out_findings(config, problems)
    facts: Facts = {"mapped_titles": list(config.heymarket_field_titles()),
                    "opt_out_fields": {obj: config.object_config(obj).opt_out_field
                                       for obj in config.enabled_objects()}}
    if heymarket_fields is None:
        found.append(
            Finding(
                "error",
                "Heymarket custom fields not checked: the Heymarket connection failed",
                "fix the Heymarket connection (step 1) and re-run",
            )
        )
    else:
        titles = {str(f.get("title")) for f in heymarket_fields}
        present = [t for t in config.heymarket_field_titles() if t in titles]
        facts["heymarket_fields"] = len(heymarket_fields)
        found.append(
            Finding(
                "info",
                f"Heymarket has {len(present)} of the {len(config.heymarket_field_titles())} "
                "mapped custom fields",
            )
        )
    for item in created:
        found.append(
            Finding("ok", f"created Heymarket custom field '{item.get('title')}' (id {item.get('id')})")
        )
    facts["created"] = [str(item.get("title")) for item in created]
    if not apply and heymarket_fields is not None:
        missing = creatable_titles(config, heymarket_fields, problems)
        if missing:
            facts["would_create"] = missing
            found.append(
                Finding(
                    "info",
                    "with apply=true these Heymarket custom fields would be created: "
                    + ", ".join(f"'{title}'" for title in missing),
                )
            )
    found += _required_findings(config, required)
    facts["required_fields"] = [
        {"object": r.object, "field": r.field, "default_configured": r.default is not None} for r in required
    ]
    errors = sum(f.severity == "error" for f in found)
    summary = (
        "Every mapping fits Salesforce and Heymarket."
        if not errors
        else f"{errors} mapping problem(s) to fix before syncing."
    )
    return StepResult.build("field_mapping", summary, found, facts)


def _opt_out_findings(config: SyncConfig, problems: Sequence[ConfigProblem]) -> list[Finding]:
    """One line per object on its opt-out checkbox: what the describe check found is among ``problems``
    (an error with the Setup steps to create a missing field); here only the sound and the switched-off ones."""
    broken = {p.path for p in problems if p.severity == "error"}
    found = []
    for obj in config.enabled_objects():
        name = config.object_config(obj).opt_out_field
        path = f"objects.{obj}.opt_out_field"
        if name is None:
            found.append(Finding("info", f"{obj}: opt-out sync is off (opt_out_field: false); Heymarket opt-outs"
                                 " do not reach Salesforce and ticked boxes do not reach Heymarket", path=path))
        elif path not in broken:
            found.append(Finding("ok", f"{obj}.{name} is an editable checkbox: opt-outs sync both ways"
                                 " (compliance rules, README 'Opt-out status')", path=path))
    return found


def _required_findings(config: SyncConfig, required: Sequence[RequiredField]) -> list[Finding]:
    """Required Salesforce fields and their defaults; missing ones for the auto-create object come from
    the describe check as errors, so only the other cases are added here."""
    found = []
    for item in required:
        what = f"{item.object}.{item.field} is required to create a {item.object}"
        path = f"objects.{item.object}.required_defaults.{item.field}"
        if item.default is not None:
            found.append(Finding("ok", f"{what}: default {item.default!r} configured", path=path))
        elif config.auto_create != item.object:
            found.append(
                Finding(
                    "info",
                    f"{what}; no default configured (needed only with auto_create: {item.object})",
                    path=path,
                )
            )
    return found


def check_field_mapping(
    config: SyncConfig, describes: Mapping[str, Describe], heymarket: ContactFields | None, *, apply: bool
) -> StepResult:
    """Step 5 whole: check the mappings; with *apply*, create the missing Heymarket fields and check again.

    :param describes: object -> its full describe, for the enabled objects.
    :param heymarket: ``None`` when the Heymarket connection failed (only the Salesforce side is checked).
    """
    hm_fields = heymarket.list_contact_fields() if heymarket is not None else None
    problems = validate_against_describe(config, describes, hm_fields or [])
    created: list[Mapping[str, object]] = []
    if apply and heymarket is not None and hm_fields is not None:
        titles = creatable_titles(config, hm_fields, problems)
        if titles:
            created = [f for f in heymarket.create_contact_fields(titles) if not f.get("duplicate")]
            log.info("Heymarket custom fields: %d created, %d existed", len(created), len(titles) - len(created))
            hm_fields = heymarket.list_contact_fields()
            problems = validate_against_describe(config, describes, hm_fields)
    if hm_fields is None:
        problems = [p for p in problems if not p.path.endswith(".heymarket")]
    _, field_problems = split_problems(problems)
    required = [item for obj in config.enabled_objects() for item in required_fields(config, obj, describes[obj])]
    return field_mapping_step(
        config, field_problems, required, heymarket_fields=hm_fields, created=created, apply=apply
    )
