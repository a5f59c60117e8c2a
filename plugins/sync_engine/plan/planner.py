"""The planner's top level: :func:`plan` applies the numbered rules of :mod:`sync_engine.plan` in order
(:mod:`sync_engine.plan.rules`), then turns their results into the plan's rows and reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from sync_engine.phones import PhoneCache
from sync_engine.plan.consent import duplicates_to_follow, opted_out
from sync_engine.plan.inputs import (
    NO_PHONE,
    HeymarketRows,
    LinkRows,
    SalesforceRows,
    read_heymarket,
    read_links,
    read_salesforce,
    take_np,
)
from sync_engine.plan.model import Plan, PlanSettings
from sync_engine.plan.output import (
    Frame,
    PairView,
    build_plan,
    changed_lists,
    contact_consent_rows,
    contact_report,
    create_heymarket_rows,
    create_salesforce_rows,
    created_consent_rows,
    duplicate_consent_rows,
    link_report,
    link_rows,
    pair_report,
    pair_rows,
    record_report,
)
from sync_engine.plan.rules import (
    AT_ITS_CONTACT,
    Claims,
    Contest,
    Fields,
    LinkFates,
    LinkMemory,
    Strangers,
    claim_contacts,
    duplicate_ticked,
    opt_out_on,
    phone_book,
    pick_winners,
    reconcile_pairs,
    remember_links,
    settle_links,
    unknown_contacts,
)
from sync_engine.vocabulary import OPT_OUT_KEY


def plan(
    salesforce: pd.DataFrame,
    heymarket: pd.DataFrame,
    links: pd.DataFrame,
    settings: PlanSettings,
    default_region: str = "US",
    phone_cache: PhoneCache | None = None,
) -> Plan:
    """Plan one sync run (the rules are in the docstring of :mod:`sync_engine.plan`).

    :param salesforce: ``salesforce.parquet`` frame (Contacts and Leads together; ``phone_raw`` as stored)
    :param heymarket: ``heymarket.parquet`` frame
    :param links: the link table with ``synced`` expanded into ``synced.<key>`` columns
    :param settings: objects, policies, directions, compared keys and both extract modes
    :param default_region: region for Salesforce phones written without a country code
    :param phone_cache: raw phone -> (phone, reason) cache for that region; new raw values are added
        (Heymarket phones that need a parse are looked up as ``+<digits>``)
    """
    # 1. Phones: both systems' numbers normalised and validated.
    sf = read_salesforce(salesforce, settings, default_region, phone_cache)
    hm = read_heymarket(heymarket, settings, default_region, phone_cache, sf.valid_phones())
    lk = read_links(links, settings)
    # 2. Link memory: each link's record and contact this run.
    memory = remember_links(settings, sf, hm, lk)
    book = phone_book(hm, lk, memory)
    # 3. Candidates and winners: one record per phone.
    contest = pick_winners(memory, book)
    # 4.-6. Each winner's contact: its own at its number, else the one at its number, else its own follows.
    claims = claim_contacts(lk, memory, book, contest)
    # 7. Links no winner took: released, deleted, unlinked, or left alone.
    fates = settle_links(lk, memory, claims)
    # 8. Fields of every pair, three-way against the memory of the contact's last pair.
    fields = reconcile_pairs(settings, memory.records, hm, lk, claims.pairs, contest, book)
    # 9. Heymarket contacts nobody knows: auto-created or reported.
    strangers = unknown_contacts(hm, book)
    return _assemble(settings, hm, lk, memory, contest, claims, fates, fields, strangers)


def _assemble(
    settings: PlanSettings,
    hm: HeymarketRows,
    lk: LinkRows,
    memory: LinkMemory,
    contest: Contest,
    claims: Claims,
    fates: LinkFates,
    fields: Fields,
    strangers: Strangers,
) -> Plan:
    records = memory.records
    view = PairView(records, hm, lk, fields.pairs, fields.result)
    pair_actions, noop = _pair_actions(settings, view)
    actions: dict[str, list[Frame]] = {
        "create_heymarket": [create_heymarket_rows(settings, records, claims.creates, memory.recreated)],
        "create_salesforce": [],
        **{action: [frame] for action, frame in pair_actions.items()},
    }
    for action, frames in _link_actions(settings, lk, memory, fates).items():
        actions.setdefault(action, []).extend(frames)
    if OPT_OUT_KEY in settings.keys:
        actions["update_salesforce"].append(_duplicate_consent(settings, view, contest))
        actions["update_heymarket"].append(_contact_consent(settings, view, fields.beside))
        actions["create_heymarket"] = [_opted_out_creates(frame, records, claims, contest, settings)
                                       for frame in actions["create_heymarket"]]
        actions["update_salesforce"].append(_created_consent(settings, records, claims, contest))
    reports = [
        *_phone_reports(lk, memory),
        _duplicate_report(lk, memory, contest),
        _blocked_report(lk, memory, claims, contest),
        _skipped_report(lk, memory, fates),
        *_conflict_reports(settings, view),
        *_contact_reports(hm, strangers),
    ]
    target = settings.auto_create
    if target != "none" and target in settings.enabled():
        actions["create_salesforce"].append(create_salesforce_rows(settings, hm, strangers.unknown, target))
    elif len(strangers.unknown):
        why = "auto_create is none" if target == "none" else f"auto_create object {target} is not enabled"
        details = [f"no Salesforce record has this phone; {why}"] * len(strangers.unknown)
        reports.append(contact_report("unlinked", hm, strangers.unknown, details))
    return build_plan(settings.keys, actions, reports, noop)


# --------------------------------------------------------------------------------------------- actions
def _link_actions(settings: PlanSettings, lk: LinkRows, memory: LinkMemory, fates: LinkFates
                  ) -> dict[str, list[Frame]]:
    """Rules 2 and 7: the rows of links nobody keeps."""
    records, record = memory.records, memory.record
    modstamp = np.where(record >= 0, take_np(records.modstamp, record, 0), lk.sf_modstamp)
    keys = settings.keys
    return {
        "delete_heymarket": [link_rows(keys, "delete_heymarket", "sf_deleted", lk, fates.deleted, modstamp)],
        "unlink": [
            link_rows(keys, "unlink", "heymarket_deleted", lk, fates.dropped, modstamp),
            link_rows(keys, "unlink", "released", lk, fates.released, modstamp),
            link_rows(keys, "unlink", "sf_deleted", lk, fates.unlinked_deleted, modstamp),
            link_rows(keys, "unlink", "out_of_scope", lk, fates.out_of_scope, modstamp),
        ],
    }


def _pair_actions(settings: PlanSettings, view: PairView) -> tuple[dict[str, Frame], dict[str, int]]:
    """Rule 8: links, updates both ways, and the pairs that needed nothing (``noop`` per object)."""
    keys, result, pairs = settings.keys, view.result, view.pairs
    to_hm, to_sf = result.any_to_heymarket(), result.any_to_salesforce()
    relink = pairs.reason != ""
    refresh = ~relink & result.memory_moved
    reasons = np.where(relink, pairs.reason, "refresh").astype(object)
    actions = {
        "link": pair_rows(keys, "link", view, relink | refresh, reasons, phone="agreed", with_agreed=True),
        "update_heymarket": pair_rows(
            keys, "update_heymarket", view, to_hm, phone="final",
            changed=changed_lists(keys, result.to_heymarket, result.phone_to_heymarket, to_hm),
        ),
        # The Salesforce apply runs after the Heymarket one: the phone the link holds by then is the final
        # one (a Heymarket phone write that failed is queued, and its retry re-reads the contact).
        "update_salesforce": pair_rows(
            keys, "update_salesforce", view, to_sf, phone="final",
            changed=changed_lists(keys, result.to_salesforce, None, to_sf),
        ),
    }
    quiet = ~relink & ~refresh & ~to_hm & ~to_sf
    # Winners are records of enabled objects, Contacts (rank 0) or Leads (rank 1).
    ranks = np.bincount(view.records.rank[pairs.sf[quiet]], minlength=2)
    noop = {name: int(ranks[rank]) for rank, name in enumerate(("Contact", "Lead")) if ranks[rank]}
    return actions, noop


def _duplicate_consent(settings: PlanSettings, view: PairView, contest: Contest) -> Frame:
    """Consent rule 5 (:mod:`sync_engine.plan.consent`): losing records whose box differs from the final opt-out
    state of the pair that won their phone get that state."""
    losers = contest.losers
    if not len(losers):
        return None
    records, pairs = view.records, view.pairs
    pair_of = np.full(records.n, -1, dtype=np.int64)
    pair_of[pairs.sf] = np.arange(len(pairs.sf))
    at = pair_of[contest.beaten_by]
    paired = at >= 0
    losers, at = losers[paired], at[paired]
    if not len(losers):
        return None
    index = pa.array(losers, type=pa.int64())
    on = (opt_out_on(settings, records.object.take(index))
          & opt_out_on(settings, records.object.take(pa.array(pairs.sf[at], type=pa.int64()))))
    follow = duplicates_to_follow(records.values[OPT_OUT_KEY].take(index), view.result.final(OPT_OUT_KEY, at), on)
    return duplicate_consent_rows(settings.keys, view, losers[follow], at[follow])


def _created_consent(settings: PlanSettings, records: SalesforceRows, claims: Claims, contest: Contest) -> Frame:
    """Consent rule 5 for a person new to Heymarket: when the contact this run creates is opted out (the winner's
    box, or a duplicate's: :func:`_opted_out_creates`), every record with the phone whose box is clear, the winner's
    included, is ticked in the same run, not one run later when the created contact is read back."""
    creates = claims.creates
    if not len(creates):
        return None
    created = pa.array(creates, type=pa.int64())
    box = opted_out(records.values[OPT_OUT_KEY].take(created)) | duplicate_ticked(settings, records, contest)[creates]
    person_out = np.zeros(records.n, dtype=bool)  # per winner: the contact this run creates is opted out
    person_out[creates] = box & opt_out_on(settings, records.object.take(created))
    if not person_out.any():
        return None
    losers = contest.losers
    following = np.concatenate([creates, losers])
    winner = np.concatenate([creates, contest.beaten_by])
    index = pa.array(following, type=pa.int64())
    clear = ~opted_out(records.values[OPT_OUT_KEY].take(index)) & opt_out_on(settings, records.object.take(index))
    return created_consent_rows(settings.keys, records, following[person_out[winner] & clear])


def _contact_consent(settings: PlanSettings, view: PairView, beside: tuple[np.ndarray, np.ndarray]) -> Frame:
    """Consent rule 5 on Heymarket's side: a contact beside an opted-out pair (``rules.contacts_beside``: read at its
    phone, no link holds it) is opted out too; the STOP is the phone's. The pair's own contact is written by the
    pair's row."""
    contacts, at = beside
    if not len(contacts):
        return None
    index = pa.array(contacts, type=pa.int64())
    out = (opted_out(view.result.final(OPT_OUT_KEY, at)) & opt_out_on(settings, view.objects(at))
           & ~opted_out(view.hm.values[OPT_OUT_KEY].take(index)))
    return contact_consent_rows(settings.keys, view, contacts[out], at[out])


