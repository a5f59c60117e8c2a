"""Step 4, phone fields: per object, every phone field's filled and valid-E.164 counts, and whether the
configured default phone field is a good choice.

Salesforce records are read through a :data:`RecordPages` function (``SalesforceAccess.iter_records`` in
the DAG, a list of pages in the tests), so the step runs without Airflow.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from ..config.describe import validate_against_describe
from ..phones import PhoneCache, normalise_phones
from .config_file import problem_findings, split_problems
from .results import Facts, Finding, StepResult

if TYPE_CHECKING:
    from ..config import ConfigProblem, Describe, SyncConfig
    from ..vocabulary import ObjectName

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhoneFieldStats:
    """How usable one phone field's values are: records with a value, and how many are valid E.164.

    :param unusable: why the other values can't be used: ``(reason, count)`` pairs with the reasons of
        :data:`sync_engine.phones.REASONS` (``unparseable``, ``not_possible``, ``invalid``), most common first.
    """

    object: str
    field: str
    label: str
    records: int
    filled: int
    valid: int
    unusable: tuple[tuple[str, int], ...] = ()

    @property
    def invalid(self) -> int:
        return self.filled - self.valid


class PhoneFieldCounter:
    """Counts, page by page, the values of every phone field of one object and how many are valid numbers.

    Values are judged by :func:`sync_engine.phones.normalise_phones`, the sync's own match-key rules, so
    "valid" here means "the sync can match this record". One pass over the records covers all phone fields,
    and each distinct raw value is parsed once (a value seen in another field or on an earlier page comes
    from the cache), so an org of 100k records takes one query and about as many parses as it has numbers.

    :param obj: ``Contact`` or ``Lead``.
    :param fields: API name -> label of the object's phone fields (from describe).
    :param default_region: region for numbers without a country code (the config's ``default_region``).
    """

    def __init__(self, obj: str, fields: Mapping[str, str], default_region: str) -> None:
        self.object = obj
        self.fields = dict(fields)
        self.default_region = default_region
        self.records = 0
        self._reasons: dict[str, Counter[str]] = {name: Counter() for name in self.fields}
        self._cache: PhoneCache = {}

    def add(self, records: Sequence[Mapping[str, object]]) -> None:
        """Count one page of records (each a mapping with the phone fields' values)."""
        self.records += len(records)
        for name in self.fields:
            raw = pd.Series([record.get(name) for record in records], dtype=object)
            reasons = normalise_phones(raw, self.default_region, self._cache)["phone_reason"]
            self._reasons[name].update(reasons.value_counts().to_dict())

    def stats(self) -> list[PhoneFieldStats]:
        out = []
        for name, label in self.fields.items():
            reasons = self._reasons[name]
            unusable = tuple(
                sorted(
                    ((r, n) for r, n in reasons.items() if r not in ("ok", "empty")),
                    key=lambda x: (-x[1], x[0]),
                )
            )
            out.append(
                PhoneFieldStats(
                    self.object,
                    name,
                    label,
                    self.records,
                    self.records - reasons["empty"],
                    reasons["ok"],
                    unusable,
                )
            )
        return out


def phone_fields_step(
    config: SyncConfig,
    stats: Mapping[str, Sequence[PhoneFieldStats]],
    problems: Sequence[ConfigProblem],
) -> StepResult:
    """Step 4: every phone field's fill and validity per object, and whether the default phone field fits.

    :param stats: object -> its phone fields' stats (enabled objects).
    :param problems: the describe problems about ``objects.<Object>.phone_field``.
    """
    found = problem_findings(problems)
    facts: Facts = {}
    for obj in config.enabled_objects():
        fields = list(stats.get(obj, ()))
        chosen = config.object_config(obj).phone_field
        facts[obj] = {
            "default_field": chosen,
            "records": fields[0].records if fields else 0,
            "fields": {
                s.field: {
                    "label": s.label,
                    "filled": s.filled,
                    "valid": s.valid,
                    "unusable": dict(s.unusable),
                }
                for s in fields
            },
        }
        for s in fields:
            marker = " ← default phone field" if s.field.casefold() == chosen.casefold() else ""
            why = ", ".join(f"{reason.replace('_', ' ')} {count:,}" for reason, count in s.unusable)
            unusable = f"; {s.invalid:,} not usable" + (f" ({why})" if why else "") if s.invalid else ""
            found.append(
                Finding(
                    "info",
                    f"{obj}.{s.field} ({s.label}): {s.filled:,} of {s.records:,} records have a value, "
                    f"{s.valid:,} valid E.164{_share(s.valid, s.filled)}{unusable}{marker}",
                )
            )
        found += _default_field_findings(config, obj, chosen, fields)
    counts = ", ".join(f"{obj} {len(stats.get(obj, ()))}" for obj in config.enabled_objects())
    return StepResult.build("phone_fields", f"Phone fields per object: {counts}.", found, facts)


def _default_field_findings(
    config: SyncConfig, obj: ObjectName, chosen: str, fields: Sequence[PhoneFieldStats]
) -> list[Finding]:
    path = f"objects.{obj}.phone_field"
    current = next((s for s in fields if s.field.casefold() == chosen.casefold()), None)
    if current is None:
        return []  # not a phone field: the describe problem says so
    found = []
    best = max(fields, key=lambda s: s.valid)
    if current.records and current.valid == 0:
        found.append(
            Finding(
                "warning",
                f"no {obj} has a usable number in {current.field}, so no {obj} can be synced",
                f"choose the phone field your users fill (counts above), e.g. phone_field: {best.field}",
                path=path,
            )
        )
    elif best.field != current.field and best.valid > 2 * current.valid:
        found.append(
            Finding(
                "warning",
                f"{best.field} holds {best.valid:,} valid numbers, {current.field} only {current.valid:,}",
                f"consider phone_field: {best.field} (changing it later re-keys every record)",
                path=path,
            )
        )
    guards = config.guards
    if current.records >= guards.min_records_for_share_guards and current.records:
        share = current.invalid / current.records
        if share > guards.max_invalid_phone_share:
            found.append(
                Finding(
                    "warning",
                    f"{share:.0%} of {obj} records have an unusable number in {current.field}, above "
                    f"guards.max_invalid_phone_share ({guards.max_invalid_phone_share:.0%}): sync runs would "
                    "stop before writing",
                    "clean the numbers, check default_region, choose another phone "
                    "field, or raise guards.max_invalid_phone_share",
                    path="guards.max_invalid_phone_share",
                )
            )
    if not found:
        found.append(
            Finding("ok", f"{obj} default phone field {current.field}: {current.valid:,} valid numbers")
        )
    return found


def _share(part: int, whole: int) -> str:
    return f" ({part / whole:.0%})" if whole else ""


def phone_field_labels(describe: Describe) -> dict[str, str]:
    """API name -> label of the fields of type ``phone`` in a describe, in describe order."""
    raw = describe.get("fields")
    items = raw if isinstance(raw, list) else []
    return {
        str(f["name"]): str(f.get("label") or f["name"])
        for f in items
        if isinstance(f, Mapping) and str(f.get("type", "")).lower() == "phone"
    }


#: Reads every record of an object with these fields, page by page (``SalesforceAccess.iter_records``).
RecordPages = Callable[[str, list[str]], Iterable[Sequence[Mapping[str, object]]]]


def check_phone_fields(config: SyncConfig, describes: Mapping[str, Describe], read: RecordPages) -> StepResult:
    """Step 4 whole: count every phone field of each enabled object, then judge the default phone field.

    :param describes: object -> its full describe, for the enabled objects.
    :param read: reads an object's records with the given fields; one pass per object, one query with every
        phone field: fine for 100k records.
    """
    stats: dict[str, list[PhoneFieldStats]] = {}
    for obj, describe in describes.items():
        counter = PhoneFieldCounter(obj, phone_field_labels(describe), config.default_region)
        if counter.fields:
            for page in read(obj, list(counter.fields)):
                counter.add(page)
        log.info("%s: %d records, %d phone fields counted", obj, counter.records, len(counter.fields))
        stats[obj] = counter.stats()
    phone_problems, _ = split_problems(validate_against_describe(config, describes, []))
    return phone_fields_step(config, stats, phone_problems)
