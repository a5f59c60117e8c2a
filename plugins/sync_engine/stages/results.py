"""What each stage hands on to the later ones: frozen results, turned into plain JSON at the XCom boundary.

Why ``to_xcom()`` / ``from_xcom()`` and not the dataclasses themselves in XCom: Airflow's serde stores a
dataclass with its class path and deserialises only classes allowed by ``[core]
allowed_deserialization_classes`` (default ``airflow.*``), so every deployment would need a setting, and
the stored value would no longer be the plain JSON that the UI, the run-note listener and older readers
show. The results carry counts, ids and paths only, never contact data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from sync_engine.vocabulary import EXTRACT_MODES, OBJECT_NAMES, ExtractMode, ObjectName


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float | str) and str(value).strip() else 0


def _counts(value: object) -> dict[str, dict[str, int]]:
    if not isinstance(value, Mapping):
        return {}
    return {str(obj): {str(k): _int(n) for k, n in dict(per).items()} for obj, per in value.items()
            if isinstance(per, Mapping)}


@dataclass(frozen=True)
class PlanResult:
    """The plan stage's result: where the plan is, its counts, and the state it settled.

    :param path: the plan's folder (``<run folder>/plan``).
    :param counts: object -> action or report kind -> rows (``Plan.counts()``).
    :param phones_parsed: raw phones parsed for the first time (added to the phone cache).
    :param retries_settled: queued retries the plan showed to be moot (errors resolved, entries dropped).
    """

    path: str
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    phones_parsed: int = 0
    retries_settled: int = 0

    def to_xcom(self) -> dict[str, object]:
        return {"path": self.path, "counts": {k: dict(v) for k, v in self.counts.items()},
                "phones_parsed": self.phones_parsed, "retries_settled": self.retries_settled}

    @classmethod
    def from_xcom(cls, value: Mapping[str, object]) -> PlanResult:
        """The result back from the JSON the task pushed.

        :raises ValueError: *value* is not a plan result (no ``path``): a wiring mistake.
        """
        if not isinstance(value, Mapping) or not value.get("path"):
            raise ValueError(f"not a plan task's result (no 'path'): {sorted(value) if isinstance(value, Mapping) else type(value)}")
        return cls(path=str(value["path"]), counts=_counts(value.get("counts")),
                   phones_parsed=_int(value.get("phones_parsed")), retries_settled=_int(value.get("retries_settled")))


def _str_list(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def _str_map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _calls(value: object) -> dict[str, int]:
    return {str(k): _int(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _optional_str(value: object) -> str | None:
    return str(value) if value else None


def _file_of(value: Mapping[str, object], kind: str) -> tuple[str, str]:
    if not isinstance(value, Mapping) or not value.get("path"):
        got = sorted(value) if isinstance(value, Mapping) else type(value)
        raise ValueError(f"not an {kind} task's result (no 'path'): {got}")
    path = str(value["path"])
    return path, str(value.get("file") or path.rsplit("/", 1)[-1])


@dataclass(frozen=True)
class SalesforceExtractResult:
    """One Salesforce object's extract: its frame in the run folder and what the read found (counts, ids).

    :param file: the frame's name in the run folder; ``path`` is where it is.
    :param skipped: the object is not part of this run (its frame is empty).
    :param found_ids: a record-id run: the requested ids Salesforce returned.
    :param rejected_ids: a record-id run: ids Salesforce refused to query -> why.
    :param retried: records re-read because their retry is due; ``held``: read only for their phones.
    :param max_modstamp: the newest ``SystemModstamp`` read (ISO text): the next watermark.
    """

    object_name: str
    path: str
    file: str
    rows: int = 0
    skipped: bool = False
    found_ids: tuple[str, ...] = ()
    rejected_ids: Mapping[str, str] = field(default_factory=dict)
    in_scope: int = 0
    out_of_scope: int = 0
    deleted: int = 0
    retried: int = 0
    held: int = 0
    max_modstamp: str | None = None
    api_calls: Mapping[str, int] = field(default_factory=dict)

    def to_xcom(self) -> dict[str, object]:
        return {"object_name": self.object_name, "path": self.path, "file": self.file, "rows": self.rows,
                "skipped": self.skipped, "found_ids": list(self.found_ids), "rejected_ids": dict(self.rejected_ids),
                "in_scope": self.in_scope, "out_of_scope": self.out_of_scope, "deleted": self.deleted,
                "retried": self.retried, "held": self.held, "max_modstamp": self.max_modstamp,
                "api_calls": dict(self.api_calls)}

    @classmethod
    def from_xcom(cls, value: Mapping[str, object]) -> SalesforceExtractResult:
        """:raises ValueError: *value* is not an extract result (no ``path``): a wiring mistake."""
        path, file = _file_of(value, "extract_salesforce")
        return cls(object_name=str(value.get("object_name") or ""), path=path, file=file,
                   rows=_int(value.get("rows")), skipped=bool(value.get("skipped")),
                   found_ids=_str_list(value.get("found_ids")), rejected_ids=_str_map(value.get("rejected_ids")),
                   in_scope=_int(value.get("in_scope")), out_of_scope=_int(value.get("out_of_scope")),
                   deleted=_int(value.get("deleted")), retried=_int(value.get("retried")), held=_int(value.get("held")),
                   max_modstamp=_optional_str(value.get("max_modstamp")), api_calls=_calls(value.get("api_calls")))


@dataclass(frozen=True)
class HeymarketExtractResult:
    """The Heymarket extract: its frame in the run folder, the custom fields' ids, the next watermark.

    :param field_ids: custom field title -> Heymarket field id (the apply writes custom values by id).
    :param max_updated: the newest ``updated`` read (ISO text): the next watermark.
    """

    path: str
    file: str
    rows: int = 0
    field_ids: Mapping[str, str] = field(default_factory=dict)
    retried: int = 0
    max_updated: str | None = None
    api_calls: Mapping[str, int] = field(default_factory=dict)

    def to_xcom(self) -> dict[str, object]:
        return {"path": self.path, "file": self.file, "rows": self.rows, "field_ids": dict(self.field_ids),
                "retried": self.retried, "max_updated": self.max_updated, "api_calls": dict(self.api_calls)}

    @classmethod
    def from_xcom(cls, value: Mapping[str, object]) -> HeymarketExtractResult:
        """:raises ValueError: *value* is not an extract result (no ``path``): a wiring mistake."""
        path, file = _file_of(value, "extract_heymarket")
        return cls(path=path, file=file, rows=_int(value.get("rows")), field_ids=_str_map(value.get("field_ids")),
                   retried=_int(value.get("retried")), max_updated=_optional_str(value.get("max_updated")),
                   api_calls=_calls(value.get("api_calls")))


@dataclass(frozen=True)
class Watermarks:
    """Where the incremental extracts start: per Salesforce object, and Heymarket's (ISO text; ``None``: no
    watermark yet, the side is read in full)."""

    salesforce: Mapping[str, str | None] = field(default_factory=dict)
    heymarket: str | None = None

    def to_xcom(self) -> dict[str, object]:
        return {"salesforce": dict(self.salesforce), "heymarket": self.heymarket}

    @classmethod
    def from_xcom(cls, value: object) -> Watermarks:
        value = value if isinstance(value, Mapping) else {}
        salesforce = value.get("salesforce")
        return cls(salesforce={str(k): _optional_str(v) for k, v in salesforce.items()}
                   if isinstance(salesforce, Mapping) else {},
                   heymarket=_optional_str(value.get("heymarket")))


@dataclass(frozen=True)
class RunInfo:
    """The run as preflight decided it: every later stage's ``run`` (docs/contracts.md, "XCom").

    :param run_dir: the run folder (``<runs_root>/<dag_id>/<run_id>``, made safe for a path).
    :param record_ids: a record-id run's valid ids (18 characters, sorted); ``record_ids_by_object``: by key
        prefix; ``record_id_problems``: id as given -> why it is not synced.
    :param trigger: ``scheduled`` / ``manual`` / ...; *started_at*: when preflight decided (ISO).
    :param mode: ``full``, ``incremental`` or ``record_ids``; *sf_mode*, *hm_mode*: how each side is read.
    """

    dag_id: str
    run_id: str
    runs_root: str
    run_dir: str
    config_path: str
    objects: tuple[ObjectName, ...]
    mode: str
    sf_mode: ExtractMode
    hm_mode: ExtractMode
    watermarks: Watermarks = field(default_factory=Watermarks)
    record_ids: tuple[str, ...] = ()
    record_ids_by_object: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    record_id_problems: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False
    allow_mass_delete: bool = False
    trigger: str = "manual"
    started_at: str = ""

    def ids_of(self, object_name: str) -> tuple[str, ...]:
        """This record-id run's ids of one object (empty: none, or not a record-id run)."""
        return tuple(self.record_ids_by_object.get(object_name, ()))

    def to_xcom(self) -> dict[str, object]:
        return {"dag_id": self.dag_id, "run_id": self.run_id, "runs_root": self.runs_root, "run_dir": self.run_dir,
                "config_path": self.config_path, "objects": list(self.objects), "record_ids": list(self.record_ids),
                "record_ids_by_object": {k: list(v) for k, v in self.record_ids_by_object.items()},
                "record_id_problems": dict(self.record_id_problems), "dry_run": self.dry_run,
                "allow_mass_delete": self.allow_mass_delete, "trigger": self.trigger, "started_at": self.started_at,
                "mode": self.mode, "sf_mode": self.sf_mode, "hm_mode": self.hm_mode,
                "watermarks": self.watermarks.to_xcom()}

    @classmethod
    def from_xcom(cls, value: Mapping[str, object]) -> RunInfo:
        """The run info back from the JSON preflight pushed.

        :raises ValueError: *value* is not preflight's result (no ``run_id`` or ``runs_root``): a wiring mistake.
        """
        if not isinstance(value, Mapping) or not value.get("run_id") or not value.get("runs_root"):
            got = sorted(value) if isinstance(value, Mapping) else type(value)
            raise ValueError(f"not preflight's result (no 'run_id' and 'runs_root'): {got}")
        by_object = value.get("record_ids_by_object")
        return cls(
            dag_id=str(value.get("dag_id") or ""), run_id=str(value["run_id"]), runs_root=str(value["runs_root"]),
            run_dir=str(value.get("run_dir") or ""), config_path=str(value.get("config_path") or ""),
            objects=tuple(_object_names(value.get("objects"))), mode=str(value.get("mode") or ""),
            sf_mode=_extract_mode(value.get("sf_mode")), hm_mode=_extract_mode(value.get("hm_mode")),
            watermarks=Watermarks.from_xcom(value.get("watermarks")), record_ids=_str_list(value.get("record_ids")),
            record_ids_by_object={str(k): _str_list(v) for k, v in by_object.items()}
            if isinstance(by_object, Mapping) else {},
            record_id_problems=_str_map(value.get("record_id_problems")), dry_run=bool(value.get("dry_run")),
            allow_mass_delete=bool(value.get("allow_mass_delete")), trigger=str(value.get("trigger") or "manual"),
            started_at=str(value.get("started_at") or ""))


def _object_names(value: object) -> list[ObjectName]:
    names = _str_list(value)
    unknown = [n for n in names if n not in OBJECT_NAMES]
    if unknown:
        raise ValueError(f"unknown Salesforce objects in the run info: {unknown} (known: {list(OBJECT_NAMES)})")
    return [cast("ObjectName", n) for n in names]


def _extract_mode(value: object) -> ExtractMode:
    for mode in EXTRACT_MODES:
        if value == mode:
            return mode
    raise ValueError(f"not an extract mode: {value!r} (known: {list(EXTRACT_MODES)})")
