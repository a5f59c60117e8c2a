"""The three-way plan: Salesforce records x Heymarket contacts x the link table -> actions.

:func:`plan` is pure: it reads three frames (docs/contracts.md) and returns a :class:`Plan`; it never
mutates its inputs and never talks to an API. The rules, in the order they are decided:

1. **Phones.** Salesforce phones are normalised to E.164 digits. A record without a phone is reported
   ``no_phone``, one whose phone can't be used ``invalid_phone`` (with the reason); neither takes part in
   matching, but an *active* link of such a record is left alone (reported ``skipped``).
2. **Link memory first.** Every link of an enabled object is checked against both frames:

   * Heymarket contact gone (full Heymarket sweep, id absent): ``unlink`` ``heymarket_deleted`` (the row
     is dropped, whatever its status). If the record is still in scope it is matched again below, so
     it is created in Heymarket again: Salesforce is the system of record for which in-scope records
     exist in Heymarket, and a contact deleted there comes back on the next sync. (A record absent from
     an incremental Salesforce frame is rebuilt from its remembered values for this.)
   * record deleted, or absent from a full extract of an ``all`` scope: ``delete_heymarket`` when the
     object's delete option is on, else ``unlink`` ``sf_deleted`` (the contact is kept, never
     auto-created back into Salesforce, because its link row remains).
   * record out of scope (``in_scope`` false, or absent from a full list-view extract): ``unlink``
     ``out_of_scope``; never a delete.
   * a remembered (``out_of_scope`` / ``sf_deleted``) link whose record is back in scope: ``link``
     ``back_in_scope`` / ``restored``, then reconciled against the remembered values.
3. **One record per phone.** Among in-scope, live records with the same phone one wins: the record
   already linked to that phone's contact, else a Contact before a Lead, then the latest modstamp, then
   the smallest Id. The others are reported ``duplicate`` (with ``winner_sf_id``) and get no action; a
   link they hold stays untouched.
4. **Winners without a link**: a phone any other link holds -> reported ``duplicate`` (the linked record
   wins); a Heymarket contact with the phone -> ``link`` ``phone_match`` and reconcile; else
   ``create_heymarket``.
5. **Linked pairs** are reconciled field by field (:mod:`sync_engine.plan.fields`). A Salesforce phone
   change is written to Heymarket unless another contact or link already has the new phone: then the
   pair is reported ``conflict`` and left alone.
6. **Heymarket contacts nobody knows** (no link of any status, no Salesforce record of any object or scope
   with the phone): ``create_salesforce`` as the configured object, else reported ``unlinked``. Contacts
   sharing a phone (Heymarket forbids it; defensive): the lowest id is used, the others reported.

Objects that are not enabled are ignored: no actions, no reports, their links untouched (their records
and links still count as owners of their phones, so nothing is created twice).

Applying (docs/contracts.md): every row carries the flat canonical values both sides should hold after
it, ``changed`` (the keys to send), and ``link`` rows carry ``agreed.<key>``, the memory to store now. An
applier refreshes a link's memory of a key only after the write of that key succeeded; so a failed write
is planned again on the next run, and a run killed at any point never writes a value back that it did
not read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_engine.phones import PhoneCache
from sync_engine.plan.fields import reconcile
from sync_engine.plan.inputs import (
    NAT,
    NO_PHONE,
    HeymarketRows,
    LinkRows,
    SalesforceRows,
    pick,
    positions_of_ids,
    read_heymarket,
    read_links,
    read_salesforce,
    synthetic_salesforce,
    take,
    take_np,
)
from sync_engine.plan.model import ObjectSettings, Plan, PlanSettings
from sync_engine.plan.output import PairContext, PlanOutput, changed_lists
from sync_engine.values import normalise_value

__all__ = ["ObjectSettings", "Plan", "PlanSettings", "normalise_value", "plan"]

_WHY = {
    "linked": "is already linked to this phone's Heymarket contact",
    "contact": "is a Contact (Contacts win over Leads)",
    "recent": "was modified more recently",
    "smaller_id": "has the smaller Id (same modification time)",
}


def plan(
    salesforce: pd.DataFrame,
    heymarket: pd.DataFrame,
    links: pd.DataFrame,
    settings: PlanSettings,
    default_region: str = "US",
    phone_cache: PhoneCache | None = None,
) -> Plan:
    """Plan one sync run (see the module docstring for the rules).

    :param salesforce: ``salesforce.parquet`` frame (Contacts and Leads together; ``phone_raw`` as stored)
    :param heymarket: ``heymarket.parquet`` frame
    :param links: the link table with ``synced`` expanded into ``synced.<key>`` columns
    :param settings: objects, policies, directions, compared keys and both extract modes
    :param default_region: region for Salesforce phones written without a country code
    :param phone_cache: raw phone -> (phone, reason) cache for that region; new raw values are added
    """
    sf = read_salesforce(salesforce, settings, default_region, phone_cache)
    hm = read_heymarket(heymarket, settings)
    lk = read_links(links, settings)
    return _Planner(settings, sf, hm, lk).run()


@dataclass
class _Pairs:
    """Pairs to reconcile: positions into the Salesforce rows, the Heymarket rows and the links (-1: none)."""

    sf: np.ndarray
    hm: np.ndarray
    link: np.ndarray
    reason: np.ndarray  # link reason for new/returning pairs, "" for pairs already active

    @classmethod
    def concat(cls, parts: list[_Pairs]) -> _Pairs:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("sf", "hm", "link", "reason")))


class _Planner:
    """One planning run; each method applies one group of rules and adds rows to the output."""

    def __init__(self, settings: PlanSettings, sf: SalesforceRows, hm: HeymarketRows, lk: LinkRows) -> None:
        self.settings = settings
        self.keys = settings.keys
        self.sf = sf
        self.hm = hm
        self.lk = lk
        self.out = PlanOutput(settings.keys)

    # ------------------------------------------------------------------ driver
    def run(self) -> Plan:
        self._classify_links()
        self._phone_owners()
        self._report_unusable_phones()
        winners, own = self._pick_winners()
        pairs = self._claim(winners, own)
        self._reconcile(pairs)
        self._unknown_heymarket_contacts()
        return self.out.build(self.noop)

    # ------------------------------------------------------------------ rule 2: link memory
    def _classify_links(self) -> None:
        sf, hm, lk, settings = self.sf, self.hm, self.lk, self.settings
        if sf.index is None:
            raise RuntimeError(
                "Salesforce rows without their record index; build them with read_salesforce()"
            )
        self.lk_sf = sf.index.positions(lk.object, lk.sf_id)
        self.lk_hm = positions_of_ids(lk.hm_id, hm.hm_id)
        absent = _per_object(
            lk.object, lambda n: settings.absent_means(n) if n in settings.objects else "unchanged"
        )
        delete_on = _per_object(
            lk.object, lambda n: n in settings.objects and settings.objects[n].delete_in_heymarket
        )
        delete_on = delete_on.astype(bool)
        enabled = lk.enabled
        active = lk.status == "active"
        dormant = ~active
        sf_present = self.lk_sf >= 0
        deleted = sf_present & take_np(sf.is_deleted, self.lk_sf, False).astype(bool)
        in_scope = sf_present & take_np(sf.in_scope, self.lk_sf, False).astype(bool)
        phone_ok = sf_present & take_np(sf.phone_ok, self.lk_sf, False).astype(bool)
        gone = deleted | (~sf_present & (absent == "deleted"))
        out_of_scope = (sf_present & ~deleted & ~in_scope) | (~sf_present & (absent == "out_of_scope"))
        alive = sf_present & ~deleted & in_scope
        unchanged = ~sf_present & (absent == "unchanged")

        self.dropped = enabled & settings.heymarket_full() & (self.lk_hm < 0)
        kept = enabled & ~self.dropped
        self.pair_absent = kept & active & unchanged
        self.own_link = np.full(sf.n, -1, dtype=np.int64)
        self.record_link = np.full(
            sf.n, -1, dtype=np.int64
        )  # the record's link, whatever its state (reports)
        self.record_link[self.lk_sf[sf_present & ~self.dropped]] = np.flatnonzero(sf_present & ~self.dropped)
        usable = kept & alive & phone_ok & (active | dormant)
        self.own_link[self.lk_sf[usable]] = np.flatnonzero(usable)
        # Records whose contact was deleted in Heymarket: matched again (and so re-created).
        self.recreated = np.zeros(sf.n, dtype=bool)
        self.recreated[self.lk_sf[self.dropped & sf_present]] = True
        resurrect = np.flatnonzero(self.dropped & active & unchanged)
        self.sf = sf = sf.append(synthetic_salesforce(lk, resurrect))
        self.own_link = np.concatenate([self.own_link, np.full(len(resurrect), -1, dtype=np.int64)])
        self.record_link = np.concatenate([self.record_link, np.full(len(resurrect), -1, dtype=np.int64)])
        self.recreated = np.concatenate([self.recreated, np.ones(len(resurrect), dtype=bool)])

        self.out.link_rows(self, "unlink", self.dropped, "heymarket_deleted")
        deletes = kept & active & gone
        self.out.link_rows(self, "delete_heymarket", deletes & delete_on, "sf_deleted")
        self.out.link_rows(self, "unlink", deletes & ~delete_on, "sf_deleted")
        self.out.link_rows(self, "unlink", kept & active & out_of_scope, "out_of_scope")
        skipped = np.flatnonzero(kept & active & alive & ~phone_ok)
        if len(skipped):
            reasons = sf.reason[self.lk_sf[skipped]]
            self.out.report_from_links(
                self,
                "skipped",
                skipped,
                [
                    f"linked record has no usable phone ({r}); its link is kept and nothing is synced"
                    for r in reasons
                ],
            )

    # ------------------------------------------------------------------ phone ownership
    def _phone_owners(self) -> None:
        sf, hm, lk = self.sf, self.hm, self.lk
        numbers = np.concatenate([sf.phone, hm.phone, lk.phone])
        codes, distinct = pd.factorize(numbers)
        codes = np.where(numbers == NO_PHONE, -1, codes).astype(np.int64)
        size = self.phone_codes = len(distinct)
        self.sf_code, self.hm_code, lk_code = np.split(codes, [sf.n, sf.n + hm.n])
        self.lk_code = lk_code
        hm_of_link = take_np(self.hm_code, self.lk_hm, -1).astype(np.int64)
        # A link's phone now: its contact's phone when the contact was read, else the remembered one.
        self.eff_code = np.where(self.lk_hm >= 0, hm_of_link, lk_code)

        # A link holds both its remembered phone and its contact's current one (they differ only when the
        # phone was edited in Heymarket): a new record takes neither.
        kept = np.flatnonzero(~self.dropped)
        second = kept[lk_code[kept] != self.eff_code[kept]]
        rows = np.concatenate([kept, second])
        codes = np.concatenate([self.eff_code[kept], lk_code[second]])
        count, owner = _owners(codes, np.ones(len(rows), dtype=bool), lk.hm_id[rows], size)
        self.link_count, self.link_owner = count, take_np(rows, owner, -1).astype(np.int64)
        self.hm_count, self.hm_owner = _owners(self.hm_code, hm.phone_ok, hm.hm_id, size)
        self.sf_known = np.zeros(size, dtype=bool)
        self.sf_known[self.sf_code[self.sf_code >= 0]] = True
        self.link_known = np.zeros(size, dtype=bool)
        self.link_known[lk_code[lk_code >= 0]] = True
        self.link_known[self.eff_code[self.eff_code >= 0]] = True

    def _holds(self, links: np.ndarray, code: np.ndarray) -> np.ndarray:
        """Whether each link (-1: none) holds the phone ``code`` (remembered or its contact's current)."""
        return (links >= 0) & (
            (take_np(self.eff_code, links, -1) == code) | (take_np(self.lk_code, links, -1) == code)
        )

    # ------------------------------------------------------------------ rule 1: phone reports
    def _report_unusable_phones(self) -> None:
        sf = self.sf
        considered = sf.enabled & sf.in_scope & ~sf.is_deleted & ~sf.synthetic
        for kind, rows in (
            ("no_phone", considered & (sf.reason == "empty")),
            ("invalid_phone", considered & (sf.reason != "empty") & ~sf.phone_ok),
        ):
            at = np.flatnonzero(rows)
            if len(at):
                self.out.report_from_sf(
                    self,
                    kind,
                    at,
                    [
                        f"phone {r}" if kind == "invalid_phone" else "no phone in the object's phone field"
                        for r in sf.reason[at]
                    ],
                )

    # ------------------------------------------------------------------ rule 3: one record per phone
    def _pick_winners(self) -> tuple[np.ndarray, np.ndarray]:
        sf = self.sf
        candidates = np.flatnonzero(sf.enabled & sf.in_scope & ~sf.is_deleted & sf.phone_ok)
        code = self.sf_code[candidates]
        own = self.own_link[candidates]
        linked_here = self._holds(own, code)
        counts = np.bincount(code, minlength=self.phone_codes) if len(code) else np.zeros(0, dtype=np.int64)
        shared = np.flatnonzero(counts[code] > 1) if len(code) else np.zeros(0, dtype=np.int64)
        losers = np.zeros(len(candidates), dtype=bool)
        if len(shared):
            rows = candidates[shared]
            order = pd.DataFrame(
                {
                    "code": code[shared],
                    "prio": np.where(linked_here[shared], 0, 1),
                    "rank": sf.rank[rows],
                    "recent": np.where(sf.modstamp[rows] == NAT, np.iinfo(np.int64).max, -sf.modstamp[rows]),
                    "sf_id": sf.sf_id.take(pa.array(rows)).to_numpy(zero_copy_only=False),
                    "at": shared,
                }
            ).sort_values(["code", "prio", "rank", "recent", "sf_id"], kind="stable")
            first = ~order["code"].duplicated()
            winner_at = order["at"].where(first).ffill().astype(np.int64).to_numpy()
            order_at = order["at"].to_numpy()
            lost = ~first.to_numpy()
            losers[order_at[lost]] = True
            self._report_duplicates(candidates, order_at[lost], winner_at[lost])
        winners = candidates[~losers]
        return winners, self.own_link[winners]

    def _report_duplicates(self, candidates: np.ndarray, lost: np.ndarray, won: np.ndarray) -> None:
        sf = self.sf
        winner_rows = candidates[won]
        loser_rows = candidates[lost]
        winner_ids = sf.sf_id.take(pa.array(winner_rows)).to_numpy(zero_copy_only=False)
        winner_objects = sf.object.take(pa.array(winner_rows)).to_numpy(zero_copy_only=False)
        w_own = self.own_link[winner_rows]
        w_linked = self._holds(w_own, self.sf_code[winner_rows])
        l_own = self.own_link[loser_rows]
        l_linked = self._holds(l_own, self.sf_code[loser_rows])
        details = []
        for i in range(len(lost)):
            w, los = winner_rows[i], loser_rows[i]
            if w_linked[i] and not l_linked[i]:
                why = _WHY["linked"]
            elif sf.rank[w] != sf.rank[los]:
                why = _WHY["contact"]
            elif sf.modstamp[w] != sf.modstamp[los]:
                why = _WHY["recent"]
            else:
                why = _WHY["smaller_id"]
            detail = f"phone shared with {winner_objects[i]} {winner_ids[i]}, which wins: it {why}"
            if l_own[i] >= 0:
                detail += (
                    f"; this record's link to Heymarket contact {self.lk.hm_id[l_own[i]]} is kept untouched"
                )
            details.append(detail)
        self.out.report_from_sf(
            self,
            "duplicate",
            loser_rows,
            details,
            winner_sf_id=winner_ids,
            hm_id=take_np(self.lk.hm_id, l_own, None),
        )

    # ------------------------------------------------------------------ rules 4 and 5: claims
    def _claim(self, winners: np.ndarray, own: np.ndarray) -> _Pairs:
        hm, lk = self.hm, self.lk
        code = self.sf_code[winners]
        free = own < 0
        # Winners without a link: the phone is someone else's link, a Heymarket contact, or new.
        taken_by = np.where(free, self.link_owner[code], -1)
        taken = free & (taken_by >= 0)
        if taken.any():
            owners = taken_by[taken]
            details = [
                f"phone belongs to Heymarket contact {lk.hm_id[o]}, already linked to {obj} {sid} (link {st})"
                for o, obj, sid, st in zip(
                    owners,
                    lk.object.take(pa.array(owners)).to_pylist(),
                    lk.sf_id.take(pa.array(owners)).to_pylist(),
                    lk.status[owners],
                    strict=True,
                )
            ]
            self.out.report_from_sf(
                self,
                "duplicate",
                winners[taken],
                details,
                winner_sf_id=lk.sf_id.take(pa.array(owners)).to_numpy(zero_copy_only=False),
                hm_id=lk.hm_id[owners],
            )
        match = free & ~taken & (self.hm_owner[code] >= 0)
        create = free & ~taken & ~match
        self.out.create_heymarket(self, winners[create])
        new_pairs = _Pairs(
            winners[match],
            self.hm_owner[code[match]],
            np.full(int(match.sum()), -1),
            np.full(int(match.sum()), "phone_match", dtype=object),
        )

        # Winners with a link: an active pair, or a remembered link whose record is back.
        linked = ~free
        rows, links = winners[linked], own[linked]
        phone_moved = code[linked] != self.lk_code[links]
        new_code = code[linked]
        others_link = self.link_count[new_code] - self._holds(links, new_code)
        own_hm = self.lk_hm[links]
        own_hm_code = take_np(self.hm_code, own_hm, -1)
        others_hm = self.hm_count[new_code] - (own_hm_code == new_code)
        clash = phone_moved & ((others_link > 0) | (others_hm > 0))
        if clash.any():
            owner_link = self.link_owner[new_code[clash]]
            owner_hm = np.where(
                others_link[clash] > 0,
                take_np(lk.hm_id, owner_link, -1),
                take_np(hm.hm_id, self.hm_owner[new_code[clash]], -1),
            )
            mine = lk.hm_id[links[clash]]
            holders = [
                "another Heymarket contact" if o in (m, -1) else f"Heymarket contact {o}"
                for o, m in zip(owner_hm.tolist(), mine.tolist(), strict=True)
            ]
            self.out.report_from_links(
                self,
                "conflict",
                links[clash],
                [
                    f"phone changed in Salesforce to a number {h} already has; the pair is not synced"
                    " until one of the two numbers changes"
                    for h in holders
                ],
            )
        ok = ~clash
        status = lk.status[links[ok]]
        reasons = np.where(
            status == "active", "", np.where(status == "sf_deleted", "restored", "back_in_scope")
        )
        linked_pairs = _Pairs(rows[ok], self.lk_hm[links[ok]], links[ok], reasons.astype(object))
        absent = np.flatnonzero(self.pair_absent)
        absent_pairs = _Pairs(
            np.full(len(absent), -1), self.lk_hm[absent], absent, np.full(len(absent), "", dtype=object)
        )
        return _Pairs.concat([new_pairs, linked_pairs, absent_pairs])

    # ------------------------------------------------------------------ rule 5: fields
    def _reconcile(self, pairs: _Pairs) -> None:
        sf, hm, lk = self.sf, self.hm, self.lk
        has_sf, has_hm, has_link = pairs.sf >= 0, pairs.hm >= 0, pairs.link >= 0
        synced = {k: take(lk.synced[k], pairs.link) for k in self.keys}
        sf_values = {k: pick(has_sf, take(sf.values[k], pairs.sf), synced[k]) for k in self.keys}
        hm_values = {k: pick(has_hm, take(hm.values[k], pairs.hm), synced[k]) for k in self.keys}
        link_phone = take_np(lk.phone, pairs.link, NO_PHONE)
        sf_phone = np.where(has_sf, take_np(sf.phone, pairs.sf, NO_PHONE), link_phone)
        synced_phone = np.where(has_link, link_phone, sf_phone)
        hm_phone = np.where(has_hm, take_np(hm.phone, pairs.hm, NO_PHONE), synced_phone)
        sf_time = np.where(
            has_sf, take_np(sf.modstamp, pairs.sf, NAT), take_np(lk.sf_modstamp, pairs.link, NAT)
        )
        hm_time = take_np(hm.updated, pairs.hm, NAT).astype(np.int64)
        result = reconcile(
            self.settings,
            sf_values,
            hm_values,
            synced,
            sf_time.astype(np.int64),
            hm_time,
            (sf_phone, hm_phone, synced_phone),
        )
        memory_moved = result.memory_moved
        to_hm, to_sf = result.any_to_heymarket(), result.any_to_salesforce()
        relink = pairs.reason != ""
        refresh = ~relink & memory_moved
        reasons = np.where(relink, pairs.reason, "refresh").astype(object)
        context = PairContext(self, pairs, sf_time, result)
        self.out.pair_rows("link", context, relink | refresh, reasons, phone="agreed", with_agreed=True)
        self.out.pair_rows(
            "update_heymarket",
            context,
            to_hm,
            phone="final",
            changed=changed_lists(self.keys, result.to_heymarket, result.phone_to_heymarket, to_hm),
        )
        self.out.pair_rows(
            "update_salesforce",
            context,
            to_sf,
            phone="agreed",
            changed=changed_lists(self.keys, result.to_salesforce, None, to_sf),
        )
        for conflict in result.conflicts:
            rows = np.flatnonzero(conflict.rows)
            policy = self.settings.policy(conflict.key)
            won = conflict.salesforce_won[rows]
            first = ~has_link[rows]
            details = [
                f"{conflict.key}: {'differs at first link' if f else 'changed in both systems'}; "
                f"{policy} -> {'Salesforce' if w else 'Heymarket'} value kept"
                for f, w in zip(first.tolist(), won.tolist(), strict=True)
            ]
            self.out.report_from_pairs(context, "conflict", rows, details)
        quiet = ~relink & ~refresh & ~to_hm & ~to_sf
        quiet_objects = pc.value_counts(context.objects.filter(pa.array(quiet))).to_pylist()
        self.noop = {str(c["values"]): int(c["counts"]) for c in quiet_objects}

    # ------------------------------------------------------------------ rule 6: unknown contacts
    def _unknown_heymarket_contacts(self) -> None:
        hm, lk, settings = self.hm, self.lk, self.settings
        rows = np.arange(hm.n)
        code = self.hm_code
        valid = hm.phone_ok
        winner = np.zeros(hm.n, dtype=bool)
        winner[valid] = self.hm_owner[code[valid]] == rows[valid]
        losers = np.flatnonzero(valid & ~winner)
        if len(losers):
            kept = hm.hm_id[self.hm_owner[code[losers]]]
            self.out.report_from_hm(
                self,
                "duplicate",
                losers,
                [
                    f"Heymarket contacts {k} and {h} share this phone; the lowest id is used"
                    for k, h in zip(kept.tolist(), hm.hm_id[losers].tolist(), strict=True)
                ],
            )
        invalid = np.flatnonzero(~valid)
        if len(invalid):
            self.out.report_from_hm(
                self, "invalid_phone", invalid, ["Heymarket phone is not E.164 digits"] * len(invalid)
            )
        linked = np.isin(hm.hm_id, lk.hm_id)
        known = np.zeros(hm.n, dtype=bool)
        known[valid] = self.sf_known[code[valid]] | self.link_known[code[valid]]
        unknown = np.flatnonzero(winner & ~linked & ~known)
        target = settings.auto_create
        if target != "none" and target in settings.enabled():
            self.out.create_salesforce(self, unknown, target)
        elif len(unknown):
            why = "auto_create is none" if target == "none" else f"auto_create object {target} is not enabled"
            self.out.report_from_hm(
                self, "unlinked", unknown, [f"no Salesforce record has this phone; {why}"] * len(unknown)
            )


# --------------------------------------------------------------------------------------------- helpers
def _owners(
    code: np.ndarray, usable: np.ndarray, ids: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per phone code: how many usable rows have it, and the row with the lowest id among them (-1: none)."""
    count = np.zeros(size, dtype=np.int64)
    owner = np.full(size, -1, dtype=np.int64)
    rows = np.flatnonzero(usable & (code >= 0))
    if len(rows):
        np.add.at(count, code[rows], 1)
        ordered = rows[np.lexsort((ids[rows], code[rows]))]
        first = np.r_[True, code[ordered][1:] != code[ordered][:-1]]
        owner[code[ordered[first]]] = ordered[first]
    return count, owner


def _per_object(names: pa.Array, decide: Callable[[str], object]) -> np.ndarray:
    """``decide(object name)`` per row, evaluated once per distinct name."""
    if not len(names):
        return np.zeros(0, dtype=object)
    encoded = pc.dictionary_encode(names)
    decided = np.array([decide(str(n)) for n in encoded.dictionary.to_pylist()], dtype=object)
    return decided[np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
