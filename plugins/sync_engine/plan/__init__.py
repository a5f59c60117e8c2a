"""The three-way plan: Salesforce records x Heymarket contacts x the link table -> actions.

:func:`plan` is pure: it reads three frames (docs/contracts.md) and returns a :class:`Plan`; it never
mutates its inputs and never talks to an API. **The phone decides ownership, not a remembered pair**: a
link row is memory (the values last synced, "do not auto-create this back"), never a claim on a phone
against a live, in-scope record. The rules, in the order they are decided (one function each in
:mod:`sync_engine.plan.rules`, called in this order by :func:`sync_engine.plan.planner.plan`):

1. **Phones.** Salesforce phones are normalised to E.164 digits; Heymarket phones pass the same
   validation (``phonenumbers`` on ``+<digits>``; a phone equal to a valid Salesforce phone of the run
   needs no parse). A record without a phone is reported ``no_phone``, one whose phone can't be used
   ``invalid_phone`` (with the reason code); a contact with an unusable phone is reported
   ``invalid_phone`` too. None of them takes part in matching, and such a contact is never auto-created.
2. **Link memory.** Every link of this run (its object is enabled, or it is ``released``) is matched with
   its record and its contact:

   * contact gone (full Heymarket sweep, id absent): ``unlink`` ``heymarket_deleted`` (the row is
     dropped, whatever its status); an in-scope record of it is matched again below, so it is created in
     Heymarket again (``recreate``);
   * record deleted, or absent from a full read of an ``all`` scope: deleted; record ``in_scope`` false,
     or absent from a full list-view read: out of scope (a converted Lead is out of scope);
   * an *active* link whose record is absent from an incremental read is unchanged: the record stands in
     as a live candidate at its remembered phone, with its remembered values.

3. **Candidates and winners.** Among live, in-scope records of enabled objects with a valid phone, one
   wins each phone: the record whose own link (any status) has its contact at that number, then one whose
   link remembers the number, then a Contact before a Lead, then the latest modstamp, then the smallest
   Id. The others are reported ``duplicate`` (with ``winner_sf_id``) and get no action; a link they hold
   stays untouched.
4. **A winner keeps its contact** when that contact is at its number (``link`` ``restored`` /
   ``back_in_scope`` when the link was remembered ``sf_deleted`` / ``out_of_scope``).
5. **Else it takes the contact at its number** (the contact whose phone is that number in the Heymarket
   frame; for a contact not read in an incremental run, the one a link remembers there): ``link``
   ``takeover`` when a link holds that contact (remembered ``sf_deleted`` / ``out_of_scope`` /
   ``released``, or active with a record deleted, out of scope or now at another number), reconciled
   against that link's memory; ``link`` ``phone_match`` when no link holds it (first link). No
   ``delete_heymarket`` and no ``unlink`` for the old pair: the link table replaces its row. A number
   held by a link of an object this run does not sync (e.g. a Lead's in a Contact-only run) is never
   taken: the winner is reported ``duplicate`` of that link's record, and nothing is done for it.
6. **Else its number is free** (no contact there): its own contact follows it (``update_heymarket``
   with the new phone), unless another winner takes that contact at its old number (rule 5); then, or
   when it has no link, ``create_heymarket`` (``no_match``, or ``recreate`` after rule 2). Swaps and
   longer cycles of phone moves resolve in one run: each record takes the contact at its number.
7. **Links no winner took:** the own link of a winner that took another contact is ``released`` (``unlink``
   ``released``: the row keeps the contact's id, phone and memory, loses its record; the contact is never
   deleted, written or auto-created, and a later record with its number takes it over). An active link
   of a deleted record: ``delete_heymarket`` when the object's delete option is on, else ``unlink``
   ``sf_deleted``; of a record out of scope: ``unlink`` ``out_of_scope``, never a delete; of a live record
   without a usable phone: left alone, reported ``skipped``. A contact a winner takes is never deleted.
8. **Fields** of every pair are reconciled three-way (:mod:`sync_engine.plan.fields`): against the
   pair's memory, or the memory of the contact's last pair after a takeover (Salesforce values that
   differ from what the contact last got are written to Heymarket; Heymarket edits since are Heymarket
   changes under the conflict policy), or none at a first link. The phone belongs to Salesforce. A key
   both sides changed is reported ``conflict`` and settled by the policy in the same run.
9. **Heymarket contacts nobody knows** (no link of any status, no Salesforce record of any object, scope
   or state with the phone; a link this run drops, its contact deleted, no longer counts, nor its deleted
   record, which a full read reads only by that link's id): ``create_salesforce`` as the configured object,
   else reported ``unlinked``.
   Contacts sharing a phone (Heymarket forbids it; defensive): the lowest id is used, the others reported.

Objects that are not enabled are ignored: no actions, no reports, their links untouched (their records
and links still own their phones: nothing is created twice, and nothing of theirs is taken over).

Applying (docs/contracts.md): every row carries the flat canonical values both sides should hold after
it, ``changed`` (the keys to send), and ``link`` rows carry ``agreed.<key>``, the memory to store now. An
applier refreshes a link's memory of a key only after the write of that key succeeded; so a failed write
is planned again on the next run, and a run killed at any point never writes a value back that it did
not read. Writes whose retry is not due yet are held back after planning (``waiting_retry``, see
:func:`sync_engine.settings.hold_waiting_retries`).
"""

from sync_engine.plan.model import ObjectSettings, Plan, PlanSettings
from sync_engine.plan.planner import plan
from sync_engine.values import normalise_value

__all__ = ["ObjectSettings", "Plan", "PlanSettings", "normalise_value", "plan"]
