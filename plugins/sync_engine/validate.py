"""Great Expectations suite over the plan frames: the last look before anything is written.

The planner's invariants are property-tested, but this suite runs on every real plan, so a bug, a bad
extract or an odd org shows up as a failed run with a readable reason instead of as 400s halfway
through the apply (or worse, as duplicates). Checked per action frame (``docs/contracts.md``):

* the ``action`` column matches the frame and ``object`` is a synced object;
* every phone written (Heymarket create/update, Salesforce create, link) is E.164 digits without ``+``;
* ids: Salesforce ids look like 15/18-character ids, and the ids an action needs are present (an
  ``unlink`` of a released contact's memory has no Salesforce id);
* per target system, at most one action per Salesforce record and per Heymarket contact, and never
  two creates for one phone;
* ``create_salesforce`` rows carry a value for every column a create requires (from describe and the
  configured defaults, see ``sync_engine.config.describe.required_create_columns``).

The suite is defined in code on an ephemeral GX context: no GX project folder, nothing written. Results
keep counts and record ids only; the values GX collects (phones, names) never leave this module.
"""

from __future__ import annotations

import contextlib
import logging
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sync_engine.vocabulary import ACTION_TARGET, ACTIONS, CREATED_OPTED_OUT, DUPLICATE_CONSENT, PHONE_WRITERS

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core import ExpectationSuiteValidationResult as ValidationResult
    from great_expectations.expectations import Expectation

#: Frames in a plan that are not actions (validated elsewhere or not at all).
NON_ACTION_FRAMES = frozenset({"report"})
#: Columns every action frame carries.
BASE_COLUMNS = ("action", "object", "sf_id", "hm_id", "phone")
E164_DIGITS = r"^[1-9]\d{7,14}$"
SALESFORCE_ID = r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$"
#: Records named per failure message (the JSON result keeps up to RECORDS_KEPT).
RECORDS_NAMED = 5
RECORDS_KEPT = 20

ResultValue = str | int | float | bool | None | list["ResultValue"] | dict[str, "ResultValue"]


@dataclass(frozen=True)
class ValidationOutcome:
    """What the validate step reports.

    :param success: every expectation held; ``False`` means the run must not write
    :param results: JSON-able detail per checked frame (counts and record ids, never values)
    :param failures: one admin-readable sentence per failed expectation
    """

    success: bool
    results: dict[str, ResultValue]
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, ResultValue]:
        """The ``validation.json`` document of the run folder."""
        return {"success": self.success, "failures": list(self.failures), **self.results}


@dataclass
class _FrameReport:
    """Validation of one frame: rows, one entry per expectation, and the failure sentences."""

    rows: int
    expectations: list[dict[str, ResultValue]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, ResultValue]:
        return {"rows": self.rows, "success": not self.failures, "expectations": list(self.expectations)}


@dataclass(frozen=True)
class _Check:
    """One expectation and how to explain its failure."""

    check: str
    expectation: Expectation
    message: str


def validate_plan(
    plan_frames: Mapping[str, pd.DataFrame],
    *,
    required_create_columns: Mapping[str, Sequence[str]] | None = None,
    objects: Sequence[str] = ("Contact", "Lead"),
) -> ValidationOutcome:
    """Run the plan suite.

    :param plan_frames: action name -> frame (``Plan``'s frames); a ``report`` frame is ignored
    :param required_create_columns: object -> columns that must be non-null on its ``create_salesforce``
        rows (``required_create_columns(config, obj, describe)`` for the auto-create object)
    :param objects: the Salesforce objects this run syncs
    :return: the outcome; empty frames pass
    """
    with _quiet_gx_logs():  # GX's import alone logs some 200 INFO lines ("Skipping registering function ...")
        return _validate_plan(plan_frames, required_create_columns, objects)


