"""Apply a validated plan, batch by batch, so that a run killed at any point loses nothing.

Every batch is: build payloads -> one API call -> read per-record outcomes -> commit the link changes, the
errors and the resolved errors of that batch in ONE state transaction. On the Heymarket side the next batch's
calls of two batches are on the wire at once and a batch is committed while the next ones are in flight (the
rate limit, not latency or our bookkeeping, should set the pace), so what a kill can leave behind is at most
two batches written to the API but not yet recorded; the next run's plan finds those records again and,
because both systems are keyed on the phone number, links them instead of creating duplicates.

The writers are protocols, so this module stays free of HTTP and of Airflow; the operators adapt
``HeymarketHook`` and ``SalesforceAccess`` to them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from sync_engine.frames import CUSTOM_PREFIX, HEYMARKET_FIXED_KEYS, FrameRow
from sync_engine.outcomes import RecordOutcome, written_outcome
from sync_engine.vocabulary import (
    CONSENT_FOLLOWERS,
    DUPLICATE_CONSENT,
    OPT_OUT_KEY,
    REFRESH,
    SALESFORCE_WRITES,
)

log = logging.getLogger(__name__)

#: Heymarket batches that may be sent but not yet committed to the state store at any moment: what a kill can
#: leave for the next run to find again by phone. It also caps how many calls can be on the wire at once.
MAX_UNRECORDED_BATCHES = 2


#: A value sent to a Salesforce field (its JSON scalar) and a record of them, by field API name.
SalesforceValue = str | int | float | bool | None
SalesforceRecord = dict[str, SalesforceValue]


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one record of a batch, in the batch's order."""

    ok: bool
    sf_id: str | None = None
    hm_id: int | None = None
    hm_uuid: str | None = None
    error_code: str | None = None
    message: str | None = None


class HeymarketWriter(Protocol):
    def upsert(self, contacts: list[dict[str, object]]) -> list[WriteOutcome]:
        """Create (no ``contact_id``) or update (``contact_id`` = uuid) contacts; outcomes in input order."""
        ...

    def delete(self, contacts: list[tuple[int, str | None]]) -> list[WriteOutcome]:
        """Delete contacts given as ``(hm_id, uuid)``; an already missing contact counts as deleted."""
        ...


class SalesforceWriter(Protocol):
    def create(self, object_name: str, records: list[SalesforceRecord]) -> list[WriteOutcome]: ...

    def update(self, object_name: str, records: list[SalesforceRecord]) -> list[WriteOutcome]: ...


@dataclass
class LinkChange:
    """A change to one row of the link table; ``synced`` values are merged key by key."""

    object: str
    sf_id: str
    hm_id: int
    hm_uuid: str | None
    phone: str
    status: str = "active"
    synced: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkDeletion:
    """A link row to drop: the pair (object, sf_id), or a released contact's memory (``sf_id`` None, by
    ``hm_id``)."""

    object: str
    sf_id: str | None
    hm_id: int | None = None


@dataclass(frozen=True)
class LinkRelease:
    """A pair whose record moved to another number: the row stays as the memory of ``hm_id`` alone."""

    object: str
    sf_id: str
    hm_id: int


@dataclass(frozen=True)
class ApplyFailure:
    """A write the target rejected in a batch: stored as a ``WriteRejection`` and queued as a retry (the
    fingerprint tells a changed record, retried at once, from one whose retry waits)."""

    object: str
    sf_id: str | None
    hm_id: int | None
    target: str
    action: str
    error_code: str
    message: str
    fingerprint: str
    #: The record's values (sent, last synced, phone) to mask in *message* before it is stored; never stored.
    scrub: tuple[str, ...] = field(default=(), repr=False, compare=False)


class ApplyState(Protocol):
    """The state store as the applier sees it: one call per batch, one transaction per call.

    Link changes are applied as deletes, then releases, then upserts (an upsert replaces any other row that
    held its contact: a takeover). *outcomes* are the batch's record-level outcomes (``hm_sync_record_outcome``),
    stored in the same transaction, so a killed run's outcomes are exactly its committed batches.
    """

    def commit_batch(
        self,
        run_id: str,
        upserts: Sequence[LinkChange],
        deletes: Sequence[LinkDeletion],
        failures: Sequence[ApplyFailure],
        succeeded: Sequence[tuple[str, str | None, int | None, str, str]],
        releases: Sequence[LinkRelease] = (),
        outcomes: Sequence[RecordOutcome] = (),
    ) -> None: ...


