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