def _validate_plan(plan_frames: Mapping[str, pd.DataFrame], required_create_columns: Mapping[str, Sequence[str]]
                   | None, objects: Sequence[str]) -> ValidationOutcome:
    required = {obj: tuple(cols) for obj, cols in (required_create_columns or {}).items()}
    failures = [f"{name}: not a plan action (expected one of: {', '.join(ACTIONS)})"
                for name in sorted(set(plan_frames) - set(ACTIONS) - NON_ACTION_FRAMES)]
    reports: dict[str, _FrameReport] = {}
    batches: dict[str, tuple[pd.DataFrame, list[_Check]]] = {}
    for name in ACTIONS:
        frame = plan_frames.get(name)
        if frame is None or frame.empty:
            reports[name] = _FrameReport(rows=0)
            continue
        frame = frame.reset_index(drop=True)
        batches[name] = (frame, _frame_checks(name, frame, objects, required if name == "create_salesforce" else {}))
    for target in ("heymarket", "salesforce"):
        combined = _combined_target_frame(target, batches)
        if combined is not None:
            batches[f"{target} writes"] = (combined, _target_checks(target, combined))

    if batches:
        reports.update(_run_suites(batches))
    failures += [sentence for report in reports.values() for sentence in report.failures]
    evaluated = sum(len(r.expectations) for r in reports.values())
    failed = sum(not e["success"] for r in reports.values() for e in r.expectations)
    results: dict[str, ResultValue] = {
        "statistics": {"evaluated_expectations": evaluated, "successful_expectations": evaluated - failed,
                       "unsuccessful_expectations": failed},
        "frames": {name: report.as_dict() for name, report in reports.items()},
    }
    return ValidationOutcome(success=not failures, results=results, failures=failures)


# ------------------------------------------------------------------------------------------ suite in code

def _gx_expectations() -> types.ModuleType:
    """``great_expectations.expectations``, imported on first use: GX takes seconds to import."""
    import great_expectations.expectations as gxe

    return gxe


def _frame_checks(name: str, frame: pd.DataFrame, objects: Sequence[str],
                  required: Mapping[str, tuple[str, ...]]) -> list[_Check]:
    gxe = _gx_expectations()
    checks: list[_Check] = []
    present = set(frame.columns)
    needed = [c for c in BASE_COLUMNS if c != "phone" or name in PHONE_WRITERS]
    for column in needed:
        if column not in present:
            checks.append(_Check("column_present", gxe.ExpectColumnToExist(column=column),
                                 f"{name}: the plan frame has no '{column}' column"))
    if "action" in present:
        checks.append(_Check("action_value", gxe.ExpectColumnValuesToBeInSet(column="action", value_set=[name]),
                             f"{name}: {{n}} rows carry another action than '{name}'"))
        checks.append(_Check("action_present", gxe.ExpectColumnValuesToNotBeNull(column="action"),
                             f"{name}: {{n}} rows have no action"))
    if "object" in present:
        checks.append(_Check("object_value",
                             gxe.ExpectColumnValuesToBeInSet(column="object", value_set=list(objects)),
                             f"{name}: {{n}} rows name an object this run doesn't sync (not {', '.join(objects)})"))
        checks.append(_Check("object_present", gxe.ExpectColumnValuesToNotBeNull(column="object"),
                             f"{name}: {{n}} rows name no Salesforce object"))
    if name in PHONE_WRITERS and "phone" in present:
        checks.append(_Check("phone_present", gxe.ExpectColumnValuesToNotBeNull(column="phone"),
                             f"{name}: {{n}} rows have no phone"))
        checks.append(_Check("phone_e164", gxe.ExpectColumnValuesToMatchRegex(column="phone", regex=E164_DIGITS),
                             f"{name}: {{n}} rows have a phone that is not E.164 digits (8 to 15 digits, no '+',"
                             " no leading 0)"))
    if name in ("create_heymarket", "create_salesforce") and "phone" in present:
        checks.append(_Check("phone_unique", gxe.ExpectColumnValuesToBeUnique(column="phone"),
                             f"{name}: {{n}} rows would create records with the same phone as another row"))
    if "sf_id" in present:
        checks.append(_Check("sf_id_format", gxe.ExpectColumnValuesToMatchRegex(column="sf_id", regex=SALESFORCE_ID),
                             f"{name}: {{n}} rows have a Salesforce id that is not 15 or 18 letters and digits"))
        if name == "unlink" and "reason" in present:
            # The memory of a released contact (its record moved to another number) has no record: when the
            # contact is deleted in Heymarket, its row goes by the contact's id alone.
            from great_expectations.expectations.row_conditions import Column

            checks.append(_Check("sf_id_present", gxe.ExpectColumnValuesToNotBeNull(
                column="sf_id", row_condition=Column("reason") != "heymarket_deleted"),
                f"{name}: {{n}} rows have no Salesforce id (only a released contact's memory may have none)"))
        elif name != "create_salesforce":
            checks.append(_Check("sf_id_present", gxe.ExpectColumnValuesToNotBeNull(column="sf_id"),
                                 f"{name}: {{n}} rows have no Salesforce id"))
    if "hm_id" in present and name == "update_salesforce" and "reason" in present:
        # A record at the phone of a contact this run creates opted out: that contact has no id yet.
        from great_expectations.expectations.row_conditions import Column

        checks.append(_Check("hm_id_present", gxe.ExpectColumnValuesToNotBeNull(
            column="hm_id", row_condition=Column("reason") != CREATED_OPTED_OUT),
            f"{name}: {{n}} rows have no Heymarket id (only a box that follows a contact created opted out may have "
            "none)"))
    elif "hm_id" in present and name != "create_heymarket":
        checks.append(_Check("hm_id_present", gxe.ExpectColumnValuesToNotBeNull(column="hm_id"),
                             f"{name}: {{n}} rows have no Heymarket id"))
    if ACTION_TARGET[name] == "state":
        checks += _unique_id_checks(name, present)
    checks += _required_column_checks(name, present, required)
    return checks


