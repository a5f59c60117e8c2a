"""What the preflight task hands every later stage (its XCom ``return_value``, templated into ``run``).

Typed so that the stages read it as what it is; it travels as JSON, so :meth:`SyncStageOperator.run_info`
is where an untyped mapping becomes a :class:`RunInfo`.
"""

from __future__ import annotations

from typing import TypedDict

from sync_engine.vocabulary import ExtractMode, ObjectName


class Watermarks(TypedDict):
    """Where the incremental extracts start: per Salesforce object, and Heymarket's (ISO text, ``None``:
    no watermark yet)."""

    salesforce: dict[str, str | None]
    heymarket: str | None


class RunModes(TypedDict):
    """The run's mode (``full``, ``incremental`` or ``record_ids``) and each side's read mode."""

    mode: str
    sf_mode: ExtractMode
    hm_mode: ExtractMode
    watermarks: Watermarks


class RunInfo(RunModes):
    """The run as preflight decided it (docs/contracts.md, "XCom")."""

    dag_id: str
    run_id: str
    runs_root: str
    run_dir: str
    config_path: str
    objects: list[ObjectName]
    record_ids: list[str]
    record_ids_by_object: dict[str, list[str]]
    record_id_problems: dict[str, str]
    dry_run: bool
    allow_mass_delete: bool
    trigger: str
    started_at: str
