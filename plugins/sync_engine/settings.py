"""Glue between the YAML config, a run's params and the planner/applier/guards.

The planner deliberately takes a small :class:`~sync_engine.plan.model.PlanSettings` rather than the config
model; this module is the one place that translates, so the operators stay a few calls long.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sync_engine.apply import fingerprint, fingerprint_keys
from sync_engine.plan.model import ObjectSettings, Plan, PlanSettings
from sync_engine.vocabulary import (
    HEYMARKET_WRITES,
    SALESFORCE_WRITES,
    Action,
    AutoCreate,
    ConflictPolicy,
    ExtractMode,
    FieldDirection,
    ObjectName,
    ObjectScope,
    Target,
)

if TYPE_CHECKING:
    from sync_engine.config import SyncConfig



def compared_keys(config: SyncConfig, objects: Iterable[ObjectName]) -> tuple[str, ...]:
    """Every canonical key any of the run's objects maps, in a stable order."""
    keys: list[str] = []
    for name in objects:
        for key in config.canonical_keys(name):
            if key not in keys:
                keys.append(key)
    return tuple(keys)


def plan_settings(config: SyncConfig, objects: Iterable[ObjectName], *, sf_mode: ExtractMode, hm_mode: ExtractMode,
                  record_ids: bool = False) -> PlanSettings:
    """The planner's settings for one run.

    :param objects: the objects this run syncs (a subset of the enabled ones)
    :param record_ids: a single-record run: nothing absent from either frame means gone
    """
    objects = list(objects)
    keys = compared_keys(config, objects)
    directions: dict[str, FieldDirection] = {}
    policies: dict[str, ConflictPolicy] = {}
    for name in objects:
        for key, direction in config.field_directions(name).items():
            directions.setdefault(key, direction)
        for key, policy in config.field_policies(name).items():
            policies.setdefault(key, policy)
    per_object: dict[str, ObjectSettings] = {}
    for name in objects:
        cfg = config.object_config(name)
        scope: ObjectScope = "record_ids" if record_ids else cfg.scope
        per_object[name] = ObjectSettings(name=name, enabled=True, scope=scope,
                                          delete_in_heymarket=cfg.delete_in_heymarket)
    auto_create: AutoCreate = config.auto_create if config.auto_create in objects else "none"
    return PlanSettings(
        objects=per_object,
        auto_create=auto_create,
        conflict_policy=config.conflict_policy,
        field_policies={k: v for k, v in policies.items() if v != config.conflict_policy},
        field_directions={k: v for k, v in directions.items() if v != "both"},
        keys=keys,
        sf_mode=sf_mode,
        hm_mode=hm_mode,
        opt_out_off=frozenset(name for name in objects if config.object_config(name).opt_out_field is None),
    )


def keys_by_object(config: SyncConfig, objects: Iterable[ObjectName]) -> dict[str, tuple[str, ...]]:
    return {name: tuple(config.canonical_keys(name)) for name in objects}


def drop_unmapped_keys(plan: Plan, mapped: Mapping[str, Iterable[str]]) -> Plan:
    """Forget changes to keys an object does not map (the planner compares the union of all objects' keys).

    Example: Contacts map ``custom.Customer Tier`` but Leads don't; a Heymarket value for a contact linked
    to a Lead must not become an ``update_salesforce`` the Lead cannot take.
    """
    actions = dict(plan.actions)
    for action in ("update_heymarket", "update_salesforce"):
        frame = actions[action]
        if not len(frame):
            continue
        kept_changed = [
            ",".join(k for k in str(changed or "").split(",") if k and (k in mapped.get(obj, ()) or k == "phone"))
            for obj, changed in zip(frame["object"], frame["changed"], strict=True)
        ]
        frame = frame.assign(changed=kept_changed)
        actions[action] = frame[frame["changed"] != ""].reset_index(drop=True)
    return replace(plan, actions=actions)


def restrict_to_records(plan: Plan, record_ids: set[str]) -> Plan:
    """Keep only what concerns these Salesforce records (the "Heymarket Sync" button on one record).

    Auto-creates in Salesforce and anything about other records wait for the next scheduled run.
    """
    actions = {}
    for action, frame in plan.actions.items():
        if action == "create_salesforce" or not len(frame):
            actions[action] = frame.iloc[0:0]
        else:
            actions[action] = frame[frame["sf_id"].isin(record_ids)].reset_index(drop=True)
    report = plan.report[plan.report["sf_id"].isin(record_ids)].reset_index(drop=True)
    return replace(plan, actions=actions, report=report)