def _unique_id_checks(label: str, present: set[str]) -> list[_Check]:
    gxe = _gx_expectations()
    checks = []
    if {"object", "sf_id"} <= present:
        checks.append(_Check(
            "one_action_per_salesforce_record",
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["object", "sf_id"], ignore_row_if="any_value_is_missing"),
            f"{label}: {{n}} rows act on a Salesforce record another row acts on too (at most one action per"
            " record and target)",
        ))
    if "hm_id" in present:
        checks.append(_Check(
            "one_action_per_heymarket_contact", gxe.ExpectColumnValuesToBeUnique(column="hm_id"),
            f"{label}: {{n}} rows act on a Heymarket contact another row acts on too (at most one action per"
            " contact and target)",
        ))
    return checks


def _target_checks(target: str, combined: pd.DataFrame) -> list[_Check]:
    return _unique_id_checks(f"{target} writes", set(combined.columns))


def _required_column_checks(name: str, present: set[str], required: Mapping[str, tuple[str, ...]]) -> list[_Check]:
    if not required:
        return []
    gxe = _gx_expectations()
    from great_expectations.expectations.row_conditions import Column

    checks = []
    for obj, columns in required.items():
        for column in columns:
            if column not in present:
                checks.append(_Check("required_column_present", gxe.ExpectColumnToExist(column=column),
                                     f"{name}: the plan frame has no '{column}' column, required to create a {obj}"))
                continue
            checks.append(_Check(
                "required_value",
                gxe.ExpectColumnValuesToNotBeNull(column=column, row_condition=Column("object") == obj),
                f"{name}: {{n}} {obj} rows have no value for '{column}', required to create a {obj} (map it,"
                f" or add a default in objects.{obj}.required_defaults)",
            ))
    return checks


def _combined_target_frame(target: str, batches: Mapping[str, tuple[pd.DataFrame, list[_Check]]]
                           ) -> pd.DataFrame | None:
    """All frames writing to one system stacked, so one record can't get two actions there."""
    import pandas as pd

    parts = [frame.reindex(columns=["action", "object", "sf_id", "hm_id", "reason"]).astype(object)
             for name, (frame, _) in batches.items() if ACTION_TARGET.get(name) == target]
    if not parts:
        return None
    combined = pd.concat(parts, ignore_index=True)
    # One frame's hm_id may be int64 and another's float64 (NaN upcasts); compare ids as text.
    combined["hm_id"] = combined["hm_id"].map(_id_text)
    # An opt-out that follows a pair's names the pair's other side without acting on it: a duplicate record's row
    # writes the record's box alone (its contact is not counted again), the row of a contact at the pair's phone
    # writes that contact alone (the pair's record is not counted again).
    combined.loc[combined["reason"] == DUPLICATE_CONSENT, "hm_id" if target == "salesforce" else "sf_id"] = None
    return combined.drop(columns=["reason"])


def _id_text(value: object) -> str | None:
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(int(float(str(value)))) if _is_number(value) else str(value)


# ------------------------------------------------------------------------------------------ running GX

def _run_suites(batches: Mapping[str, tuple[pd.DataFrame, list[_Check]]]) -> dict[str, _FrameReport]:
    """One ephemeral context, one asset + suite + validation definition per frame; progress bars off."""
    with _quiet_gx_logs():
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        _quiet_gx_module_loggers()
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas("plan")
        out: dict[str, _FrameReport] = {}
        for index, (name, (frame, checks)) in enumerate(batches.items()):
            asset_name = f"frame_{index}"
            expectations = []
            for number, check in enumerate(checks):
                check.expectation.meta = {"check_index": number}
                expectations.append(check.expectation)
            batch_definition = source.add_dataframe_asset(asset_name).add_batch_definition_whole_dataframe("all")
            suite = context.suites.add(gx.ExpectationSuite(name=asset_name, expectations=expectations))
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=asset_name, data=batch_definition, suite=suite))
            result = definition.run(batch_parameters={"dataframe": frame}, result_format="COMPLETE")
            out[name] = _frame_result(frame, checks, result)
    return out


