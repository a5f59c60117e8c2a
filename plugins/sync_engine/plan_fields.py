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

The phone is the match key and is synced from Salesforce only: a Salesforce phone change is written to
Heymarket; a phone edited in Heymarket alone is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sync_engine.plan_inputs import pick, same
from sync_engine.plan_model import PlanSettings


@dataclass
class Conflict:
    """Rows (of the reconciled pairs) where ``key`` changed differently on both sides."""

    key: str
    rows: np.ndarray  # bool mask
    salesforce_won: np.ndarray  # bool mask (meaningful where rows)


@dataclass
class Reconciled:
    """Per key: the values both sides should hold (``final``), what to remember now (``agreed``), and
    which side each key must be written to."""

    final: dict[str, pa.Array]
    agreed: dict[str, pa.Array]
    to_heymarket: dict[str, np.ndarray]
    to_salesforce: dict[str, np.ndarray]
    conflicts: list[Conflict]
    phone_final: pa.Array
    phone_agreed: pa.Array
    phone_to_heymarket: np.ndarray

    def any_to_heymarket(self) -> np.ndarray:
        return np.logical_or.reduce([self.phone_to_heymarket, *self.to_heymarket.values()])

    def any_to_salesforce(self) -> np.ndarray:
        n = len(self.phone_to_heymarket)
        return np.logical_or.reduce([np.zeros(n, dtype=bool), *self.to_salesforce.values()])


def reconcile(
    settings: PlanSettings,
    sf_values: dict[str, pa.Array],
    hm_values: dict[str, pa.Array],
    synced: dict[str, pa.Array],
    sf_time: np.ndarray,
    hm_time: np.ndarray,
    phones: tuple[pa.Array, pa.Array, pa.Array],
) -> Reconciled:
    """Decide every key of every pair at once (one vectorised pass per key).

    ``agreed`` is what the link table may store *before* the writes run: for a key about to be written it
    is the target's current value, so a write that fails is simply planned again on the next run; once a
    write succeeds the applier stores the row's ``final`` value for the keys it wrote.

    :param sf_values / hm_values / synced: key -> values per pair (absent side: its synced values)
    :param sf_time / hm_time: int64 ns of the record's modstamp and the contact's ``updated``
    :param phones: (Salesforce phone, Heymarket phone, remembered phone) per pair
    """
    newest_sf = sf_time >= hm_time
    final: dict[str, pa.Array] = {}
    agreed: dict[str, pa.Array] = {}
    to_hm: dict[str, np.ndarray] = {}
    to_sf: dict[str, np.ndarray] = {}
    conflicts: list[Conflict] = []
    for key in settings.keys:
        s, h, y = sf_values[key], hm_values[key], synced[key]
        direction = settings.direction(key)
        sf_changed = ~same(s, y) if direction != "to_salesforce" else np.zeros(len(s), dtype=bool)
        hm_changed = ~same(h, y) if direction != "to_heymarket" else np.zeros(len(h), dtype=bool)
        differ = ~same(s, h)
        both = sf_changed & hm_changed & differ
        policy = settings.policy(key)
        if policy == "salesforce_wins":
            sf_wins = np.ones(len(s), dtype=bool)
        elif policy == "heymarket_wins":
            sf_wins = np.zeros(len(s), dtype=bool)
        else:
            sf_wins = newest_sf
        write_hm = (sf_changed & ~hm_changed & differ) | (both & sf_wins)
        write_sf = (hm_changed & ~sf_changed & differ) | (both & ~sf_wins)
        owner = h if direction == "to_salesforce" else s
        final[key] = pick(write_sf, h, pick(write_hm, s, owner))
        agreed[key] = pick(write_hm, h, pick(write_sf, s, owner))
        to_hm[key] = write_hm
        to_sf[key] = write_sf
        if both.any():
            conflicts.append(Conflict(key, both, sf_wins & both))

    sf_phone, hm_phone, synced_phone = phones
    phone_write = ~same(sf_phone, synced_phone) & ~same(sf_phone, hm_phone)
    return Reconciled(
        final=final,
        agreed=agreed,
        to_heymarket=to_hm,
        to_salesforce=to_sf,
        conflicts=conflicts,
        phone_final=sf_phone,
        phone_agreed=pick(phone_write, hm_phone, sf_phone),
        phone_to_heymarket=phone_write,
    )
