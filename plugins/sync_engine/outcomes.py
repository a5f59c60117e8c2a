"""Record-level outcomes: what one run did with one record, built from what the run already has.

Two places know it. The applier knows what it wrote and what the target rejected, batch by batch, with the
ids the targets returned (a created contact's id, an auto-created record's Id); it hands
:class:`RecordOutcome` rows to the state store in the same transaction as the batch's links and errors, so
the outcomes of a killed run are exactly its committed batches. The plan's report knows which records were
held back (duplicate, invalid phone, no phone, conflict, waiting for a retry, skipped); ``record_run`` turns
it into outcomes with :func:`held_back_outcomes`. A dry run writes nothing, so ``record_run`` records its
*planned* writes (:func:`planned_outcomes`) and its held-back records, all marked ``planned``.

Ids, action and reason codes and field names only: the report's ``detail`` text and ``phone`` column never
leave this module; a reason is read out of the detail only where the planner wrote a code there.

Pure Python and pandas (no Airflow, no SQL).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from sync_engine.vocabulary import (
    ACTION_DIRECTION,
    ACTION_OUTCOME,
    ACTION_TARGET,
    HEYMARKET_ONLY,
    REFRESH,
    REPORT_OUTCOME,
    HoldReason,
)


@dataclass(frozen=True)
class RecordOutcome:
    """One record's outcome in a run (a row of ``hm_sync_record_outcome`` before it is stored).

    :param object: ``Contact``, ``Lead`` or ``(heymarket)`` (a Heymarket contact no record is part of).
    :param action: one of :data:`~sync_engine.vocabulary.OUTCOME_ACTIONS`.
    :param direction: where the write went (``to_heymarket``, ``to_salesforce``, ``state``); ``None`` when held back.
    :param reason: a code (plan reason, error code, hold reason, phone reason), never text.
    :param fields: canonical keys written or attempted (names only).
    """

    object: str
    action: str
    sf_id: str | None = None
    hm_id: int | None = None
    direction: str | None = None
    reason: str | None = None
    fields: tuple[str, ...] = ()


def written_outcome(action: str, object_name: str, sf_id: str | None, hm_id: int | None, *, ok: bool,
                    reason: str | None, fields: Sequence[str] = ()) -> RecordOutcome:
    """The outcome of one write the applier sent: its action's outcome, or ``failed`` with the error code.

    :param action: the plan action (``create_heymarket`` ...).
    :param reason: the plan row's reason when *ok*, the target's error code when not.
    """
    return RecordOutcome(object=object_name, action=ACTION_OUTCOME[action] if ok else "failed", sf_id=sf_id,
                         hm_id=hm_id, direction=ACTION_DIRECTION[action], reason=reason or None,
                         fields=tuple(fields))


# --------------------------------------------------------------------------------------------- held back

#: The phone reason codes the planner puts in its details (``sync_engine.phones.REASONS``).
_PHONE_REASON = re.compile(r"\b(empty|unparseable|not_possible|invalid|too_short)\b")
#: A conflict detail starts with its key: ``"<key>: changed in both systems; <policy> -> Salesforce value kept"``.
_CONFLICT = re.compile(r"^(?P<key>[^:]+): .*-> (?P<side>Salesforce|Heymarket) value kept$")


def _text(value: object) -> str | None:
    """A frame cell as text, ``None`` when missing."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):  # None, NA, NaN
        return None
    text = str(value)
    return text if text and text != "<NA>" else None


def _hm_id(value: object) -> int | None:
    text = _text(value)
    return int(float(text)) if text is not None else None


def _hold_reason(kind: str, detail: str) -> str | None:
    """The reason code of one report row, read from where the planner writes it (never the detail itself)."""
    reason: HoldReason | None = None
    if kind in ("invalid_phone", "skipped"):
        found = _PHONE_REASON.search(detail)
        return found.group(1) if found else None
    if kind == "no_phone":
        return "empty"
    if kind == "duplicate":
        reason = "owner_outside_run" if "not part of this run" in detail else "phone_taken"
    elif kind == "unlinked":
        reason = "no_record"
    elif kind == "waiting_retry":
        reason = "retry_not_due"
    return reason


def held_back_outcomes(report: pd.DataFrame) -> list[RecordOutcome]:
    """One outcome per record the plan's report names (a conflict: one per pair, with the keys in conflict).

    :param report: the plan's report frame (``Plan.report``: ``kind``, ``object``, ``sf_id``, ``hm_id``,
        ``detail``...).
    """
    outcomes: list[RecordOutcome] = []
    conflicts: dict[tuple[str, str | None, int | None], tuple[list[str], set[str]]] = {}
    for kind, obj, sf_id, hm_id, detail in report[["kind", "object", "sf_id", "hm_id", "detail"]].itertuples(
            index=False, name=None):
        kind, detail = str(kind), _text(detail) or ""
        key = (_text(obj) or HEYMARKET_ONLY, _text(sf_id), _hm_id(hm_id))
        if kind == "conflict":
            keys, sides = conflicts.setdefault(key, ([], set()))
            found = _CONFLICT.match(detail)
            if found:
                keys.append(found.group("key"))
                sides.add(found.group("side"))
            continue
        outcomes.append(RecordOutcome(object=key[0], action=REPORT_OUTCOME[kind], sf_id=key[1], hm_id=key[2],
                                      reason=_hold_reason(kind, detail)))
    for (obj, sf_id, hm_id), (keys, sides) in conflicts.items():
        kept: HoldReason | None = None
        if sides:
            kept = ("salesforce_kept" if sides == {"Salesforce"} else "heymarket_kept" if sides == {"Heymarket"}
                    else "both_kept")
        outcomes.append(RecordOutcome(object=obj, action="conflict", sf_id=sf_id, hm_id=hm_id, reason=kept,
                                      fields=tuple(sorted(set(keys)))))
    return outcomes


# --------------------------------------------------------------------------------------------- dry runs

def planned_outcomes(actions: Mapping[str, pd.DataFrame], keys: Iterable[str] = ()) -> list[RecordOutcome]:
    """What a dry run would have written: one outcome per action row (``refresh`` links left out: they only
    move a pair's memory, and the history does not count them either).

    :param keys: the plan's compared keys (for a write whose row lists no ``changed`` keys).
    """
    every_key = tuple(keys)
    outcomes: list[RecordOutcome] = []
    for action, frame in actions.items():
        if frame is None or not len(frame):
            continue
        columns = [c for c in ("object", "sf_id", "hm_id", "reason", "changed") if c in frame.columns]
        for row in frame[columns].to_dict("records"):
            reason = _text(row.get("reason"))
            if action == "link" and reason == REFRESH:
                continue
            outcomes.append(written_outcome(action, _text(row.get("object")) or HEYMARKET_ONLY,
                                            _text(row.get("sf_id")), _hm_id(row.get("hm_id")), ok=True,
                                            reason=reason, fields=_planned_fields(action, row, every_key)))
    return outcomes


def _planned_fields(action: str, row: Mapping[str, object], keys: tuple[str, ...]) -> tuple[str, ...]:
    """A planned write's keys: its ``changed`` list (a create lists the phone and every key it sets), or all
    compared keys when the row lists none; a link-table action writes no field."""
    if action not in ACTION_TARGET or ACTION_TARGET[action] == "state":
        return ()
    changed = _text(row.get("changed"))
    return tuple(k.strip() for k in changed.split(",") if k.strip()) if changed else keys