#: write action -> the id columns its retry-queue entries are matched on (an auto-create has no record yet)
WRITE_KEYS: dict[str, tuple[str, ...]] = {
    "create_heymarket": ("object", "sf_id"),
    "update_heymarket": ("object", "sf_id"),
    "delete_heymarket": ("object", "sf_id"),
    "create_salesforce": ("hm_id",),
    "update_salesforce": ("object", "sf_id"),
}


def hold_waiting_retries(plan: Plan, queued: pd.DataFrame, now: datetime,
                         keys_to_heymarket: Mapping[str, Sequence[str]],
                         keys_to_salesforce: Mapping[str, Sequence[str]]) -> Plan:
    """Take back every write whose record has a queued retry of that action that is not due yet.

    The backoff of a rejected write holds whatever the direction: a record read again (a full sweep, a
    change elsewhere, its phone needed for matching) is not written again before its retry is due. A queued
    entry is due when its backoff is over (``next_attempt_after <= now``) or when the write changed since it
    failed: its :func:`~sync_engine.apply.fingerprint` (values sent and phone) differs from the stored one
    (an entry stored without one waits for its backoff). The writes that wait leave the plan and are
    reported ``waiting_retry``, with when they are due (no values). Everything else the plan decides for
    those records stands (a link by phone included).

    Judge whether a queued retry is still needed at all on the plan *before* this hold
    (:func:`settled_retries`): held back, a wanted write would look moot.

    :param queued: ``StateStore.due_retries(now=<far future>)``: every queued entry with its due time and
        fingerprint
    :param now: the run's clock (with the slack the extracts use to re-read due records)
    :param keys_to_heymarket / keys_to_salesforce: per object, the keys each direction writes (what the
        applier fingerprinted)
    """
    if not len(queued):
        return plan
    waiting = queued[pd.to_datetime(queued["next_attempt_after"], utc=True) > pd.Timestamp(now)]
    actions = dict(plan.actions)
    reports = []
    for action, on in WRITE_KEYS.items():
        frame = actions[action]
        entries = waiting[waiting["action"] == action].dropna(subset=list(on))
        if not len(frame) or not len(entries):
            continue
        entries = entries.astype({"hm_id": "Int64"}).drop_duplicates(subset=list(on))
        found = frame[list(on)].merge(entries[[*on, "next_attempt_after", "fingerprint"]], on=list(on), how="left")
        queued_here = found["next_attempt_after"].notna().to_numpy()
        if not queued_here.any():
            continue
        held = queued_here.copy()
        for at in np.flatnonzero(queued_here):
            stored = found["fingerprint"].iat[at]
            if isinstance(stored, str) and stored:
                row = frame.iloc[at].to_dict()
                keys = fingerprint_keys(action, str(row["object"]), keys_to_heymarket, keys_to_salesforce)
                held[at] = fingerprint(row, keys) == stored
        if not held.any():
            continue
        kept = frame[held]
        due = pd.to_datetime(found["next_attempt_after"][held], utc=True).dt.strftime("%Y-%m-%d %H:%M UTC")
        reports.append(pd.DataFrame({
            "kind": "waiting_retry", "object": kept["object"].to_numpy(), "sf_id": kept["sf_id"].to_numpy(),
            "hm_id": kept["hm_id"].to_numpy(), "phone": kept["phone"].to_numpy(), "winner_sf_id": None,
            "detail": [f"{action} was rejected before; tried again when its retry is due ({d}), or at once if "
                       "the record changes (see the error table)" for d in due],
        }))
        actions[action] = frame[~held].reset_index(drop=True)
    if not reports:
        return plan
    return replace(plan, actions=actions, report=pd.concat([plan.report, *reports], ignore_index=True))


def drop_incomplete_creates(plan: Plan, required: Mapping[str, Iterable[str]]) -> Plan:
    """Move auto-creates that lack a required value (e.g. no last name) from the plan to the report.

    One Heymarket contact without a last name must not stop the whole run; it is reported as ``skipped``
    with the fix, and created once the value exists (or a default is configured).
    """
    frame = plan.actions["create_salesforce"]
    if not len(frame):
        return plan
    missing = pd.Series(False, index=frame.index)
    details = pd.Series("", index=frame.index)
    for obj, columns in required.items():
        rows = frame["object"] == obj
        for column in columns:
            if column not in frame:
                continue
            lacking = rows & frame[column].isna()
            missing |= lacking
            details = details.where(~lacking, details + f"{obj} needs a value for '{column}' (set "
                                    f"objects.{obj}.required_defaults or fill it in Heymarket); ")
    if not missing.any():
        return plan
    skipped = frame[missing]
    report_rows = pd.DataFrame({
        "kind": "skipped", "object": skipped["object"], "sf_id": None, "hm_id": skipped["hm_id"],
        "phone": skipped["phone"], "detail": details[missing].str.strip(), "winner_sf_id": None,
    })
    actions = {**plan.actions, "create_salesforce": frame[~missing].reset_index(drop=True)}
    report = pd.concat([plan.report, report_rows], ignore_index=True)
    return replace(plan, actions=actions, report=report)


