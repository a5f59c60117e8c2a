"""Field-level reconciliation of linked pairs: who changed what since the last sync, and who wins.

For every pair and canonical key there are three values: Salesforce's ``s``, Heymarket's ``h`` and the
link's memory ``y`` (the value last written to both). A side *changed* when its value differs from
``y``; comparing values, not timestamps, is what keeps our own writes from echoing back.

* only Salesforce changed -> write Heymarket; only Heymarket changed -> write Salesforce;
* both changed to the same value -> nothing to write, only the memory is refreshed;
* both changed differently -> the key's conflict policy picks the winner (``newest_wins`` compares the
  record's ``SystemModstamp`` with the contact's ``updated``; a tie goes to Salesforce);
* a key's direction masks the other side's changes: for a ``to_heymarket`` key a Heymarket edit is
  ignored (and overwritten by the next Salesforce change), for ``to_salesforce`` the reverse.

A first link has no memory (``y`` is null): a value present on one side only fills the other side, and
two different values are a conflict settled by the policy, with Salesforce as the initial source unless
the policy says ``heymarket_wins``.

The phone is the match key and belongs to Salesforce: where the pair's contact is not at the record's
number (the record moved to a free number, or the contact's phone was edited in Heymarket or is not a
valid number), the record's phone is written to Heymarket. Which contact a record is paired with at all is
decided before, by phone (:mod:`sync_engine.plan.rules`).

The SMS opt-out (key ``opt_out``) is consent, not a value: it follows the compliance rules of
:mod:`sync_engine.plan.consent` (an opt-out on either side wins; only Heymarket opts a person back in).

A pair re-made with another record (a takeover) is reconciled against the memory of the contact's old
pair: Salesforce values that differ from what the contact last got are written to Heymarket, and
Heymarket edits made since are Heymarket changes, settled by the policy like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sync_engine.plan.consent import decide_consent
from sync_engine.plan.inputs import NO_PHONE, phone_text, pick, same
from sync_engine.plan.model import PlanSettings
from sync_engine.vocabulary import OPT_OUT_KEY


@dataclass(frozen=True)
class Conflict:
    """Rows (of the reconciled pairs) where ``key`` changed differently on both sides."""

    key: str
    rows: np.ndarray  # bool mask
    salesforce_won: np.ndarray  # bool mask (meaningful where rows)


@dataclass(frozen=True)
class _Key:
    """One key of every pair: the three values and the decisions."""

    s: pa.Array
    h: pa.Array
    y: pa.Array
    to_heymarket: np.ndarray
    to_salesforce: np.ndarray
    owner_is_heymarket: bool  # for a key not written: whose value both sides keep (to_salesforce: Heymarket)
    memory_moved: np.ndarray  # agreed != y
    #: what both sides hold after the writes, where it is neither side's value now (the opt-out: a duplicate's
    #: ticked box can opt the person out on both sides at once); ``None``: picked from ``s`` / ``h``
    final: pa.Array | None = None


@dataclass(frozen=True)
class Reconciled:
    """The decisions per pair and key. Values (``final``: what both sides hold after the writes;
    ``agreed``: the link memory to store now) are materialised only for the rows a plan emits."""

    keys: dict[str, _Key]
    conflicts: list[Conflict]
    phone_to_heymarket: np.ndarray
    phone: np.ndarray  # int64: the record's phone (what both sides hold after the writes)
    phone_memory: np.ndarray  # int64: the phone to remember now (the contact's while a write is pending)
    memory_moved: np.ndarray  # any key's (or the phone's) memory changes

    @property
    def to_heymarket(self) -> dict[str, np.ndarray]:
        return {k: v.to_heymarket for k, v in self.keys.items()}

    @property
    def to_salesforce(self) -> dict[str, np.ndarray]:
        return {k: v.to_salesforce for k, v in self.keys.items()}

    def any_to_heymarket(self) -> np.ndarray:
        return np.logical_or.reduce([self.phone_to_heymarket, *(k.to_heymarket for k in self.keys.values())])

    def any_to_salesforce(self) -> np.ndarray:
        n = len(self.phone_to_heymarket)
        return np.logical_or.reduce([np.zeros(n, dtype=bool), *(k.to_salesforce for k in self.keys.values())])

    def final(self, key: str, rows: np.ndarray) -> pa.Array:
        k, index = self.keys[key], pa.array(rows, type=pa.int64())
        if k.final is not None:
            return k.final.take(index)
        s, h = k.s.take(index), k.h.take(index)
        owner = h if k.owner_is_heymarket else s
        return pick(k.to_salesforce[rows], h, pick(k.to_heymarket[rows], s, owner))

    def agreed(self, key: str, rows: np.ndarray) -> pa.Array:
        k, index = self.keys[key], pa.array(rows, type=pa.int64())
        s, h = k.s.take(index), k.h.take(index)
        owner = h if k.owner_is_heymarket else s
        return pick(k.to_heymarket[rows], h, pick(k.to_salesforce[rows], s, owner))

    def phone_final(self, rows: np.ndarray) -> pa.Array:
        return phone_text(self.phone[rows])

    def phone_agreed(self, rows: np.ndarray) -> pa.Array:
        return phone_text(self.phone_memory[rows])


def reconcile(
    settings: PlanSettings,
    sf_values: dict[str, pa.Array],
    hm_values: dict[str, pa.Array],
    synced: dict[str, pa.Array],
    sf_time: np.ndarray,
    hm_time: np.ndarray,
    phones: tuple[np.ndarray, np.ndarray, np.ndarray],
    opt_out_on: np.ndarray | None = None,
    duplicate_ticked: np.ndarray | None = None,
) -> Reconciled:
    """Decide every key of every pair at once (one vectorised pass per key).

    ``agreed`` is what the link table may store *before* the writes run: for a key about to be written it
    is the target's current value, so a write that fails is simply planned again on the next run; once a
    write succeeds the applier stores the row's ``final`` value for the keys it wrote.

    :param sf_values / hm_values / synced: key -> values per pair (contact not read: its synced values;
        a first link has no memory: all null)
    :param opt_out_on: per pair, its object syncs opt-outs (default: every pair); the opt-out key follows
        the compliance rules of :mod:`sync_engine.plan.consent`, never a policy or a direction
    :param duplicate_ticked: per pair, a duplicate record that lost the pair's phone has its box ticked
    :param sf_time / hm_time: int64 ns of the record's modstamp and the contact's ``updated``
    :param phones: (Salesforce phone, Heymarket phone, remembered phone) per pair, int64 E.164; the
        Heymarket phone is :data:`NO_PHONE` where the contact's phone is not a valid number
    """
    newest_sf = sf_time >= hm_time
    decided: dict[str, _Key] = {}
    conflicts: list[Conflict] = []
    moved = np.zeros(len(sf_time), dtype=bool)
    for key in settings.keys:
        s, h, y = sf_values[key], hm_values[key], synced[key]
        if key == OPT_OUT_KEY:
            on = np.ones(len(s), dtype=bool) if opt_out_on is None else opt_out_on
            consent = decide_consent(s, h, y, on, duplicate_ticked)
            moved |= consent.memory_moved
            decided[key] = _Key(consent.s, consent.h, y, consent.to_heymarket, consent.to_salesforce, False,
                                consent.memory_moved, consent.final)
            continue
        s_kept, h_kept, agree = same(s, y), same(h, y), same(s, h)
        direction = settings.direction(key)
        sf_changed = ~s_kept if direction != "to_salesforce" else np.zeros(len(s), dtype=bool)
        hm_changed = ~h_kept if direction != "to_heymarket" else np.zeros(len(h), dtype=bool)
        both = sf_changed & hm_changed & ~agree
        policy = settings.policy(key)
        if policy == "salesforce_wins":
            sf_wins = np.ones(len(s), dtype=bool)
        elif policy == "heymarket_wins":
            sf_wins = np.zeros(len(s), dtype=bool)
        else:
            sf_wins = newest_sf
        write_hm = (sf_changed & ~hm_changed & ~agree) | (both & sf_wins)
        write_sf = (hm_changed & ~sf_changed & ~agree) | (both & ~sf_wins)
        owner_is_hm = direction == "to_salesforce"
        # agreed = h where Heymarket is written, s where Salesforce is, else the owner's value.
        kept = ~write_hm & ~write_sf
        key_moved = (
            (write_hm & ~h_kept) | (write_sf & ~s_kept) | (kept & ~(h_kept if owner_is_hm else s_kept))
        )
        moved |= key_moved
        decided[key] = _Key(s, h, y, write_hm, write_sf, owner_is_hm, key_moved)
        if both.any():
            conflicts.append(Conflict(key, both, sf_wins & both))

    sf_phone, hm_phone, synced_phone = phones
    phone_write = sf_phone != hm_phone
    # Until the write succeeds the memory keeps the contact's phone (an unread contact is looked for at
    # the remembered number); a contact without a valid phone leaves the memory as it was.
    contact_phone = np.where(hm_phone != NO_PHONE, hm_phone, np.where(synced_phone != NO_PHONE, synced_phone,
                                                                       sf_phone))
    phone_memory = np.where(phone_write, contact_phone, sf_phone)
    moved |= phone_memory != synced_phone
    return Reconciled(decided, conflicts, phone_write, sf_phone, phone_memory, moved)