def _opted_out_creates(frame: Frame, records: SalesforceRows, claims: Claims, contest: Contest,
                       settings: PlanSettings) -> Frame:
    """Consent rule 4 for a person new to Heymarket: a duplicate's ticked box creates the contact opted out."""
    if frame is None or not len(frame):
        return frame
    ticked = duplicate_ticked(settings, records, contest)
    chosen = pa.array(claims.creates[ticked[claims.creates]], type=pa.int64())
    if not len(chosen):
        return frame
    wanted = pd.MultiIndex.from_arrays([records.object.take(chosen).to_pylist(), records.sf_id.take(chosen).to_pylist()])
    hit = pd.MultiIndex.from_arrays([frame["object"], frame["sf_id"]]).isin(wanted)
    frame = frame.copy()
    frame.loc[hit, OPT_OUT_KEY] = "true"
    frame.loc[hit, "changed"] = [c if OPT_OUT_KEY in str(c).split(",") else f"{c},{OPT_OUT_KEY}"
                                 for c in frame.loc[hit, "changed"]]
    return frame


# --------------------------------------------------------------------------------------------- reports
def _phone_reports(lk: LinkRows, memory: LinkMemory) -> list[Frame]:
    """Rule 1: records of this run without a usable phone (``hm_id``: the contact of their link, if any)."""
    records = memory.records
    considered = records.enabled & records.in_scope & ~records.is_deleted & ~records.synthetic
    empty = np.flatnonzero(considered & (records.reason == "empty"))
    invalid = np.flatnonzero(considered & (records.reason != "empty") & ~records.phone_ok)
    return [
        record_report("no_phone", records, empty, ["no phone in the object's phone field"] * len(empty),
                      hm_id=take_np(lk.hm_id, memory.own_link[empty], None)),
        record_report("invalid_phone", records, invalid, [f"phone {r}" for r in records.reason[invalid]],
                      hm_id=take_np(lk.hm_id, memory.own_link[invalid], None)),
    ]