def direction_keys(config: SyncConfig, objects: Iterable[ObjectName]) -> tuple[dict[str, tuple[str, ...]],
                                                                          dict[str, tuple[str, ...]]]:
    """Per object, the canonical keys that may be written to Heymarket and to Salesforce."""
    to_heymarket: dict[str, tuple[str, ...]] = {}
    to_salesforce: dict[str, tuple[str, ...]] = {}
    for name in objects:
        directions = config.field_directions(name)
        to_heymarket[name] = tuple(k for k in config.canonical_keys(name) if directions.get(k) != "to_salesforce")
        to_salesforce[name] = tuple(k for k in config.canonical_keys(name) if directions.get(k) != "to_heymarket")
    return to_heymarket, to_salesforce


def guard_inputs(plan: Plan, links: pd.DataFrame, salesforce: pd.DataFrame
                 ) -> tuple[dict[str, dict[str, int]], dict[str, int], dict[str, int], dict[str, int]]:
    """What the guards compare: plan counts, active links, in-scope records, invalid phones (per object)."""
    counts = plan.counts()
    linked: dict[str, int] = {}
    if len(links):
        active = links[links["status"] == "active"]
        linked = {str(k): int(v) for k, v in active["object"].value_counts().items()}
    in_scope: dict[str, int] = {}
    if len(salesforce):
        scoped = salesforce[salesforce["in_scope"].astype(bool)]
        in_scope = {str(k): int(v) for k, v in scoped["object"].value_counts().items()}
    invalid = {obj: int(kinds.get("invalid_phone", 0)) for obj, kinds in counts.items()}
    return counts, linked, in_scope, invalid


#: plan actions that write to each retry target
TARGET_ACTIONS: dict[Target, tuple[Action, ...]] = {"heymarket": HEYMARKET_WRITES, "salesforce": SALESFORCE_WRITES}


def settled_retries(plan: Plan, queued: pd.DataFrame, read_sf_ids: Iterable[str], read_hm_ids: Iterable[int],
                    objects: Iterable[ObjectName], heymarket_full: bool) -> pd.DataFrame:
    """Queued retries this plan shows are no longer needed: the record was read again and nothing is to be
    written to that target for it any more (its values changed back, it was deleted, it lost a duplicate
    contest...). Their errors can be resolved and their queue entries dropped; otherwise a moot retry would
    stay open in the error table and be re-read on every run for ever.

    A retry whose record this run did not read is left alone (nothing is known about it), and so is one of
    an object this run does not sync. A Heymarket-only retry (an auto-create), or a retry of a write to a
    Heymarket contact, whose contact is missing from a full Heymarket sweep is settled: the contact was deleted.

    :param queued: ``StateStore.due_retries`` frame (every queued entry, due or not).
    :param read_sf_ids / read_hm_ids: the ids in this run's extract frames.
    :returns: the settled rows of ``queued``.
    """
    if not len(queued):
        return queued
    read_sf, read_hm, objects = set(read_sf_ids), {int(i) for i in read_hm_ids}, set(objects)
    planned: dict[str, tuple[set[str], set[int]]] = {}
    for target, actions in TARGET_ACTIONS.items():
        frames = [plan.actions[a] for a in actions if len(plan.actions[a])]
        frame = pd.concat(frames, ignore_index=True) if frames else None
        sf = set(frame["sf_id"].dropna()) if frame is not None else set()
        hm = {int(h) for h in frame["hm_id"].dropna()} if frame is not None else set()
        planned[target] = (sf, hm)
    settled = []
    for row in queued.itertuples(index=False):
        if row.object not in objects or row.target not in planned:
            settled.append(False)
            continue
        sf_id = row.sf_id if isinstance(row.sf_id, str) else None
        hm_id = None if pd.isna(row.hm_id) else int(row.hm_id)
        sf_read, hm_read = sf_id is not None and sf_id in read_sf, hm_id is not None and hm_id in read_hm
        # The contact is missing from a full sweep (deleted): a retry of an auto-create from it, or of any write to
        # it, is moot. The record's write to its new contact, if any, is planned afresh and is not held back.
        gone = heymarket_full and hm_id is not None and not hm_read and (sf_id is None or row.target == "heymarket")
        planned_sf, planned_hm = planned[row.target]
        still_wanted = (sf_id is not None and sf_id in planned_sf) or (hm_id is not None and hm_id in planned_hm)
        settled.append(gone or ((sf_read or hm_read) and not still_wanted))
    return queued[settled].reset_index(drop=True)
