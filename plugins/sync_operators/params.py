"""The run parameters of the sync DAGs: their trigger-form fields and the check of a run's conf.

Both ``heymarket_sync`` and ``heymarket_sync_manual`` take the same params, built here once. Airflow 3.3
checks a conf value against its param's JSON schema when the run is created (UI, REST API, ``dag.test``),
but it **accepts unknown keys silently**: ``{"dryrun": true}`` (for ``dry_run``) would start a real run.
:func:`check_conf` is what ``preflight`` runs first, before it reads or writes anything: unknown keys are
refused with a "did you mean" hint, and every value is checked again so that a wrong one is explained in
plain words (Airflow's own check answers with JSON-schema text, or in the UI only with "Bad Request").

The trigger form (3.3) marks a typed field *required* unless its type allows ``null``; every param here
allows it, and an empty field means "the default". ``objects`` is a multi-select (``type: array`` with
``examples``). ``record_ids`` has no ``pattern``: a pattern failure reaches the UI user only as a "Bad
Request" toast, so ids are checked in ``preflight`` instead, one by one (``salesforce_access.ids``).

Importing this module costs only ``airflow.sdk``'s ``Param`` (DAG parse time).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from airflow.sdk import Param

from sync_engine.vocabulary import OBJECT_NAMES, ObjectName

MODES = ("incremental", "full")
OBJECTS = OBJECT_NAMES
#: Every conf key the sync DAGs take, in trigger-form order.
PARAM_NAMES = ("mode", "objects", "record_ids", "dry_run", "allow_mass_delete")
DEFAULTS: Mapping[str, object] = {
    "mode": "incremental",
    "objects": list(OBJECTS),
    "record_ids": [],
    "dry_run": False,
    "allow_mass_delete": False,
}
EXAMPLE_CONF = '{"dry_run": true, "objects": ["Contact"], "mode": "full"}'


def sync_params() -> dict[str, Param]:
    """The params of both sync DAGs (a new dict of new ``Param`` objects on every call)."""
    return {
        "mode": Param(
            DEFAULTS["mode"], type=["null", "string"], enum=[*MODES, None], title="Mode",
            values_display={"incremental": "incremental: what changed since the last run",
                            "full": "full: compare every record (finds contacts deleted in Heymarket)",
                            None: "(default: incremental)"},
            description="incremental: only what changed since the last run; full: compare every record (also "
            "finds contacts deleted in Heymarket). Empty = incremental.",
        ),
        "objects": Param(
            list(OBJECTS), type=["null", "array"], items={"type": "string", "enum": list(OBJECTS)},
            examples=list(OBJECTS), uniqueItems=True, title="Objects",
            description="Which Salesforce objects this run syncs (those enabled in the config). Empty = both.",
        ),
        "record_ids": Param(
            [], type=["null", "array"], items={"type": "string"}, title="Record ids",
            description="Sync only these Salesforce Contact/Lead ids, one per line (15 or 18 characters, e.g. "
            "0035g00000AbCdEAAV). Empty = every record in scope. An id that is mistyped or not found is "
            "reported on its own; the others are synced.",
        ),
        "dry_run": Param(
            DEFAULTS["dry_run"], type=["null", "boolean"], title="Dry run",
            description="Plan and report what would change; write nothing to Salesforce or Heymarket.",
        ),
        "allow_mass_delete": Param(
            DEFAULTS["allow_mass_delete"], type=["null", "boolean"], title="Allow mass delete",
            description="Override the guard that stops a run deleting more than the configured share of linked "
            "Heymarket contacts.",
        ),
    }


class ConfError(ValueError):
    """A run's conf cannot be used; the message lists every problem and how to fix it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class RunConf:
    """A run's conf, checked, with the defaults filled in (``record_ids`` as given: preflight checks them)."""

    mode: str = "incremental"
    objects: list[ObjectName] = field(default_factory=lambda: list(OBJECTS))
    record_ids: list[str] = field(default_factory=list)
    dry_run: bool = False
    allow_mass_delete: bool = False


def suggestion(key: str, names: Sequence[str] = PARAM_NAMES) -> str | None:
    """The param name *key* was probably meant to be (``dryrun``, ``dry-run``, ``DryRun`` -> ``dry_run``).

    :param names: the params to choose from (default: the sync's; ``make setup`` passes the setup DAG's).
    """
    folded = key.strip().lower().replace("-", "_").replace(" ", "_")
    if folded in names:
        return folded
    squashed = {name.replace("_", ""): name for name in names}
    if folded.replace("_", "") in squashed:
        return squashed[folded.replace("_", "")]
    close = difflib.get_close_matches(folded, list(names), n=1, cutoff=0.6)
    return close[0] if close else None


def check_conf(conf: Mapping[str, object] | None) -> RunConf:
    """Check a run's conf; returns it with defaults filled in.

    ``None`` (an empty form field) means the default for every param.

    :raises ConfError: unknown keys (with a "did you mean" hint) or values of the wrong type or set.
    """
    conf = dict(conf or {})
    problems: list[str] = []
    for key in conf:
        if key not in PARAM_NAMES:
            hint = suggestion(str(key))
            problems.append(f"unknown param '{key}'" + (f"; did you mean '{hint}'?" if hint else ""))
    if problems:
        problems.append(f"the sync takes only: {', '.join(PARAM_NAMES)} (e.g. {EXAMPLE_CONF})")

    mode = conf.get("mode")
    if mode is not None and mode not in MODES:
        problems.append(f"mode is {mode!r}; use \"incremental\" or \"full\" (or leave it out)")
    objects = conf.get("objects")
    if objects is not None and (not isinstance(objects, list) or any(o not in OBJECTS for o in objects)):
        problems.append(f"objects is {objects!r}; use a list of Contact and/or Lead, e.g. [\"Contact\"]")
    record_ids = conf.get("record_ids")
    if record_ids is not None and not (isinstance(record_ids, list) and all(isinstance(i, str) for i in record_ids)):
        problems.append(f"record_ids must be a list of ids as text, e.g. [\"0035g00000AbCdEAAV\"]; got {record_ids!r}")
    for flag in ("dry_run", "allow_mass_delete"):
        value = conf.get(flag)
        if value is not None and not isinstance(value, bool):
            problems.append(f"{flag} is {value!r}; use true or false (JSON booleans, without quotes)")
    if problems:
        raise ConfError(problems)
    return RunConf(
        mode=str(mode or DEFAULTS["mode"]),
        objects=list(dict.fromkeys(objects)) if isinstance(objects, list) and objects else list(OBJECTS),
        record_ids=list(record_ids) if isinstance(record_ids, list) else [],
        dry_run=bool(conf.get("dry_run") or False),
        allow_mass_delete=bool(conf.get("allow_mass_delete") or False),
    )