_WHY = {
    "contact": "is already linked to this phone's Heymarket contact",
    "memory": "is linked with this phone remembered (its contact has another number now)",
    "object": "is a Contact (Contacts win over Leads)",
    "recent": "was modified more recently",
    "smaller_id": "has the smaller Id (same modification time)",
}


def _duplicate_report(lk: LinkRows, memory: LinkMemory, contest: Contest) -> Frame:
    """Rule 3: records that share their phone with the winner."""
    losers, winners = contest.losers, contest.beaten_by
    if not len(losers):
        return None
    records = memory.records
    winner_ids = records.sf_id.take(_index(winners)).to_numpy(zero_copy_only=False)
    winner_objects = records.object.take(_index(winners)).to_pylist()
    loser_links = memory.own_link[losers]
    details = []
    for w, los, obj, sid, own in zip(winners.tolist(), losers.tolist(), winner_objects, winner_ids,
                                     loser_links.tolist(), strict=True):
        if contest.hold[w] != contest.hold[los]:
            why = _WHY["contact" if contest.hold[w] == AT_ITS_CONTACT else "memory"]
        elif records.rank[w] != records.rank[los]:
            why = _WHY["object"]
        elif records.modstamp[w] != records.modstamp[los]:
            why = _WHY["recent"]
        else:
            why = _WHY["smaller_id"]
        detail = f"phone shared with {obj} {sid}, which wins: it {why}"
        if own >= 0:
            detail += f"; this record's link to Heymarket contact {lk.hm_id[own]} is kept untouched"
        details.append(detail)
    return record_report("duplicate", records, losers, details, hm_id=take_np(lk.hm_id, loser_links, None),
                         winner_sf_id=winner_ids)


