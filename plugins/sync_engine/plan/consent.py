"""Compliance rules for a person's SMS opt-out: which way an opt-out state goes between the two systems.

The opt-out is consent, not a field value: texting someone who replied STOP is a legal risk (TCPA, CTIA),
so it never follows a conflict policy or a field direction. Per linked pair, with Salesforce's checkbox
``s``, Heymarket's ``is_opted_out`` ``h`` and the state both sides had at the last sync ``y`` (the link's
memory, ``synced.opt_out``; none for a first link or an object that just switched opt-out sync on):

1. **An opt-out on either side since the last sync opts the person out on both sides.** Heymarket opted
   out (``h``) -> the Salesforce box is ticked; the box ticked since the last sync (``s and not y``) ->
   the contact is opted out in Heymarket.
2. **Only Heymarket opts a person back in** (the person texted START: ``y`` and not ``h``): the Salesforce
   box is cleared, unless the box was ticked since the last sync (rule 1 wins: a new opt-out is newer
   consent than a remembered one).
3. **Un-ticking the box never re-subscribes anyone.** While Heymarket still says opted out, the box is
   ticked again on the next run (``h`` decides: Salesforce cannot opt a person in).

All three are one formula: both sides end at ``h or (s and not y)``. Heymarket is written only to opt out
(never ``is_opted_out: false``), so after the writes both sides agree and the next plan writes nothing.

**Duplicates.** A person may have several live Salesforce records with their phone (a duplicate report: one
record wins the phone and is paired, the others lose). The consent is the person's, not the winner's:

4. **A box ticked on any record with the phone counts.** With ``d`` (a losing record's box is ticked) the
   formula is ``h or ((s or d) and not y)``: a duplicate's ticked box opts the person out in Heymarket like
   the winner's own (a conflict or a duplicate report about other fields changes nothing of that). A contact
   beside the pair (read at its phone, held by no link: :func:`sync_engine.plan.rules.contacts_beside`) that is
   opted out counts in ``d`` the same way: the STOP is the phone's.
5. **Every record and every contact with the phone shows the person's state.** Each losing record whose box
   differs from the pair's final state gets that state written too (:func:`duplicates_to_follow`), without
   becoming part of the pair: the loser's link, if any, stays untouched. So a Heymarket opt-out ticks every
   duplicate's box, and a Heymarket opt-in (START) clears every one. A person new to Heymarket whose contact
   the run creates opted out has every clear box at the phone ticked in that run, the winner's included (the
   rows name no contact: it does not exist yet). And a contact no link holds, read at the phone of an
   opted-out pair (re-created by hand after the pair's contact was deleted, before a full sweep sees the
   delete), is opted out too: the STOP is the phone's.

The losers have no memory of their own: their ticked box counts as news only while the pair's memory says
"not opted out" (``not y``). A duplicate ticked while the person is known opted out is simply in step; one
ticked in the same run that Heymarket reports an opt-in is cleared with the others (Heymarket's START is the
newer consent, as in rule 2).

A contact the run did not read (incremental Heymarket read) is at its remembered state (``h = y``), and a
record the run did not read at its remembered box (``s = y``); both follow from the memory. Null and
anything but ``"true"`` read as not opted out. Pairs of an object whose ``opt_out_field`` is off are
left alone: nothing written, the memory unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync_engine.plan.inputs import TEXT

TRUE, FALSE = "true", "false"


@dataclass(frozen=True)
class ConsentDecision:
    """The opt-out key of every pair: the values to reconcile with and the writes the rules want.

    :param s / h: Salesforce's and Heymarket's state as ``"true"`` / ``"false"`` (pairs of an object with
        opt-out sync off: the memory, so that nothing is written and nothing moves)
    :param to_heymarket: opt the contact out in Heymarket
    :param to_salesforce: tick (or, after a Heymarket opt-in, clear) the Salesforce box
    :param memory_moved: the state to remember differs from the remembered one
    :param final: the person's state after the writes (``"true"`` / ``"false"``; opt-out sync off: the memory)
    """

    s: pa.Array
    h: pa.Array
    to_heymarket: np.ndarray
    to_salesforce: np.ndarray
    memory_moved: np.ndarray
    final: pa.Array


def opted_out(values: pa.Array) -> np.ndarray:
    """``"true"`` -> True; ``"false"``, null and anything else -> False."""
    return np.asarray(pc.fill_null(pc.equal(values, pa.scalar(TRUE, TEXT)), False).to_numpy(zero_copy_only=False),
                      dtype=bool)


def state_text(flags: np.ndarray) -> pa.Array:
    return pa.array(np.where(flags, TRUE, FALSE), type=TEXT)


def decide_consent(s: pa.Array, h: pa.Array, y: pa.Array, on: np.ndarray,
                   duplicate_ticked: np.ndarray | None = None) -> ConsentDecision:
    """Apply the compliance rules to every pair at once.

    :param s / h / y: Salesforce's, Heymarket's and the remembered opt-out per pair (canonical text)
    :param on: per pair, its record's object syncs opt-outs
    :param duplicate_ticked: per pair, another live record with its phone (a duplicate that lost the phone to
        the pair's record, of an object that syncs opt-outs) has its box ticked (rule 4); default: none
    """
    s_out, h_out, y_out = opted_out(s), opted_out(h), opted_out(y)
    d_out = np.zeros(len(s_out), dtype=bool) if duplicate_ticked is None else np.asarray(duplicate_ticked, dtype=bool)
    final = h_out | ((s_out | d_out) & ~y_out)
    to_heymarket = on & final & ~h_out
    to_salesforce = on & (final != s_out)
    on_arrow = pa.array(on, type=pa.bool_())
    s_text = pc.if_else(on_arrow, state_text(s_out), y)
    h_text = pc.if_else(on_arrow, state_text(h_out), y)
    # What the link may remember before the writes: the target's current state where one is written (a
    # failed write is planned again), else the state both sides share.
    agreed = pc.if_else(pa.array(to_heymarket, type=pa.bool_()), h_text, s_text)
    # Null memory and "false" mean the same (not opted out as far as the sync knows): switching opt-out sync
    # on must not rewrite the memory of every linked pair.
    return ConsentDecision(s_text, h_text, to_heymarket, to_salesforce, on & (opted_out(agreed) != y_out),
                           pc.if_else(on_arrow, state_text(final), y))


def duplicates_to_follow(box: pa.Array, final: pa.Array, on: np.ndarray) -> np.ndarray:
    """Rule 5: which losing records get their box written, to the final state of the pair that won their phone.

    :param box: per losing record, its box (canonical text)
    :param final: per losing record, the final state of the winner's pair (:attr:`ConsentDecision.final`)
    :param on: per losing record, both its object and the winner's sync opt-outs
    """
    return on & (opted_out(box) != opted_out(final))