def _frame_result(frame: pd.DataFrame, checks: Sequence[_Check], result: ValidationResult) -> _FrameReport:
    """Counts and ids per expectation, and a sentence per failure; GX's value lists are dropped here."""
    report = _FrameReport(rows=len(frame))
    for item in result.results:
        config = item.expectation_config
        if config is None:  # GX fills it for every result of a suite run; without it the result is unusable
            raise RuntimeError("Great Expectations returned a result without its expectation")
        check = checks[int(config.meta["check_index"])]
        detail = item.result or {}
        unexpected = int(detail.get("unexpected_count") or 0)
        error = None if item.success else _exception_message(item.exception_info)
        records = _records(frame, detail.get("unexpected_index_list") or [])
        kwargs = config.kwargs
        # With a row condition GX counts only the matching rows (e.g. the Lead rows of create_salesforce).
        elements = int(detail.get("element_count", len(frame)))
        report.expectations.append({
            "check": check.check,
            "expectation": config.type,
            "column": kwargs.get("column") or kwargs.get("column_list"),
            "success": bool(item.success),
            "element_count": elements,
            "unexpected_count": unexpected,
            "records": records[:RECORDS_KEPT],
            **({"error": str(error)} if error else {}),
        })
        if not item.success:
            report.failures.append(_sentence(check.message, unexpected, elements, records, error))
    return report


def _exception_message(info: Mapping[str, object] | None) -> str | None:
    """GX reports a check that raised either flat or keyed by metric; find the message in both shapes."""
    if not info:
        return None
    if info.get("raised_exception") and info.get("exception_message"):
        return str(info["exception_message"])
    for value in info.values():
        if isinstance(value, Mapping) and value.get("exception_message"):
            return str(value["exception_message"])
    return None


def _records(frame: pd.DataFrame, indices: Sequence[int]) -> list[ResultValue]:
    """The ids of the offending rows (no personal data)."""
    import pandas as pd

    out: list[ResultValue] = []
    for index in list(indices)[:RECORDS_KEPT]:
        if index not in frame.index:
            continue
        row = frame.loc[index]
        record: dict[str, ResultValue] = {}
        for column in ("object", "sf_id", "hm_id"):
            value = row.get(column)
            if value is not None and not pd.isna(value):
                record[column] = int(value) if column == "hm_id" and _is_number(value) else str(value)
        out.append(record)
    return out


def _is_number(value: object) -> bool:
    try:
        return float(str(value)) == int(float(str(value)))
    except (TypeError, ValueError, OverflowError):
        return False


def _sentence(template: str, unexpected: int, rows: int, records: Sequence[ResultValue], error: object) -> str:
    if "{n}" not in template:
        return template
    text = template.replace("{n}", f"{unexpected} of {rows}")
    distinct = list(dict.fromkeys(_name(r) for r in records if isinstance(r, dict)))
    if distinct:
        more = len(distinct) > RECORDS_NAMED or unexpected > len(records)
        text += ": " + ", ".join(distinct[:RECORDS_NAMED]) + (" …" if more else "")
    elif error:
        text += f" (the check could not run: {error})"
    return text


def _name(record: dict[str, ResultValue]) -> str:
    if "sf_id" in record:
        return f"{record.get('object', 'record')} {record['sf_id']}"
    return f"Heymarket contact {record.get('hm_id', '?')}"


@contextlib.contextmanager
def _quiet_gx_logs() -> Iterator[None]:
    """GX logs chatty INFO lines (its API registry on import, metric calculations per run); a task's log
    should show our counts only. Its warnings and errors still show."""
    logger = logging.getLogger("great_expectations")
    level = logger.level
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _quiet_gx_module_loggers() -> None:
    """GX gives some module loggers a level of their own on import (``data_context.types.base``: INFO, which
    announces the ephemeral context's temporary docs folder on every run); lower those to WARNING."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if (name.startswith("great_expectations.") and isinstance(logger, logging.Logger)
                and logging.NOTSET < logger.level < logging.WARNING):
            logger.setLevel(logging.WARNING)
