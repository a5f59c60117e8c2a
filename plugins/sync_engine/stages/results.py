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
