"""One Heymarket message as one completed Salesforce Task: who it is about, who owns it, what it says.

Pure functions over the message JSON of ``POST /v1/messages/all`` (see the Heymarket reference, §8). The
rules, and why:

* **Which record**: the message's ``phone`` (E.164 digits, as the link table keeps them) through the link
  table's active pairs, so a message lands on the record its contact is synced with. No pair: the message is
  *unmatched* and waits (``hm_sync_message_pending``) until one appears.
* **Direction**: Heymarket has no direction field; an inbound message has no ``user`` (the emulator and the
  docs' examples agree). Private comments (``type: private``) are notes between team members, not texts to
  the person: they are not copied.
* **Owner**: the Heymarket user who sent it (outbound); for an inbound message the user the conversation is
  assigned to, else the one who started it (its first outbound sender: the reply answers that rep). That
  user through the user mapping ``heymarket_setup`` stored; else the configured default owner; else no
  ``OwnerId`` (Salesforce makes the integration user the owner).
* **Upsert key**: the message id in the Task's external id field, so a rerun updates instead of duplicating.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sync_engine.vocabulary import MessageDirection

#: The Task's subject per direction (what reps see on the timeline and report on).
SUBJECTS: Mapping[MessageDirection, str] = {"sent": "SMS sent", "received": "SMS received"}
#: Task status of a copied message: the text happened, so the activity is done.
TASK_STATUS = "Completed"
#: ``type`` of Heymarket's private comments (notes between team members; never copied).
PRIVATE_TYPE = "private"

#: A Salesforce field value as the writer takes it.
TaskValue = str | None
TaskRow = dict[str, TaskValue]


@dataclass(frozen=True)
class MessageFacts:
    """What the copy needs of one message, taken out of its JSON (the text is not here: see ``task_row``)."""

    message_id: int
    at: datetime
    phone: str
    direction: MessageDirection
    hm_user_id: int | None
    private: bool


def message_date(raw: object) -> datetime:
    """A message's ``date`` as an aware UTC datetime.

    :raises ValueError: not an RFC 3339 timestamp (the message says so without echoing the value).
    """
    if not isinstance(raw, str):
        raise ValueError("a message has no 'date' text")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError("a message's 'date' is not an RFC 3339 timestamp") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def facts_of(message: Mapping[str, object]) -> MessageFacts:
    """The parts of one message the copy decides on."""
    user = message.get("user")
    conversation = message.get("conversation")
    thread = conversation if isinstance(conversation, Mapping) else {}
    inbound = user is None
    owner = (thread.get("assigned") or thread.get("creator")) if inbound else user
    return MessageFacts(
        message_id=int(str(message["id"])),
        at=message_date(message.get("date")),
        phone=str(message.get("phone") or message.get("target") or ""),
        direction="received" if inbound else "sent",
        hm_user_id=int(str(owner)) if isinstance(owner, int | str) and str(owner).isdigit() else None,
        private=message.get("type") == PRIVATE_TYPE,
    )


def owner_for(facts: MessageFacts, user_map: Mapping[int, str], default_owner: str | None) -> str | None:
    """The Task's ``OwnerId``: the mapped Salesforce user, else the default owner, else None (leave it out)."""
    if facts.hm_user_id is not None and facts.hm_user_id in user_map:
        return user_map[facts.hm_user_id]
    return default_owner


def task_row(
    message: Mapping[str, object],
    facts: MessageFacts,
    who_id: str,
    *,
    external_id_field: str,
    owner_id: str | None,
    include_body: bool,
) -> TaskRow:
    """The Task to upsert for one message on the record *who_id*.

    ``Description`` holds the text (and a media link) only when *include_body*; the row is handed straight to
    the writer and never logged or stored.
    """
    row: TaskRow = {
        external_id_field: str(facts.message_id),
        "WhoId": who_id,
        "Subject": SUBJECTS[facts.direction],
        "Status": TASK_STATUS,
        "ActivityDate": facts.at.date().isoformat(),
    }
    if owner_id:
        row["OwnerId"] = owner_id
    if include_body:
        text = str(message.get("text") or "")
        media = str(message.get("media") or "")
        row["Description"] = "\n".join(part for part in (text, media) if part) or None
    return row


@dataclass(frozen=True)
class MessagePage:
    """One page of a message walk: the new messages, and the date through which every message was read."""

    messages: list[Mapping[str, object]]
    done_through: datetime


@dataclass(frozen=True)
class TaskUpsertOutcome:
    """What Salesforce said about one Task row: by its position in the rows sent, created or updated, or the
    error code of a refusal (never its message: Salesforce echoes values in some)."""

    index: int
    success: bool
    created: bool = False
    error_code: str | None = None
