"""The ownership rules of the plan (numbered as in :mod:`sync_engine.plan`), one function per rule.

Each function reads the inputs and the results of the rules before it and returns a small frozen result
of position arrays (into the Salesforce rows, the Heymarket rows or the links; -1 means none). Nothing
here builds a frame: :mod:`sync_engine.plan.planner` turns the results into the plan's rows.

Every step is vectorised over all records, contacts and links; the only Python loops run over distinct
object names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_engine.plan.consent import opted_out
from sync_engine.plan.fields import Reconciled, reconcile
from sync_engine.plan.inputs import (
    NAT,
    NO_PHONE,
    HeymarketRows,
    LinkRows,
    SalesforceRows,
    pick,
    positions_of_ids,
    synthetic_salesforce,
    take,
    take_np,
)
from sync_engine.plan.model import PlanSettings
from sync_engine.vocabulary import OPT_OUT_KEY

#: ``Contest.hold`` values: how a candidate's own link stands to the phone it has now.
AT_ITS_CONTACT, REMEMBERS_PHONE, NO_HOLD = 0, 1, 2


# --------------------------------------------------------------------------------------------- rule 2
@dataclass(frozen=True)
class LinkMemory:
    """What each link's record and contact are this run (rule 2).

    :param records: the Salesforce rows, plus (appended, ``synthetic``) the records of active links absent
        from an incremental Salesforce frame, rebuilt from memory: unchanged, so still live at their phone
    :param record: link -> its record's row in ``records`` (-1: not read and not rebuilt)
    :param contact: link -> its contact's row in the Heymarket frame (-1: not read)
    :param in_run: the link belongs to this run: its object is enabled, or it is ``released`` (a released
        contact belongs to no record, so to no object)
    :param dropped: its contact was deleted in Heymarket (full sweep): the row is dropped
    :param gone: an active link whose record was deleted (read deleted, or absent from a full ``all`` read)
    :param out_of_scope: an active link whose record left its scope
    :param delete_on: the link's object deletes the Heymarket contacts of deleted records
    :param own_link: record row -> its link (in this run, not dropped, any status but released), -1
    :param recreated: record row -> its contact was deleted in Heymarket (a create is a ``recreate``)
    """

    records: SalesforceRows
    record: np.ndarray
    contact: np.ndarray
    in_run: np.ndarray
    dropped: np.ndarray
    gone: np.ndarray
    out_of_scope: np.ndarray
    delete_on: np.ndarray
    own_link: np.ndarray
    recreated: np.ndarray

    @property
    def kept(self) -> np.ndarray:
        """Links of this run that stay (their contact was not deleted in Heymarket)."""
        return self.in_run & ~self.dropped


def remember_links(settings: PlanSettings, sf: SalesforceRows, hm: HeymarketRows, lk: LinkRows) -> LinkMemory:
    """Rule 2: match every link with its record and contact, and say what an absent one means."""
    if sf.index is None:
        raise RuntimeError("Salesforce rows without their record index; build them with read_salesforce()")
    record = sf.index.positions(lk.object, lk.sf_id)
    contact = positions_of_ids(lk.hm_id, hm.hm_id)
    enabled = set(settings.enabled())
    absent = _per_object(lk.object, lambda n: settings.absent_means(n) if n in enabled else "unchanged")
    delete_on = _per_object(lk.object, lambda n: n in enabled and settings.objects[n].delete_in_heymarket)
    released = lk.status == "released"
    active = lk.status == "active"
    in_run = lk.enabled | released
    read = record >= 0
    deleted = read & take_np(sf.is_deleted, record, False).astype(bool)
    in_scope = read & take_np(sf.in_scope, record, False).astype(bool)
    dropped = in_run & settings.heymarket_full() & (contact < 0)

    rebuilt = np.flatnonzero(in_run & active & ~read & (absent == "unchanged"))
    records = sf.append(synthetic_salesforce(lk, rebuilt))
    record = record.copy()
    record[rebuilt] = sf.n + np.arange(len(rebuilt))

    owned = in_run & ~dropped & ~released & (record >= 0)
    own_link = np.full(records.n, -1, dtype=np.int64)
    own_link[record[owned]] = np.flatnonzero(owned)
    recreated = np.zeros(records.n, dtype=bool)
    recreated[record[dropped & (record >= 0)]] = True
    return LinkMemory(
        records=records,
        record=record,
        contact=contact,
        in_run=in_run,
        dropped=dropped,
        gone=active & (deleted | (~read & (absent == "deleted"))),
        out_of_scope=active & ((read & ~deleted & ~in_scope) | (~read & (absent == "out_of_scope"))),
        delete_on=delete_on.astype(bool),
        own_link=own_link,
        recreated=recreated,
    )


# --------------------------------------------------------------------------------------------- phones
@dataclass(frozen=True)
class PhoneBook:
    """Every phone of the run as a code (-1: none), and who is at each number.

    :param record: record row -> its phone
    :param contact: Heymarket row -> its phone (-1: not a valid number)
    :param memory: link -> the phone it remembers
    :param now: link -> its contact's phone now: the Heymarket frame's when the contact was read, else the
        remembered one (-1: no valid phone, or the contact was deleted)
    :param contact_at: phone -> the Heymarket contact there (the lowest id if several), -1
    :param unread_at: phone -> the link (of this run) whose contact was not read and is remembered there, -1
    :param holder: Heymarket row -> the link holding that contact, -1
    :param foreign_at: phone -> a link of an object not in this run that holds it (remembered or now), -1
    :param known: phone -> some Salesforce record (any object, scope or state) or some link has it
    """

    size: int
    record: np.ndarray
    contact: np.ndarray
    memory: np.ndarray
    now: np.ndarray
    contact_at: np.ndarray
    unread_at: np.ndarray
    holder: np.ndarray
    foreign_at: np.ndarray
    known: np.ndarray


def phone_book(hm: HeymarketRows, lk: LinkRows, memory: LinkMemory) -> PhoneBook:
    """Codes for every phone, and the contact and the links at each one."""
    records = memory.records
    numbers = np.concatenate([records.phone, hm.phone, lk.phone])
    codes, distinct = pd.factorize(numbers)
    codes = np.where(numbers == NO_PHONE, -1, codes).astype(np.int64)
    size = len(distinct)
    record, contact, remembered = np.split(codes, [records.n, records.n + hm.n])
    read = memory.contact >= 0
    now = np.where(read, take_np(contact, memory.contact, -1), remembered)
    now = np.where(memory.dropped, -1, now).astype(np.int64)
    holder = np.full(hm.n, -1, dtype=np.int64)
    holder[memory.contact[read]] = np.flatnonzero(read)

    unread = np.flatnonzero(memory.kept & ~read)
    foreign = np.flatnonzero(~memory.in_run)
    foreign_rows = np.concatenate([foreign, foreign])
    foreign_codes = np.concatenate([remembered[foreign], now[foreign]])
    # A phone is known by a record, a link's memory or a contact a link holds; a contact at a known phone is never
    # auto-created. Not by what a link this run drops (its contact was deleted) brings: its memory, and its deleted
    # record, which a full read reads only by that link's id. The next full run would not know the phone, and would
    # auto-create the contact there: a full run followed by another would not be quiet.
    dropped_record = np.zeros(records.n, dtype=bool)
    dropped_record[memory.record[memory.dropped & (memory.record >= 0)]] = True
    lasting = ~(records.is_deleted & dropped_record)
    known = np.zeros(size, dtype=bool)
    for code in (record[lasting], remembered[~memory.dropped], now):
        known[code[code >= 0]] = True
    return PhoneBook(
        size=size,
        record=record,
        contact=contact,
        memory=remembered,
        now=now,
        contact_at=_lowest(contact, hm.hm_id, size),
        unread_at=_lowest(remembered[unread], lk.hm_id[unread], size, unread),
        holder=holder,
        foreign_at=_lowest(foreign_codes, lk.hm_id[foreign_rows], size, foreign_rows),
        known=known,
    )


# --------------------------------------------------------------------------------------------- rule 3
@dataclass(frozen=True)
class Contest:
    """One record per phone (rule 3).

    :param winners: record rows, one per phone
    :param losers: record rows that share their phone with a winner
    :param beaten_by: per loser, the winner's row
    :param hold: record row -> how its own link stands to its phone: :data:`AT_ITS_CONTACT` (the link's
        contact is at that number), :data:`REMEMBERS_PHONE` (the link remembers the number, its contact is
        elsewhere) or :data:`NO_HOLD`
    """

    winners: np.ndarray
    losers: np.ndarray
    beaten_by: np.ndarray
    hold: np.ndarray


def pick_winners(memory: LinkMemory, book: PhoneBook) -> Contest:
    """Rule 3: among live, in-scope records of enabled objects with a valid phone, one winner per phone."""
    records = memory.records
    candidates = np.flatnonzero(records.enabled & records.in_scope & ~records.is_deleted & records.phone_ok)
    code = book.record[candidates]
    own = memory.own_link[candidates]
    hold = np.full(records.n, NO_HOLD, dtype=np.int64)
    hold[candidates] = np.where(
        (own >= 0) & (take_np(book.now, own, -1) == code),
        AT_ITS_CONTACT,
        np.where((own >= 0) & (take_np(book.memory, own, -1) == code), REMEMBERS_PHONE, NO_HOLD),
    )
    counts = np.bincount(code, minlength=book.size) if len(code) else np.zeros(0, dtype=np.int64)
    shared = np.flatnonzero(counts[code] > 1) if len(code) else np.zeros(0, dtype=np.int64)
    if not len(shared):
        empty = np.zeros(0, dtype=np.int64)
        return Contest(winners=candidates, losers=empty, beaten_by=empty, hold=hold)
    rows = candidates[shared]
    order = pd.DataFrame(
        {
            "code": code[shared],
            "hold": hold[rows],
            "rank": records.rank[rows],
            "recent": np.where(records.modstamp[rows] == NAT, np.iinfo(np.int64).max, -records.modstamp[rows]),
            "sf_id": records.sf_id.take(pa.array(rows)).to_numpy(zero_copy_only=False),
            "row": rows,
        }
    ).sort_values(["code", "hold", "rank", "recent", "sf_id"], kind="stable")
    first = ~order["code"].duplicated().to_numpy()
    ordered = order["row"].to_numpy()
    winner_of = ordered[np.maximum.accumulate(np.where(first, np.arange(len(ordered)), 0))]
    lost = np.zeros(records.n, dtype=bool)
    lost[ordered[~first]] = True
    return Contest(
        winners=candidates[~lost[candidates]],
        losers=ordered[~first],
        beaten_by=winner_of[~first],
        hold=hold,
    )


# --------------------------------------------------------------------------------------------- rules 4-6
@dataclass(frozen=True)
class Pairs:
    """Pairs to reconcile: record row, Heymarket row (-1: contact not read), the link whose memory is the
    base (-1: a first link) and the ``link`` reason (``""``: the pair is already active)."""

    sf: np.ndarray
    hm: np.ndarray
    base: np.ndarray
    reason: np.ndarray

    @classmethod
    def concat(cls, parts: list[Pairs]) -> Pairs:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("sf", "hm", "base", "reason")))


@dataclass(frozen=True)
class Claims:
    """Each winner's contact (rules 4-6).

    :param pairs: winners with a contact: their own (kept, or following them to a free number), or the
        contact at their number (taken over, or matched by phone)
    :param creates: winners that get a new contact
    :param blocked: winners whose number belongs to a link outside this run, and that link (``blocked_by``)
    :param taken: per link: another record takes its contact over (the store replaces the row)
    :param moved: per link: its record took another contact (its own contact is released unless taken)
    """

    pairs: Pairs
    creates: np.ndarray
    blocked: np.ndarray
    blocked_by: np.ndarray
    taken: np.ndarray
    moved: np.ndarray


def claim_contacts(lk: LinkRows, memory: LinkMemory, book: PhoneBook, contest: Contest) -> Claims:
    """Rules 4-6: a winner keeps its contact when it is at its number; else it takes the contact at its
    number; else its contact follows it to the free number, unless another winner takes that contact."""
    winners = contest.winners
    code = book.record[winners]
    own = memory.own_link[winners]
    keeps = contest.hold[winners] == AT_ITS_CONTACT
    there = book.contact_at[code]
    holder = np.where(there >= 0, take_np(book.holder, there, -1), book.unread_at[code])
    owner = book.foreign_at[code]
    blocked = ~keeps & (owner >= 0)
    takes = ~keeps & ~blocked & ((there >= 0) | (holder >= 0))
    free = ~keeps & ~blocked & ~takes
    taken = np.zeros(lk.n, dtype=bool)
    taken[holder[takes & (holder >= 0)]] = True
    follows = free & (own >= 0) & ~take_np(taken, own, True).astype(bool)
    moved = np.zeros(lk.n, dtype=bool)
    moved[own[takes & (own >= 0)]] = True

    stays = keeps | follows
    status = lk.status[own[stays]]
    kept = Pairs(
        winners[stays],
        memory.contact[own[stays]],
        own[stays],
        np.where(status == "active", "", np.where(status == "sf_deleted", "restored", "back_in_scope")).astype(
            object
        ),
    )
    took = Pairs(
        winners[takes],
        there[takes],
        holder[takes],
        np.where(holder[takes] >= 0, "takeover", "phone_match").astype(object),
    )
    return Claims(
        pairs=Pairs.concat([kept, took]),
        creates=winners[free & ~follows],
        blocked=winners[blocked],
        blocked_by=owner[blocked],
        taken=taken,
        moved=moved,
    )


# --------------------------------------------------------------------------------------------- rule 7
@dataclass(frozen=True)
class LinkFates:
    """What happens to the links no winner keeps (rule 7); link positions.

    :param dropped: contact deleted in Heymarket: the row goes
    :param released: the record took another contact: memory of the old one alone
    :param deleted: active link of a deleted record, delete option on: the contact is deleted
    :param unlinked_deleted: the same with the delete option off: remembered as ``sf_deleted``
    :param out_of_scope: active link of a record out of scope: remembered as ``out_of_scope``
    :param skipped: active link of a live record without a usable phone: kept, nothing synced
    """

    dropped: np.ndarray
    released: np.ndarray
    deleted: np.ndarray
    unlinked_deleted: np.ndarray
    out_of_scope: np.ndarray
    skipped: np.ndarray


def settle_links(lk: LinkRows, memory: LinkMemory, claims: Claims) -> LinkFates:
    """Rule 7: links whose contact nobody takes over."""
    unclaimed = memory.kept & ~claims.taken
    stays = unclaimed & ~claims.moved & (lk.status == "active")
    gone = stays & memory.gone
    record = memory.record
    live = stays & ~memory.gone & ~memory.out_of_scope & (record >= 0)
    records = memory.records
    no_phone = live & ~take_np(records.synthetic, record, True).astype(bool) & ~take_np(
        records.phone_ok, record, True
    ).astype(bool)
    return LinkFates(
        dropped=np.flatnonzero(memory.dropped),
        released=np.flatnonzero(unclaimed & claims.moved),
        deleted=np.flatnonzero(gone & memory.delete_on),
        unlinked_deleted=np.flatnonzero(gone & ~memory.delete_on),
        out_of_scope=np.flatnonzero(stays & memory.out_of_scope),
        skipped=np.flatnonzero(no_phone),
    )


# --------------------------------------------------------------------------------------------- rule 8
@dataclass(frozen=True)
class Fields:
    """The field decisions of every pair (rule 8), with the inputs the rows are built from.

    :param beside: the contacts beside a pair (:func:`contacts_beside`) and their pairs; none without a phone book
    """

    pairs: Pairs
    result: Reconciled
    beside: tuple[np.ndarray, np.ndarray] = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def reconcile_pairs(settings: PlanSettings, records: SalesforceRows, hm: HeymarketRows, lk: LinkRows,
                    pairs: Pairs, contest: Contest | None = None, book: PhoneBook | None = None) -> Fields:
    """Rule 8: three-way diff of every pair against its base memory (none for a first link).

    :param contest: rule 3's winners and losers: a loser's ticked opt-out box is the person's consent too
        (:mod:`sync_engine.plan.consent`, rule 4)
    :param book: the phones: an opted-out contact beside a pair (:func:`contacts_beside`) is the person's
        consent too, like a loser's ticked box
    """
    keys = settings.keys
    has_hm, has_base = pairs.hm >= 0, pairs.base >= 0
    synced = {k: take(lk.synced[k], pairs.base) for k in keys}
    sf_index = pa.array(pairs.sf, type=pa.int64())
    sf_values = {k: records.values[k].take(sf_index) for k in keys}
    hm_values = {k: pick(has_hm, take(hm.values[k], pairs.hm), synced[k]) for k in keys}
    sf_phone = records.phone[pairs.sf]
    synced_phone = np.where(has_base, take_np(lk.phone, pairs.base, NO_PHONE), sf_phone)
    hm_phone = np.where(has_hm, take_np(hm.phone, pairs.hm, NO_PHONE), synced_phone)
    beside = contacts_beside(hm, book, pairs) if book is not None else Fields.beside
    result = reconcile(
        settings,
        sf_values,
        hm_values,
        synced,
        records.modstamp[pairs.sf].astype(np.int64),
        take_np(hm.updated, pairs.hm, NAT).astype(np.int64),
        (sf_phone, hm_phone, synced_phone),
        opt_out_on=opt_out_on(settings, records.object.take(sf_index)),
        duplicate_ticked=_opted_out_beside(settings, records, hm, pairs, contest, beside),
    )
    return Fields(pairs, result, beside)


def contacts_beside(hm: HeymarketRows, book: PhoneBook, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """Contacts read at the phone of a pair that are not its contact and that no link holds: one created by hand
    after the pair's contact was deleted, before a full sweep sees the delete (or, where Heymarket allows it, a
    second contact with the number). Consent rules 4 and 5 treat them like a duplicate record.

    :returns: their Heymarket rows, and per contact its pair (position in *pairs*)
    """
    none = np.zeros(0, dtype=np.int64)
    if not len(pairs.sf) or not hm.n:
        return none, none
    phone = book.record[pairs.sf]
    pair_at = np.full(book.size, -1, dtype=np.int64)  # one winner, so at most one pair, per phone
    pair_at[phone[phone >= 0]] = np.flatnonzero(phone >= 0)
    at = np.where(book.contact >= 0, take_np(pair_at, book.contact, -1), -1)
    paired = np.zeros(hm.n, dtype=bool)
    paired[pairs.hm[pairs.hm >= 0]] = True
    rows = np.flatnonzero((at >= 0) & ~paired & (book.holder < 0))
    return rows, at[rows]


def _opted_out_beside(settings: PlanSettings, records: SalesforceRows, hm: HeymarketRows, pairs: Pairs,
                      contest: Contest | None, beside: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    """Per pair: a loser that lost its phone to the pair's record has its box ticked, or a contact beside the pair
    is opted out (rule 4: either is the person's opt-out, news while the pair's memory says subscribed)."""
    if OPT_OUT_KEY not in settings.keys:
        return None
    ticked = duplicate_ticked(settings, records, contest)[pairs.sf] if contest is not None else np.zeros(
        len(pairs.sf), dtype=bool)
    contacts, at = beside
    ticked[at[opted_out(hm.values[OPT_OUT_KEY].take(pa.array(contacts, type=pa.int64())))]] = True
    return ticked


def duplicate_ticked(settings: PlanSettings, records: SalesforceRows, contest: Contest) -> np.ndarray:
    """Per record row: a loser that lost its phone to this record has its opt-out box ticked (and its object
    syncs opt-outs)."""
    ticked = np.zeros(records.n, dtype=bool)
    losers = contest.losers
    if OPT_OUT_KEY not in settings.keys or not len(losers):
        return ticked
    index = pa.array(losers, type=pa.int64())
    box = opted_out(records.values[OPT_OUT_KEY].take(index)) & opt_out_on(settings, records.object.take(index))
    ticked[contest.beaten_by[box]] = True
    return ticked


def opt_out_on(settings: PlanSettings, objects: pa.Array) -> np.ndarray:
    """Per pair, whether its record's object syncs opt-outs (``opt_out_field`` set)."""
    if not settings.opt_out_off:
        return np.ones(len(objects), dtype=bool)
    off = pc.is_in(objects, value_set=pa.array(sorted(settings.opt_out_off), type=objects.type))
    return ~np.asarray(off.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


# --------------------------------------------------------------------------------------------- rule 9
@dataclass(frozen=True)
class Strangers:
    """Heymarket contacts the rules above did not pair (rule 9); Heymarket rows.

    :param invalid: contacts without a valid phone
    :param duplicates: contacts sharing a phone with a contact of lower id (``kept``: that contact)
    :param unknown: contacts nobody knows: no link, no record of any object, scope or state has the phone
    """

    invalid: np.ndarray
    duplicates: np.ndarray
    kept: np.ndarray
    unknown: np.ndarray


def unknown_contacts(hm: HeymarketRows, book: PhoneBook) -> Strangers:
    """Rule 9: the contacts nobody knows, and the ones that can't take part in matching."""
    code = book.contact
    valid = code >= 0
    first = np.zeros(hm.n, dtype=bool)
    first[valid] = book.contact_at[code[valid]] == np.flatnonzero(valid)
    duplicates = np.flatnonzero(valid & ~first)
    known = np.zeros(hm.n, dtype=bool)
    known[valid] = book.known[code[valid]]
    return Strangers(
        invalid=np.flatnonzero(~valid),
        duplicates=duplicates,
        kept=book.contact_at[code[duplicates]],
        unknown=np.flatnonzero(first & (book.holder < 0) & ~known),
    )


# --------------------------------------------------------------------------------------------- helpers
def _lowest(codes: np.ndarray, ids: np.ndarray, size: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Per code, the row with the lowest id among the rows with that code (-1: none).

    :param rows: what to return for each input position (default: the position itself)
    """
    owner = np.full(size, -1, dtype=np.int64)
    at = np.flatnonzero(codes >= 0)
    if len(at):
        code = codes[at]
        single = np.bincount(code, minlength=size)[code] == 1
        owner[code[single]] = at[single]
        many = at[~single]
        if len(many):
            ordered = many[np.lexsort((ids[many], codes[many]))]
            first = np.r_[True, codes[ordered][1:] != codes[ordered][:-1]]
            owner[codes[ordered[first]]] = ordered[first]
    if rows is None:
        return owner
    return np.where(owner >= 0, take_np(rows, owner, -1), -1).astype(np.int64)


def _per_object(names: pa.Array, decide: Callable[[str], object]) -> np.ndarray:
    """``decide(object name)`` per row, evaluated once per distinct name."""
    if not len(names):
        return np.zeros(0, dtype=object)
    encoded = pc.dictionary_encode(names)
    decided = np.array([decide(str(n)) for n in encoded.dictionary.to_pylist()], dtype=object)
    return decided[np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
