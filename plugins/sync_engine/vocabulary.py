"""The project's closed sets, in one place, and the mappings derived from them.

Every name here means one thing across ``plugins/`` and ``dags/``: a plan :data:`Action`, the :data:`Target`
it writes, a field's :data:`FieldDirection`, an object's :data:`ObjectScope`, the ``reason`` codes a plan row
carries, and the direction/action a run's counts are stored under. Each set is a ``Literal`` (for the type
checker) and a tuple of its values taken with :func:`typing.get_args` (for code), so the two cannot drift.

To add a plan action: add it to :data:`Action` (in the order appliers run it), to :data:`ACTION_TARGET` and
:data:`ACTION_REASONS`; the derived sets (writes, creates, phone writers, each apply task's actions) follow
from those where they can. The tables keyed by action (here, ``history.ACTION_NAMES``,
``settings.WRITE_KEYS``) are checked against :data:`ACTIONS` by ``tests/unit/test_vocabulary.py``. The tables
are keyed by ``str`` (frames and XCom carry plain strings); their values are typed.

Pure Python: no pandas, no Airflow, no SQLAlchemy (the DAG files and the state models import it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal, get_args

# --- Salesforce objects ------------------------------------------------------------------------------------

ObjectName = Literal["Contact", "Lead"]
OBJECT_NAMES: Final[tuple[ObjectName, ...]] = get_args(ObjectName)

#: The canonical key of a person's SMS opt-out (Salesforce ``opt_out_field``, Heymarket ``is_opted_out``):
#: ``"true"`` / ``"false"`` in the frames and the link memory. It follows the compliance rules of
#: ``sync_engine.plan.consent``, never a conflict policy or a field direction.
OPT_OUT_KEY: Final = "opt_out"

# --- plan actions and the systems they write ----------------------------------------------------------------

#: Every action a plan can hold, in the order appliers run them per target.
Action = Literal[
    "create_heymarket",
    "update_heymarket",
    "delete_heymarket",
    "create_salesforce",
    "update_salesforce",
    "link",
    "unlink",
]
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)

#: Where a write goes: a system, or the link table (``state``). Also the ``target`` of record errors and
#: queued retries in the state store.
Target = Literal["heymarket", "salesforce", "state"]
TARGETS: Final[tuple[Target, ...]] = get_args(Target)

#: Which system (or the link table) each action writes.
ACTION_TARGET: Final[Mapping[str, Target]] = MappingProxyType({
    "create_heymarket": "heymarket",
    "update_heymarket": "heymarket",
    "delete_heymarket": "heymarket",
    "create_salesforce": "salesforce",
    "update_salesforce": "salesforce",
    "link": "state",
    "unlink": "state",
})


def actions_writing(target: Target) -> tuple[Action, ...]:
    """The actions that write ``target``, in :data:`ACTIONS` order."""
    return tuple(a for a in ACTIONS if ACTION_TARGET[a] == target)


#: Actions that write Heymarket contacts.
HEYMARKET_WRITES: Final = actions_writing("heymarket")
#: Actions that write Salesforce records.
SALESFORCE_WRITES: Final = actions_writing("salesforce")
#: Actions that only change the link table.
STATE_ACTIONS: Final = actions_writing("state")
#: Actions that write one of the two systems (what a write count, the retry queue and the errors are about).
WRITE_ACTIONS: Final[tuple[Action, ...]] = tuple(a for a in ACTIONS if ACTION_TARGET[a] != "state")
#: Writes that send values to Heymarket (a delete sends none).
HEYMARKET_UPSERTS: Final[tuple[Action, ...]] = ("create_heymarket", "update_heymarket")
#: Actions that make a new contact or record.
CREATE_ACTIONS: Final[tuple[Action, ...]] = ("create_heymarket", "create_salesforce")
#: Actions that remove a linked Heymarket contact (the mass-delete guard counts them).
DELETE_ACTIONS: Final[tuple[Action, ...]] = ("delete_heymarket",)
#: Actions that write a phone somewhere (Heymarket contact, Salesforce phone field, link table).
PHONE_WRITERS: Final[frozenset[Action]] = frozenset({"create_heymarket", "update_heymarket", "create_salesforce",
                                                     "link"})

#: The apply task that runs each action: the Heymarket apply also applies the link-table actions.
ApplyTask = Literal["apply_heymarket", "apply_salesforce"]
APPLY_TASK_ACTIONS: Final[Mapping[str, tuple[Action, ...]]] = MappingProxyType({
    "apply_heymarket": (*STATE_ACTIONS, *HEYMARKET_WRITES),
    "apply_salesforce": SALESFORCE_WRITES,
})

# --- reason codes of plan rows -------------------------------------------------------------------------------

#: The ``reason`` of a plan row (``""`` for updates); docs/contracts.md says what each means.
PlanReason = Literal[
    "",
    "no_match", "recreate",  # create_heymarket
    "auto_create",  # create_salesforce
    "phone_match", "takeover", "back_in_scope", "restored", "refresh",  # link
    "sf_deleted", "out_of_scope", "released", "heymarket_deleted",  # delete_heymarket, unlink
    "duplicate",  # update_salesforce / update_heymarket: a record or contact at a person's phone gets their opt-out
    "created_opted_out",  # update_salesforce: a record's box follows the opted-out contact this run creates
]
PLAN_REASONS: Final[tuple[PlanReason, ...]] = get_args(PlanReason)
#: The reasons each action's rows can carry.
ACTION_REASONS: Final[Mapping[str, frozenset[PlanReason]]] = MappingProxyType({
    "create_heymarket": frozenset({"no_match", "recreate"}),
    "update_heymarket": frozenset({"", "duplicate"}),
    "delete_heymarket": frozenset({"sf_deleted"}),
    "create_salesforce": frozenset({"auto_create"}),
    "update_salesforce": frozenset({"", "duplicate", "created_opted_out"}),
    "link": frozenset({"phone_match", "takeover", "back_in_scope", "restored", "refresh"}),
    "unlink": frozenset({"sf_deleted", "out_of_scope", "released", "heymarket_deleted"}),
})
#: A ``link`` row with this reason only refreshes the memory of a pair whose sides already agree.
REFRESH: Final[PlanReason] = "refresh"
#: An ``update_salesforce`` row with this reason writes the opt-out of a duplicate record (one that lost its
#: phone to a linked record); an ``update_heymarket`` row, the opt-out of a contact no link holds at the phone of
#: an opted-out pair. Either is not part of the pair, so its write links nothing.
DUPLICATE_CONSENT: Final[PlanReason] = "duplicate"
#: An ``update_salesforce`` row with this reason ticks the box of a record at the phone of a contact this run
#: creates opted out (a duplicate's ticked box, consent rule 4). It has no ``hm_id`` (the contact does not exist
#: when the plan is made) and links nothing (the create links the winner).
CREATED_OPTED_OUT: Final[PlanReason] = "created_opted_out"
#: The reasons of rows that write a person's opt-out to a record or contact outside any pair (no link change).
CONSENT_FOLLOWERS: Final[frozenset[PlanReason]] = frozenset({DUPLICATE_CONSENT, CREATED_OPTED_OUT})

#: What the plan's report frame lists (``kind`` column).
ReportKind = Literal["invalid_phone", "no_phone", "duplicate", "conflict", "unlinked", "skipped", "waiting_retry"]
REPORT_KINDS: Final[tuple[ReportKind, ...]] = get_args(ReportKind)

# --- configuration -------------------------------------------------------------------------------------------

#: Which way one field syncs (config ``fields.<key>.direction``; the plan's ``field_directions``).
FieldDirection = Literal["both", "to_heymarket", "to_salesforce"]
FIELD_DIRECTIONS: Final[tuple[FieldDirection, ...]] = get_args(FieldDirection)
#: Which side wins when both changed one field differently (config ``conflict_policy``, per field or global).
ConflictPolicy = Literal["salesforce_wins", "heymarket_wins", "newest_wins"]
#: What an unknown Heymarket contact becomes in Salesforce (``none``: it is only reported).
AutoCreate = Literal["Contact", "Lead", "none"]
#: Whether an extract holds every in-scope record (``full``) or only the changed ones.
ExtractMode = Literal["full", "incremental"]
EXTRACT_MODES: Final[tuple[ExtractMode, ...]] = get_args(ExtractMode)
#: Which records of an object the config syncs.
ConfiguredScope = Literal["all", "list_view"]
#: What the planner is told about an object's extract: the configured scope, or ``record_ids`` (a few records
#: read by id: nothing absent is treated as gone).
ObjectScope = Literal[ConfiguredScope, "record_ids"]
OBJECT_SCOPES: Final[tuple[ObjectScope, ...]] = get_args(ObjectScope)

# --- run history (state store counts) ------------------------------------------------------------------------

#: The direction a run's count is stored under (``sync_run_counts.direction``).
CountDirection = Literal["to_heymarket", "to_salesforce", "state"]
COUNT_DIRECTIONS: Final[tuple[CountDirection, ...]] = get_args(CountDirection)
#: What a run did and found (``created`` ... ``waiting_retry``), then the drift after it (``in_sync`` ...
#: ``held_retry``, see ``sync_engine.drift``; migration 0006), then the message copy's messages whose phone
#: matches no record (``unmatched``, object ``Task``; migration 0009), then the consent writes among the run's
#: writes (``opted_out`` / ``opted_in``: opt-out states written, per direction; migration 0010).
CountAction = Literal[
    "created", "updated", "deleted", "linked", "unlinked", "failed", "skipped", "invalid", "duplicate",
    "conflict", "unchanged", "waiting_retry",
    "in_sync", "out_of_sync", "held_duplicate", "held_invalid", "held_no_phone", "held_retry",
    "unmatched",
    "opted_out", "opted_in",
]
COUNT_ACTIONS: Final[tuple[CountAction, ...]] = get_args(CountAction)
#: A run's counts: object -> direction -> count action -> number.
Counts = Mapping[str, Mapping[str, Mapping[str, int]]]

#: A consent write the applier counts on its own (besides the write's ``created`` / ``updated``): the name it
#: is counted under in ``ApplyResult.counts`` -> (direction, count action) in the history. Heymarket is never
#: opted in by the sync (only the person can, by texting START), so there is no ``opt_in_heymarket``.
CONSENT_COUNTS: Final[Mapping[str, tuple[CountDirection, CountAction]]] = MappingProxyType({
    "opt_out_heymarket": ("to_heymarket", "opted_out"),
    "opt_out_salesforce": ("to_salesforce", "opted_out"),
    "opt_in_salesforce": ("to_salesforce", "opted_in"),
})
#: How a run was started (Airflow's ``DagRunType`` values a sync run can have), as the history stores and
#: filters it; rows written before the trigger was normalised hold the enum's repr (``DagRunType.MANUAL``).
RunTrigger = Literal["scheduled", "manual", "backfill", "asset_triggered"]
RUN_TRIGGERS: Final[tuple[RunTrigger, ...]] = get_args(RunTrigger)

# --- record-level outcomes (hm_sync_record_outcome, migration 0007) --------------------------------------------

#: What happened to one record in one run: written (``created`` ... ``unlinked``), rejected by the target
#: (``failed``), or held back (``duplicate`` ... ``skipped``). Unchanged records get no row.
OutcomeAction = Literal[
    "created", "updated", "deleted", "linked", "unlinked", "failed",
    "duplicate", "conflict", "invalid", "no_phone", "waiting_retry", "skipped",
]
OUTCOME_ACTIONS: Final[tuple[OutcomeAction, ...]] = get_args(OutcomeAction)
#: The outcomes that wrote something (a system or the link table).
WRITTEN_OUTCOMES: Final[tuple[OutcomeAction, ...]] = OUTCOME_ACTIONS[:5]
#: The outcomes of records held back: nothing was written for them in the run.
HELD_OUTCOMES: Final[tuple[OutcomeAction, ...]] = OUTCOME_ACTIONS[6:]
#: The outcome a plan action has when its write succeeded.
ACTION_OUTCOME: Final[Mapping[str, OutcomeAction]] = MappingProxyType({
    "create_heymarket": "created",
    "update_heymarket": "updated",
    "delete_heymarket": "deleted",
    "create_salesforce": "created",
    "update_salesforce": "updated",
    "link": "linked",
    "unlink": "unlinked",
})
#: The direction each plan action's outcome is stored under.
ACTION_DIRECTION: Final[Mapping[str, CountDirection]] = MappingProxyType({
    action: ("to_heymarket" if target == "heymarket" else "to_salesforce" if target == "salesforce" else "state")
    for action, target in ACTION_TARGET.items()
})
#: The outcome of each report kind (a Heymarket contact reported ``unlinked``, matching nothing while
#: auto-create is off, is ``skipped``: nothing is synced for it).
REPORT_OUTCOME: Final[Mapping[str, OutcomeAction]] = MappingProxyType({
    "invalid_phone": "invalid",
    "no_phone": "no_phone",
    "duplicate": "duplicate",
    "conflict": "conflict",
    "unlinked": "skipped",
    "skipped": "skipped",
    "waiting_retry": "waiting_retry",
})
#: ``reason`` codes of held-back rows (written rows carry their plan :data:`PlanReason`, failed rows the
#: target's error code, ``invalid`` / ``skipped`` records the phone's reason, ``sync_engine.phones.REASONS``):
#: ``phone_taken`` (another record wins the phone), ``owner_outside_run`` (the phone's contact is linked to a
#: record of an object not in this run), ``salesforce_kept`` / ``heymarket_kept`` / ``both_kept`` (which side's
#: values a conflict kept: ``both_kept`` when some keys went each way), ``no_record`` (a Heymarket contact that matches no record while auto-create is off),
#: ``retry_not_due`` (a rejected write waiting for its backoff).
HoldReason = Literal["phone_taken", "owner_outside_run", "salesforce_kept", "heymarket_kept", "both_kept",
                     "no_record", "retry_not_due"]
HOLD_REASONS: Final[tuple[HoldReason, ...]] = get_args(HoldReason)
#: What ``hm_sync_record_outcome.object`` holds for a Heymarket contact that no Salesforce record is part of
#: (the plan's ``NO_OBJECT``, ``sync_engine.plan.model``).
HEYMARKET_ONLY: Final = "(heymarket)"

# --- the message copy (heymarket_messages DAG, sync_engine.stages.message_stage) ---------------------------------

#: Which way an SMS went, as the Task's subject says it (``sync_engine.message_tasks``).
MessageDirection = Literal["sent", "received"]
MESSAGE_DIRECTIONS: Final[tuple[MessageDirection, ...]] = get_args(MessageDirection)
#: What a run of the message copy reads: new messages since the watermark, or a date range again.
MessageMode = Literal["incremental", "backfill"]
MESSAGE_MODES: Final[tuple[MessageMode, ...]] = get_args(MessageMode)
#: Why a message waits in ``hm_sync_message_pending``: its phone matches no linked record (re-read when the
#: link table changes), or Salesforce refused its Task (re-sent by every run).
PendingReason = Literal["no_record", "failed"]
PENDING_REASONS: Final[tuple[PendingReason, ...]] = get_args(PendingReason)
#: The object the message copy's counts are stored under in the run history.
MESSAGE_OBJECT: Final = "Task"