def _blocked_report(lk: LinkRows, memory: LinkMemory, claims: Claims, contest: Contest) -> Frame:
    """Rule 5: winners whose number is held by a link of an object this run does not sync."""
    rows, owners = claims.blocked, claims.blocked_by
    if not len(rows):
        return None
    objects = lk.object.take(_index(owners)).to_pylist()
    sf_ids = lk.sf_id.take(_index(owners)).to_numpy(zero_copy_only=False)
    details = [
        f"phone belongs to Heymarket contact {lk.hm_id[o]}, linked to {obj} {sid} (link {lk.status[o]}), "
        f"which is not part of this run; nothing is synced for this record until a run syncs {obj}s too"
        for o, obj, sid in zip(owners.tolist(), objects, sf_ids, strict=True)
    ]
    return record_report("duplicate", memory.records, rows, details, hm_id=lk.hm_id[owners], winner_sf_id=sf_ids)


def _skipped_report(lk: LinkRows, memory: LinkMemory, fates: LinkFates) -> Frame:
    """Rule 7: active links of records that lost their usable phone."""
    at = fates.skipped
    if not len(at):
        return None
    record = memory.record[at]
    reasons = memory.records.reason[record]
    phone = np.where(memory.records.phone[record] != NO_PHONE, memory.records.phone[record], lk.phone[at])
    details = [f"linked record has no usable phone ({r}); its link is kept and nothing is synced" for r in reasons]
    return link_report("skipped", lk, at, phone, details)


def _conflict_reports(settings: PlanSettings, view: PairView) -> list[Frame]:
    """Rule 8: one row per pair and key changed differently on both sides."""
    frames = []
    first_link = view.pairs.base < 0
    for conflict in view.result.conflicts:
        rows = np.flatnonzero(conflict.rows)
        policy = settings.policy(conflict.key)
        won = conflict.salesforce_won[rows]
        details = [
            f"{conflict.key}: {'differs at first link' if f else 'changed in both systems'}; "
            f"{policy} -> {'Salesforce' if w else 'Heymarket'} value kept"
            for f, w in zip(first_link[rows].tolist(), won.tolist(), strict=True)
        ]
        frames.append(pair_report("conflict", view, rows, details))
    return frames


def _contact_reports(hm: HeymarketRows, strangers: Strangers) -> list[Frame]:
    """Rule 9: contacts that take no part in matching."""
    duplicates, invalid = strangers.duplicates, strangers.invalid
    return [
        contact_report(
            "duplicate", hm, duplicates,
            [f"Heymarket contacts {k} and {h} share this phone; the lowest id is used"
             for k, h in zip(hm.hm_id[strangers.kept].tolist(), hm.hm_id[duplicates].tolist(), strict=True)],
        ),
        contact_report(
            "invalid_phone", hm, invalid,
            [f"Heymarket phone {r}; the contact takes no part in matching and is never auto-created"
             for r in hm.reason[invalid]],
        ),
    ]


def _index(positions: np.ndarray) -> pa.Array:
    return pa.array(positions, type=pa.int64())