@dataclass
class ApplyResult:
    """Counts per object and action (``ok`` / ``failed``), plus whether the run stopped early."""

    counts: dict[str, dict[str, Counter[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Counter)))
    stopped: bool = False
    stop_reason: str | None = None

    def add(self, object_name: str, action: str, ok: bool) -> None:
        self.counts[object_name][action]["ok" if ok else "failed"] += 1

    @property
    def failed(self) -> int:
        return sum(c["failed"] for actions in self.counts.values() for c in actions.values())

    def as_dict(self) -> dict[str, dict[str, dict[str, int]]]:
        return {obj: {act: dict(c) for act, c in acts.items()} for obj, acts in self.counts.items()}


StopCheck = Callable[[], str | None]
"""Returns a reason to stop before the next batch (cancel, budget) or None to go on."""


def fingerprint(row: FrameRow, keys: Sequence[str]) -> str:
    """Hash of a write's values and phone: a failed record whose values or phone change is retried at once."""
    payload = json.dumps({"phone": row.get("phone"), **{k: row.get(k) for k in sorted(keys)}}, sort_keys=True,
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def fingerprint_keys(action: str, object_name: str, keys_to_heymarket: Mapping[str, Sequence[str]],
                     keys_to_salesforce: Mapping[str, Sequence[str]]) -> Sequence[str]:
    """The canonical keys a write's :func:`fingerprint` covers: what that action sends for that object (a
    delete sends none). The applier stores it with a rejected write; the plan stage compares it to tell a
    changed record (retried at once) from one whose retry waits for its backoff."""
    if action == "delete_heymarket":
        return ()
    if action in SALESFORCE_WRITES:
        return tuple(keys_to_salesforce.get(object_name, ()))
    return tuple(keys_to_heymarket.get(object_name, ()))


def batches(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start:start + size]


def _value(row: FrameRow, key: str) -> str | None:
    value = row.get(key)
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return str(value)


#: How much of an API error text is kept for scrubbing (it is cut to the error table's length afterwards).
MESSAGE_READ_LIMIT = 4_000


def record_values(row: FrameRow) -> tuple[str, ...]:
    """Every value an action row holds for its record (the values to write, the ``agreed.*`` ones, the phone in
    the forms an API may echo): what an error text about the record must not repeat."""
    values = {text for key, value in row.items()
              if key not in _ID_COLUMNS and (text := _value(row, key)) is not None}
    phone = _value(row, "phone")
    if phone:
        values.add(f"+{phone}")
    return tuple(sorted(values))


#: Columns of an action row that hold ids and codes, not the record's values.
_ID_COLUMNS = frozenset({"action", "object", "sf_id", "hm_id", "hm_uuid", "reason", "changed", "sf_modstamp",
                         "hm_rev", "hm_updated", "modstamp"})


def _id(value: object) -> int | None:
    """An id cell (``Int64`` frames hand over ``pd.NA`` for a missing one) as ``int`` or ``None``."""
    text = _value({"id": value}, "id")
    return int(float(text)) if text is not None else None


def changed_keys(row: FrameRow, keys: Sequence[str]) -> list[str]:
    """The canonical keys an action row changes (``changed`` is a comma-joined list; empty = all keys)."""
    raw = _value(row, "changed")
    if not raw:
        return list(keys)
    wanted = [k.strip() for k in raw.split(",") if k.strip()]
    return [k for k in wanted if k in keys or k == "phone"]


def writes_opt_out(row: FrameRow) -> bool:
    """The row writes the person's opt-out state: an update whose ``changed`` names it, or a create of an
    opted-out person (a create of a subscribed one leaves the default alone)."""
    if str(row.get("action", "")).startswith("create_"):
        return _value(row, OPT_OUT_KEY) == "true"
    return OPT_OUT_KEY in (_value(row, "changed") or "").split(",")


def consent_first(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that write an opt-out state first (stable otherwise): a run stopped early (cancel, API
    budget) has written the consent changes before anything else."""
    if not len(frame) or "action" not in frame:
        return frame
    first = np.array([writes_opt_out(row) for row in frame.to_dict("records")], dtype=bool)
    if not first.any() or first[: first.sum()].all():
        return frame
    return pd.concat([frame[first], frame[~first]], ignore_index=True)


#: The actions a run held back by a guard still applies, restricted to their opt-out (:func:`consent_only`).
CONSENT_ONLY_ACTIONS = ("update_heymarket", "update_salesforce")


def consent_only(actions: Mapping[str, pd.DataFrame], links: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """What a run whose guards tripped still writes: the opt-out changes of pairs already linked, and nothing else.

    A guard holds the plan back (mass delete, unusable phones), but never a person's opt-out (issue 15). What is
    kept: the ``update_heymarket`` / ``update_salesforce`` rows that write the opt-out (:func:`writes_opt_out`) of a
    pair active in *links* (the link table when the plan was made), each narrowed to the opt-out alone (``changed``
    ``opt_out``, the phone the link holds), so no other field and no phone change goes with it; and the opt-outs that
    follow such a pair's (reason ``duplicate``: a duplicate record's box, a contact at its phone). Creates, links,
    unlinks, deletes and the other fields stay held back: a pair the sync does not link yet may rest on the very
    phones a guard distrusts, and its opt-out waits for the guard's cause to be fixed with the rest.

    :param links: the plan-time link table (``links.parquet``); ``None`` or empty: nothing is linked, nothing kept.
    :returns: every action of *actions*, empty but for the opt-out updates.
    """
    phones: dict[tuple[str, str, int | None], str] = {}
    linked_contacts: set[object] = set()
    linked_records: set[object] = set()
    if links is not None and len(links):
        active = links[links["status"] == "active"]
        phones = {(str(o), str(s), int(h)): str(p) for o, s, h, p in
                  zip(active["object"], active["sf_id"], active["hm_id"], active["phone"], strict=True)}
        linked_contacts = {int(h) for h in active["hm_id"]}
        linked_records = {(o, s) for o, s, _ in phones}
    kept: dict[str, pd.DataFrame] = {}
    for action, frame in actions.items():
        if action not in CONSENT_ONLY_ACTIONS or frame is None or not len(frame) or OPT_OUT_KEY not in frame:
            kept[action] = frame.iloc[0:0] if frame is not None else frame
            continue
        rows = frame.to_dict("records")
        pair = [(str(r["object"]), str(r["sf_id"]), _id(r.get("hm_id"))) for r in rows]
        # An opt-out that follows a pair's (reason duplicate) joins no pair: kept when that pair is linked. A
        # duplicate record's row names the pair's contact; the row of a contact at the pair's phone, its record.
        salesforce = action == "update_salesforce"
        followed = [h if salesforce else (o, s) for o, s, h in pair]
        linked = linked_contacts if salesforce else linked_records
        duplicate = [r.get("reason") == DUPLICATE_CONSENT and f in linked for r, f in zip(rows, followed, strict=True)]
        keep = np.array([writes_opt_out(r) and ((o, s, h) in phones or d)
                         for r, (o, s, h), d in zip(rows, pair, duplicate, strict=True)], dtype=bool)
        narrowed = frame[keep].copy()
        narrowed["changed"] = OPT_OUT_KEY
        narrowed["phone"] = [phones.get(p, str(r["phone"])) for p, r, k in zip(pair, rows, keep.tolist(), strict=True)
                             if k]
        kept[action] = narrowed.reset_index(drop=True)
    return kept


def consent_count(row: FrameRow, target: str) -> str | None:
    """The consent count (``vocabulary.CONSENT_COUNTS``) of a successful write of ``row`` to ``target``."""
    if OPT_OUT_KEY not in row or not writes_opt_out(row):
        return None
    if _value(row, OPT_OUT_KEY) == "true":
        return f"opt_out_{target}"
    return "opt_in_salesforce" if target == "salesforce" else None


def heymarket_payload(
    row: FrameRow, keys: Sequence[str], field_ids: Mapping[str, str], uuid: str | None,
) -> dict[str, object]:
    """A v2 contact for create (no uuid) or update (``contact_id``).

    Every mapped key is sent with its winning value (empty string clears a value), so a payload re-sent
    after a kill writes the same thing again. The opt-out is the exception: ``is_opted_out: true`` is sent
    only by a row that writes it (:func:`writes_opt_out`) and ``false`` never (only the person opts back in
    in Heymarket), so a name update can't re-subscribe someone who texted STOP after the extract.
    """
    contact: dict[str, object] = {"phone": _value(row, "phone")}
    custom: dict[str, str] = {}
    for key in keys:
        if key == OPT_OUT_KEY:
            if _value(row, key) == "true" and writes_opt_out(row):
                contact["is_opted_out"] = True
            continue
        value = _value(row, key) or ""
        if key in HEYMARKET_FIXED_KEYS:
            contact[key] = value
        elif key.startswith(CUSTOM_PREFIX):
            fid = field_ids.get(key[len(CUSTOM_PREFIX):])
            if fid is not None:
                custom[str(fid)] = value
    if custom:
        contact["custom"] = custom
    if uuid:
        contact["contact_id"] = uuid
    return contact


def salesforce_payload(
    row: FrameRow,
    keys: Sequence[str],
    sf_fields: Mapping[str, str],
    defaults: Mapping[str, SalesforceValue] | None = None,
) -> SalesforceRecord:
    """A Salesforce record for create (``defaults`` given) or update (``Id`` from the row)."""
    record: SalesforceRecord = {}
    for key in keys:
        sf_field = sf_fields.get(key)
        if sf_field is None:
            continue
        value: SalesforceValue = _value(row, key)
        if key == "phone" and value:
            value = f"+{value}"
        elif key == OPT_OUT_KEY:
            value = value == "true"  # a checkbox takes a boolean, never null
        record[sf_field] = value
    if defaults is not None:
        for name, default in defaults.items():
            if record.get(name) in (None, ""):
                record[name] = default
    else:
        record["Id"] = _value(row, "sf_id")
    return record


class PlanApplier:
    """Applies the Heymarket-side and Salesforce-side actions of a plan.

    :param keys: canonical keys compared for this run (``first``, ``last``, ``email``, ``custom.*``).
    :param keys_to_heymarket / keys_to_salesforce: per object, the keys each direction may write.
    :param stop: called before every batch; a reason stops the apply cleanly (recorded as partial).
    :param consent_stop: called instead of *stop* before a Salesforce batch of opt-out writes (default: *stop*):
        the Salesforce apply passes the cancel and lock checks without the budget reserve.
    """

    def __init__(
        self,
        state: ApplyState,
        run_id: str,
        keys_to_heymarket: Mapping[str, Sequence[str]],
        keys_to_salesforce: Mapping[str, Sequence[str]],
        stop: StopCheck = lambda: None,
        batch_size_heymarket: int = 100,
        batch_size_salesforce: int = 200,
        progress: Callable[[str], None] = log.info,
        heymarket_in_flight: int = 2,
        consent_stop: StopCheck | None = None,
    ) -> None:
        if not 1 <= heymarket_in_flight <= MAX_UNRECORDED_BATCHES:
            raise ValueError(f"heymarket_in_flight must be between 1 and {MAX_UNRECORDED_BATCHES}, "
                             f"got {heymarket_in_flight}")
        self.state = state
        self.run_id = run_id
        self.keys_to_heymarket = keys_to_heymarket
        self.keys_to_salesforce = keys_to_salesforce
        self.stop = stop
        self.batch_size_heymarket = batch_size_heymarket
        self.batch_size_salesforce = batch_size_salesforce
        self.progress = progress
        self.heymarket_in_flight = heymarket_in_flight
        self.consent_stop = consent_stop

    # ---------------------------------------------------------------- Heymarket side
    def apply_heymarket(
        self,
        actions: Mapping[str, pd.DataFrame],
        writer: HeymarketWriter,
        field_ids: Mapping[str, str],
        uuid_by_hm_id: Mapping[int, str],
        delete_objects: set[str],
        result: ApplyResult,
    ) -> ApplyResult:
        """Links and unlinks first (state only), then creates and updates, then deletes."""
        self._apply_state_only(actions.get("link"), actions.get("unlink"), uuid_by_hm_id, result)
        parts = [f for f in (actions.get("create_heymarket"), actions.get("update_heymarket"))
                 if f is not None and len(f)]
        writes = consent_first(pd.concat(parts, ignore_index=True)) if parts else pd.DataFrame()
        if not self._write_heymarket(writes, writer, field_ids, uuid_by_hm_id, result):
            return result

        deletes = actions.get("delete_heymarket")
        if deletes is not None and len(deletes):
            deletes = deletes[deletes["object"].isin(delete_objects)]
            done = 0
            for batch in batches(deletes, self.batch_size_heymarket):
                if self._should_stop(result):
                    return result
                rows = batch.to_dict("records")
                targets = [(int(r["hm_id"]), uuid_by_hm_id.get(int(r["hm_id"]))) for r in rows]
                outcomes = writer.delete(targets)
                self._commit_deletes(rows, outcomes, result)
                done += len(rows)
                self.progress(f"Heymarket deletes: {done}/{len(deletes)} contacts")
        return result

    def _write_heymarket(self, writes: pd.DataFrame, writer: HeymarketWriter, field_ids: Mapping[str, str],
                         uuid_by_hm_id: Mapping[int, str], result: ApplyResult) -> bool:
        """Creates and updates, one call per batch; False when a stop request ended them early.

        A call spends far longer waiting on the network than its batch takes to build or commit, so the next
        batch's payloads are built and the previous batch is committed while calls are on the wire, and up to
        ``heymarket_in_flight`` calls are on the wire at once (committed in order as they return). With two,
        a full sync runs at the pace the hook's rate limiting allows rather than at one round trip per batch.
        A batch is sent only when fewer than ``MAX_UNRECORDED_BATCHES`` are sent but not committed.
        """
        done = 0
        pending: deque[tuple[list[FrameRow], Future[list[WriteOutcome]]]] = deque()
        workers = self.heymarket_in_flight
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="heymarket-writes") as sender:
            try:
                for batch in batches(writes, self.batch_size_heymarket):
                    if self._should_stop(result):
                        break
                    rows = batch.to_dict("records")
                    payloads = self._heymarket_payloads(rows, field_ids, uuid_by_hm_id)
                    while len(pending) >= MAX_UNRECORDED_BATCHES:
                        done += self._commit_oldest(pending, result)
                        self.progress(f"Heymarket creates/updates: {done}/{len(writes)} records")
                    pending.append((rows, sender.submit(writer.upsert, payloads)))
                while pending:
                    done += self._commit_oldest(pending, result)
                    self.progress(f"Heymarket creates/updates: {done}/{len(writes)} records")
            except Exception:
                self._record_answered(pending, result)
                raise
        return not result.stopped

    def _record_answered(self, pending: deque[tuple[list[FrameRow], Future[list[WriteOutcome]]]],
                         result: ApplyResult) -> None:
        """After a failed call, still commit the other batches whose calls went through, so the error that
        ends the task does not also leave written contacts unrecorded."""
        while pending:
            rows, sent = pending.popleft()
            try:
                self._commit_heymarket_writes(rows, sent.result(), result)
            except Exception:  # noqa: BLE001 - the first error is the one re-raised; this batch is re-planned
                log.warning("A Heymarket batch of %d records could not be recorded either; the next run "
                            "plans it again", len(rows))

    def _commit_oldest(self, pending: deque[tuple[list[FrameRow], Future[list[WriteOutcome]]]],
                       result: ApplyResult) -> int:
        rows, sent = pending.popleft()
        return self._commit_heymarket_writes(rows, sent.result(), result)

    def _heymarket_payloads(self, rows: list[FrameRow], field_ids: Mapping[str, str],
                            uuid_by_hm_id: Mapping[int, str]) -> list[dict[str, object]]:
        payloads = []
        for row in rows:
            keys = self.keys_to_heymarket.get(str(row["object"]), ())
            uuid = None
            if row["action"] == "update_heymarket":
                uuid = uuid_by_hm_id.get(int(row["hm_id"]))
            payloads.append(heymarket_payload(row, keys, field_ids, uuid))
        return payloads

    def _apply_state_only(self, links: pd.DataFrame | None, unlinks: pd.DataFrame | None,
                          uuid_by_hm_id: Mapping[int, str], result: ApplyResult) -> None:
        """``link`` rows (a takeover too: the store replaces the row that held the contact) and ``unlink`` rows
        (``heymarket_deleted``: drop the row; ``released``: keep it as the contact's memory alone; otherwise
        set the status), in one state transaction."""
        upserts: list[LinkChange] = []
        deletes: list[LinkDeletion] = []
        releases: list[LinkRelease] = []
        outcomes: list[RecordOutcome] = []
        for row in (links.to_dict("records") if links is not None else []):
            obj = str(row["object"])
            synced = {k: _value(row, f"agreed.{k}") for k in self._all_keys(obj) if f"agreed.{k}" in row}
            hm_id = int(row["hm_id"])
            upserts.append(LinkChange(obj, str(row["sf_id"]), hm_id, uuid_by_hm_id.get(hm_id),
                                      str(row["phone"]), "active", synced))
            if row.get("reason") != REFRESH:
                # A refresh only moves an existing pair's memory (a conflict, or both sides changed alike);
                # the history must not report it as a new link.
                result.add(obj, "link", True)
                outcomes.append(written_outcome("link", obj, str(row["sf_id"]), hm_id, ok=True,
                                                reason=_value(row, "reason")))
        for row in (unlinks.to_dict("records") if unlinks is not None else []):
            obj = str(row["object"])
            reason = str(row.get("reason") or "")
            sf_id = _value(row, "sf_id")
            if reason == "heymarket_deleted":
                deletes.append(LinkDeletion(obj, sf_id, int(row["hm_id"]) if sf_id is None else None))
            elif reason == "released":
                releases.append(LinkRelease(obj, str(sf_id), int(row["hm_id"])))
            else:
                status = "sf_deleted" if reason == "sf_deleted" else "out_of_scope"
                hm_id = int(row["hm_id"])
                upserts.append(LinkChange(obj, str(row["sf_id"]), hm_id, uuid_by_hm_id.get(hm_id),
                                          str(row["phone"]), status, {}))
            result.add(obj, "unlink", True)
            outcomes.append(written_outcome("unlink", obj, sf_id, _id(row.get("hm_id")), ok=True, reason=reason))
        if upserts or deletes or releases:
            self.state.commit_batch(self.run_id, upserts, deletes, [], [], releases=releases, outcomes=outcomes)

    def _commit_heymarket_writes(self, rows: list[FrameRow], outcomes: Sequence[WriteOutcome],
                                 result: ApplyResult) -> int:
        """One state transaction for one written batch; returns the number of records it covered."""
        upserts: list[LinkChange] = []
        failures: list[ApplyFailure] = []
        succeeded: list[tuple[str, str | None, int | None, str, str]] = []
        record_outcomes: list[RecordOutcome] = []
        for row, outcome in zip(rows, outcomes, strict=True):
            obj, action = str(row["object"]), str(row["action"])
            keys = list(self.keys_to_heymarket.get(obj, ()))
            written = [*keys, "phone"] if action == "create_heymarket" else changed_keys(row, keys)
            follower = row.get("reason") in CONSENT_FOLLOWERS
            if outcome.ok and outcome.hm_id is not None:
                # A contact at an opted-out pair's phone joins no pair, and its write is the contact's alone.
                sf_id = None if follower else str(row["sf_id"])
                synced = {k: _value(row, k) for k in written if k != "phone"}
                if not follower:
                    upserts.append(LinkChange(obj, str(row["sf_id"]), int(outcome.hm_id), outcome.hm_uuid,
                                              str(row["phone"]), "active", synced))
                succeeded.append((obj, sf_id, int(outcome.hm_id), "heymarket", action))
                self._count_consent(obj, row, keys, "heymarket", result)
                record_outcomes.append(written_outcome(action, obj, sf_id, int(outcome.hm_id), ok=True,
                                                       reason=_value(row, "reason"), fields=written))
            else:
                failure = self._failure(row, "heymarket", outcome)
                failures.append(failure)
                record_outcomes.append(written_outcome(action, obj, failure.sf_id, failure.hm_id, ok=False,
                                                       reason=failure.error_code, fields=written))
            result.add(obj, action, outcome.ok)
        self.state.commit_batch(self.run_id, upserts, [], failures, succeeded, outcomes=record_outcomes)
        return len(rows)

    def _commit_deletes(self, rows: list[FrameRow], outcomes: Sequence[WriteOutcome],
                        result: ApplyResult) -> None:
        deletes: list[LinkDeletion] = []
        failures: list[ApplyFailure] = []
        succeeded: list[tuple[str, str | None, int | None, str, str]] = []
        record_outcomes: list[RecordOutcome] = []
        for row, outcome in zip(rows, outcomes, strict=True):
            obj = str(row["object"])
            if outcome.ok:
                deletes.append(LinkDeletion(obj, str(row["sf_id"])))
                succeeded.append((obj, str(row["sf_id"]), int(row["hm_id"]), "heymarket", "delete_heymarket"))
            else:
                failures.append(self._failure(row, "heymarket", outcome))
            record_outcomes.append(written_outcome(
                "delete_heymarket", obj, _value(row, "sf_id"), int(row["hm_id"]), ok=outcome.ok,
                reason=_value(row, "reason") if outcome.ok else failures[-1].error_code))
            result.add(obj, "delete_heymarket", outcome.ok)
        self.state.commit_batch(self.run_id, [], deletes, failures, succeeded, outcomes=record_outcomes)

    # ---------------------------------------------------------------- Salesforce side
    def apply_salesforce(
        self,
        actions: Mapping[str, pd.DataFrame],
        writer: SalesforceWriter,
        sf_fields: Mapping[str, Mapping[str, str]],
        required_defaults: Mapping[str, Mapping[str, SalesforceValue]],
        uuid_by_hm_id: Mapping[int, str],
        result: ApplyResult,
    ) -> ApplyResult:
        """Auto-creates (Contact or Lead, with required-field defaults), then updates, per object.

        The writes that set an opt-out state go first, all of them (creates and updates of every object), before
        any other write; their batches are checked against ``consent_stop`` (a cancel, a lost lock) and not
        against ``stop`` (which adds the Salesforce budget reserve): no guard holds back an opt-out.
        """
        for consent in (True, False):
            for action in SALESFORCE_WRITES:
                frame = actions.get(action)
                if frame is None or not len(frame):
                    continue
                first = np.array([writes_opt_out(row) for row in frame.to_dict("records")], dtype=bool)
                part = frame[first == consent]
                if len(part) and not self._write_salesforce(action, part, consent, writer, sf_fields,
                                                            required_defaults, uuid_by_hm_id, result):
                    return result
        return result

    def _write_salesforce(self, action: str, frame: pd.DataFrame, consent: bool, writer: SalesforceWriter,
                          sf_fields: Mapping[str, Mapping[str, str]],
                          required_defaults: Mapping[str, Mapping[str, SalesforceValue]],
                          uuid_by_hm_id: Mapping[int, str], result: ApplyResult) -> bool:
        """One action's rows (the consent writes, or the others), per object in batches; False once stopped."""
        for obj, group in frame.groupby("object", sort=True):
            obj = str(obj)
            keys = list(self.keys_to_salesforce.get(obj, ()))
            done = 0
            for batch in batches(group, self.batch_size_salesforce):
                if self._should_stop(result, consent):
                    return False
                rows = batch.to_dict("records")
                if action == "create_salesforce":
                    payloads = [salesforce_payload(r, [*keys, "phone"], sf_fields[obj],
                                                   required_defaults.get(obj, {})) for r in rows]
                    outcomes = writer.create(obj, payloads)
                else:
                    payloads = [salesforce_payload(r, changed_keys(r, keys), sf_fields[obj]) for r in rows]
                    outcomes = writer.update(obj, payloads)
                self._commit_salesforce_writes(obj, action, rows, outcomes, keys, uuid_by_hm_id, result)
                done += len(rows)
                what = "opt-out " if consent else ""
                self.progress(f"Salesforce {obj} {what}{action.split('_')[0]}s: {done}/{len(group)} records")
        return True

    def _commit_salesforce_writes(
        self, obj: str, action: str, rows: list[FrameRow], outcomes: Sequence[WriteOutcome],
        keys: list[str], uuid_by_hm_id: Mapping[int, str], result: ApplyResult,
    ) -> None:
        upserts: list[LinkChange] = []
        failures: list[ApplyFailure] = []
        succeeded: list[tuple[str, str | None, int | None, str, str]] = []
        record_outcomes: list[RecordOutcome] = []
        for row, outcome in zip(rows, outcomes, strict=True):
            # A record that follows a person's opt-out (a duplicate, or at the phone of a contact this run creates)
            # joins no pair: its write is the record's alone, whatever contact the row names.
            follower = row.get("reason") in CONSENT_FOLLOWERS
            hm_id = None if follower else _id(row.get("hm_id"))
            written = keys if action == "create_salesforce" else changed_keys(row, keys)
            sent = [*written, "phone"] if action == "create_salesforce" else written
            if outcome.ok:
                sf_id = outcome.sf_id or _value(row, "sf_id")
                synced = {k: _value(row, k) for k in written if k != "phone"}
                if hm_id is not None:
                    upserts.append(LinkChange(obj, str(sf_id), hm_id, uuid_by_hm_id.get(hm_id), str(row["phone"]),
                                              "active", synced))
                succeeded.append((obj, sf_id, hm_id, "salesforce", action))
                self._count_consent(obj, row, keys, "salesforce", result)
                record_outcomes.append(written_outcome(action, obj, sf_id, hm_id, ok=True,
                                                       reason=_value(row, "reason"), fields=sent))
            else:
                failure = self._failure(row, "salesforce", outcome)
                failures.append(failure)
                record_outcomes.append(written_outcome(action, obj, failure.sf_id, hm_id, ok=False,
                                                       reason=failure.error_code, fields=sent))
            result.add(obj, action, outcome.ok)
        self.state.commit_batch(self.run_id, upserts, [], failures, succeeded, outcomes=record_outcomes)

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _count_consent(obj: str, row: FrameRow, keys: Sequence[str], target: str, result: ApplyResult) -> None:
        """Count a written opt-out state (``opted_out`` / ``opted_in`` in the history) besides the write."""
        if OPT_OUT_KEY not in keys:
            return
        name = consent_count(row, target)
        if name is not None:
            result.add(obj, name, True)

    def _all_keys(self, obj: str) -> list[str]:
        return sorted(set(self.keys_to_heymarket.get(obj, ())) | set(self.keys_to_salesforce.get(obj, ())))

    def _failure(self, row: FrameRow, target: str, outcome: WriteOutcome) -> ApplyFailure:
        """The rejected write, keyed on what it wrote: a consent follower's on its target's id alone, so that its
        error and retry never stand for the pair whose state it follows."""
        follower = row.get("reason") in CONSENT_FOLLOWERS
        keys = fingerprint_keys(str(row["action"]), str(row["object"]), self.keys_to_heymarket,
                                self.keys_to_salesforce)
        return ApplyFailure(
            object=str(row["object"]),
            sf_id=None if follower and target == "heymarket" else _value(row, "sf_id"),
            hm_id=None if follower and target == "salesforce" else _id(row.get("hm_id")),
            target=target,
            action=str(row["action"]),
            error_code=outcome.error_code or "UNKNOWN",
            # cut only after scrubbing (record_errors): a cut here could split a value the scrubber must find
            message=(outcome.message or "")[:MESSAGE_READ_LIMIT],
            fingerprint=fingerprint(row, keys),
            scrub=record_values(row),
        )

    def _should_stop(self, result: ApplyResult, consent: bool = False) -> bool:
        """Whether to stop before the next batch (*consent*: a batch of opt-out writes, checked against
        ``consent_stop`` when one is given: the guards that hold back other writes never hold back those)."""
        reason = (self.consent_stop or self.stop)() if consent else self.stop()
        if reason:
            result.stopped = True
            result.stop_reason = reason
            self.progress(f"Stopping before the next batch: {reason}")
            return True
        return False
