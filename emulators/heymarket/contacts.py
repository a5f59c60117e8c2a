"""The contact store: records by id, phone and uuid, plus a sorted ``(updated, id)`` index for the cursor.

The index is a plain sorted list of tuples. Single writes keep it sorted with ``bisect`` (O(log n) search
plus a memmove); bulk loads only mark it dirty and it is re-sorted once on the next list call. A list page
therefore costs O(log n + limit) however deep the cursor is.
"""

from __future__ import annotations

import bisect
import enum
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.heymarket import choices
from emulators.heymarket.contact_input import PHONE_HINT, ContactIn, clean_custom
from emulators.heymarket.directory import Directory
from emulators.heymarket.errors import ApiError, bad_data, not_found
from emulators.heymarket.fields import FieldRegistry
from emulators.heymarket.timestamps import WriteClock, format_micros, parse_micros

FIRST_CONTACT_ID = 100_001
_VERSION_4 = 0x4000 << 64
_VARIANT_RFC4122 = 0x8000 << 48
_UUID_FIXED_BITS = ~((0xF000 << 64) | (0xC000 << 48))
_TOP_ID = sys.maxsize


def random_uuid() -> str:
    """A version-4 UUID string; ``uuid.uuid4()`` costs a third of a bulk load, this a tenth."""
    bits = (random.getrandbits(128) & _UUID_FIXED_BITS) | _VERSION_4 | _VARIANT_RFC4122
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(slots=True, eq=False)
class Contact:
    id: int
    uuid: str
    phone: str
    created: int
    updated: int
    rev: int = 1
    op: str = choices.OP_CREATE
    first: str = choices.EMPTY_TEXT
    last: str = choices.EMPTY_TEXT
    display_name: str = choices.EMPTY_TEXT
    email: str = choices.EMPTY_TEXT
    avatar: str = choices.EMPTY_TEXT
    custom: dict[str, str] = field(default_factory=dict)
    team_id: int | None = None
    creator_id: int | None = None
    inbox_id: int | None = None
    parent_id: int | None = None
    assigned_user_id: int | None = None
    shared: bool = False
    external_id: str = choices.EMPTY_TEXT
    external_ref: str = choices.EMPTY_TEXT
    note: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, int]] = field(default_factory=list)
    is_opted_out: bool = False
    blocked: bool = False
    email_suppressions: list[int] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, int]:
        return (self.updated, self.id)

    def to_json(self) -> dict[str, Any]:
        """The documented Contact object (every field of the reference's table)."""
        return {
            "id": self.id,
            "uuid": self.uuid,
            "phone": self.phone,
            "first": self.first,
            "last": self.last,
            "display_name": self.display_name,
            "email": self.email,
            "avatar": self.avatar,
            "custom": dict(self.custom),
            "team_id": self.team_id,
            "creator_id": self.creator_id,
            "inbox_id": self.inbox_id,
            "parent_id": self.parent_id,
            "assigned_user_id": self.assigned_user_id,
            "shared": self.shared,
            "created": format_micros(self.created),
            "updated": format_micros(self.updated),
            "rev": self.rev,
            "op": self.op,
            "type": choices.CONTACT_TYPE,
            "external_id": self.external_id,
            "external_ref": self.external_ref,
            "note": [dict(n) for n in self.note],
            "tags": [dict(t) for t in self.tags],
            "is_opted_out": self.is_opted_out,
        }

    def write_reply(self) -> dict[str, Any]:
        """What v1 create/update return: ``{id, rev, uuid}``."""
        return {"id": self.id, "rev": self.rev, "uuid": self.uuid}

    def status_json(self) -> dict[str, Any]:
        return {"id": self.id, "phone": self.phone, "unsubscribed": self.is_opted_out, "blocked": self.blocked}


class UpdateMode(enum.Enum):
    """How an update treats omitted names and the ``custom`` map (see ``choices``)."""

    V1_MERGE = "v1 overwrite=false"  # names overwritten, custom merged
    V1_REPLACE = "v1 overwrite=true"  # names overwritten, a sent custom replaces the map
    PARTIAL = "v2"  # only sent keys change, custom merged


class ContactBook:
    def __init__(self, clock: WriteClock, fields: FieldRegistry, directory: Directory) -> None:
        self.clock = clock
        self.fields = fields
        self.directory = directory
        self.by_id: dict[int, Contact] = {}
        self.by_phone: dict[str, int] = {}
        self.by_uuid: dict[str, int] = {}
        self._order: list[tuple[int, int]] = []
        self._dirty = False
        self._next_id = FIRST_CONTACT_ID
        #: called after every delete (the message book drops the contact's conversations)
        self.on_delete: Callable[[Contact], None] | None = None

    # --- reads ----------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, contact_id: int) -> Contact:
        contact = self.by_id.get(contact_id)
        if contact is None:
            raise not_found(f"contact {contact_id}")
        return contact

    def get_by_uuid(self, contact_uuid: str) -> Contact:
        contact_id = self.by_uuid.get(contact_uuid)
        if contact_id is None:
            raise not_found(f"contact {contact_uuid}")
        return self.by_id[contact_id]

    def find_by_phone(self, phone: str) -> Contact | None:
        contact_id = self.by_phone.get(phone)
        return None if contact_id is None else self.by_id[contact_id]

    def find_by_email(self, email: str) -> list[Contact]:
        """Linear scan: only the v2 search by email channel needs it."""
        wanted = email.strip().lower()
        return sorted((c for c in self.by_id.values() if c.email.lower() == wanted), key=lambda c: c.id)

    def _sorted(self) -> list[tuple[int, int]]:
        if self._dirty:
            self._order = sorted(c.key for c in self.by_id.values())
            self._dirty = False
        return self._order

    def page(self, date: int | None, ascending: bool, limit: int, offset: int) -> list[Contact]:
        """One list page: the date filter (inclusive, see ``choices``), then skip *offset*, take *limit*."""
        order = self._sorted()
        inclusive = choices.LIST_DATE_INCLUSIVE
        if ascending:
            start = 0
            if date is not None:
                start = bisect.bisect_left(order, (date, -1) if inclusive else (date, _TOP_ID))
            keys = order[start + offset:start + offset + limit]
        else:
            end = len(order)
            if date is not None:
                end = bisect.bisect_right(order, (date, _TOP_ID) if inclusive else (date, -1))
            hi = end - offset
            keys = order[max(hi - limit, 0):hi][::-1] if hi > 0 else []
        return [self.by_id[contact_id] for _, contact_id in keys]

    # --- index upkeep ---------------------------------------------------------------------------------

    def _unindex(self, contact: Contact) -> None:
        if not self._dirty:
            pos = bisect.bisect_left(self._order, contact.key)
            if pos < len(self._order) and self._order[pos] == contact.key:
                del self._order[pos]
            else:  # should not happen; fall back to a full rebuild rather than serve a wrong page
                self._dirty = True

    def _index(self, contact: Contact) -> None:
        if not self._dirty:
            bisect.insort(self._order, contact.key)

    def _touch(self, contact: Contact, op: str) -> None:
        """Every write: new ``updated`` (strictly increasing unless frozen), ``rev`` + 1, re-index."""
        self._unindex(contact)
        contact.updated = self.clock.tick()
        contact.rev += 1
        contact.op = op
        self._index(contact)

    # --- writes ---------------------------------------------------------------------------------------

    def _check_phone_free(self, phone: str, owner: int | None) -> None:
        existing = self.by_phone.get(phone)
        if existing is not None and existing != owner:
            raise ApiError(choices.DUPLICATE_PHONE_STATUS, choices.BATCH_ERROR_PHONE_EXISTS
                           + f": field 'phone' already belongs to contact {existing}; update that one instead")

    def _check_assignee(self, inp: ContactIn) -> int | None:
        if inp.assignee_id is None or inp.assignee_id == choices.UNASSIGN_ID:
            return None
        if inp.assignee_id not in self.directory.users:
            raise bad_data("field 'assignee_id' is not a team member id; see GET /v1/users/get (-1 unassigns)")
        return inp.assignee_id

    def create(self, inp: ContactIn, phone: str | None) -> Contact:
        """A new contact from request fields; *phone* is already resolved (v2 may take it from a channel)."""
        if not phone:
            raise bad_data("field 'phone' is required")
        if not choices.PHONE_PATTERN.match(phone):
            raise bad_data(f"field 'phone' {PHONE_HINT}")
        self._check_phone_free(phone, None)
        assignee = self._check_assignee(inp)
        stamp = self.clock.tick()
        contact = Contact(
            id=self._next_id, uuid=random_uuid(), phone=phone, created=stamp, updated=stamp,
            team_id=self.directory.team_id, creator_id=self.directory.default_creator_id(),
            inbox_id=self.directory.default_inbox_id(), assigned_user_id=assignee,
        )
        self._next_id += 1
        self._apply_fields(contact, inp, UpdateMode.V1_REPLACE)
        self.by_id[contact.id] = contact
        self.by_phone[phone] = contact.id
        self.by_uuid[contact.uuid] = contact.id
        self._index(contact)
        return contact

    def update(self, contact: Contact, inp: ContactIn, mode: UpdateMode) -> Contact:
        """Validate first, then change *contact* in place; a rejected update changes nothing."""
        if inp.phone is not None and inp.phone != contact.phone:
            self._check_phone_free(inp.phone, contact.id)
        assign = inp.sent("assignee_id") and inp.assignee_id is not None
        assignee = self._check_assignee(inp) if assign else contact.assigned_user_id
        if inp.phone is not None and inp.phone != contact.phone:
            del self.by_phone[contact.phone]
            contact.phone = inp.phone
            self.by_phone[contact.phone] = contact.id
        contact.assigned_user_id = assignee
        self._apply_fields(contact, inp, mode)
        self._touch(contact, choices.OP_UPDATE)
        return contact

    def _apply_fields(self, contact: Contact, inp: ContactIn, mode: UpdateMode) -> None:
        names_overwrite = mode is not UpdateMode.PARTIAL and choices.UPDATE_OMITTED_NAME_CLEARS
        for name in ("first", "last"):
            if names_overwrite or inp.sent(name):
                setattr(contact, name, (getattr(inp, name) or "").strip())
        if inp.display_name:
            contact.display_name = inp.display_name.strip()
        elif choices.DISPLAY_NAME_FOLLOWS_NAMES:
            contact.display_name = f"{contact.first} {contact.last}".strip()
        for name in ("email", "avatar"):
            if inp.sent(name):
                setattr(contact, name, (getattr(inp, name) or "").strip())
        if inp.custom is not None:
            cleaned = clean_custom(inp.custom, self.fields.known_ids())
            if mode is UpdateMode.V1_REPLACE:
                contact.custom = {}
            for key, value in cleaned.items():
                if value is None:
                    contact.custom.pop(key, None)
                else:
                    contact.custom[key] = value
        if inp.sent("tags"):
            contact.tags = [{"tag_id": t.tag_id} for t in inp.tags or []]
        if inp.sent("is_opted_out") and inp.is_opted_out is not None:
            contact.is_opted_out = inp.is_opted_out
        if inp.sent("email_suppressions"):
            contact.email_suppressions = list(inp.email_suppressions or [])

    def set_status(self, contact: Contact, status: str) -> None:
        if status not in choices.STATUS_VALUES:
            raise bad_data(f"field 'status' must be one of {', '.join(choices.STATUS_VALUES)}")
        if status in ("active", "unblocked"):
            contact.blocked = False
        if status in ("active", "subscribed"):
            contact.is_opted_out = False
        if status == "blocked":
            contact.blocked = True
        if status == "unsubscribed":
            contact.is_opted_out = True
        self._touch(contact, choices.OP_STATUS)

    def delete(self, contact: Contact) -> None:
        """Hard delete, as the real API does: no tombstone; its conversation history goes with it."""
        self._unindex(contact)
        del self.by_id[contact.id]
        del self.by_uuid[contact.uuid]
        self.by_phone.pop(contact.phone, None)
        if self.on_delete is not None:
            self.on_delete(contact)

    # --- admin ----------------------------------------------------------------------------------------

    def load_many(self, items: list[dict[str, Any]]) -> int:
        """Admin load; missing id/uuid/updated/rev are made up. 100,000 contacts take about a second.

        Stricter than the API on purpose (errors instead of silent drops), so a broken fixture is
        noticed: invalid phones, unknown custom field ids and taken ids, uuids or phones raise ValueError.
        """
        defaults = {
            "team_id": self.directory.team_id,
            "creator_id": self.directory.default_creator_id(),
            "inbox_id": self.directory.default_inbox_id(),
        }
        known_fields = self.fields.known_ids()
        for raw in items:
            self._load_one(raw, defaults, known_fields)
        self._dirty = True
        return len(items)

    def _load_one(self, raw: dict[str, Any], defaults: dict[str, int | None], known_fields: set[str]) -> None:
        get = raw.get
        phone = get("phone")
        if not isinstance(phone, str) or not choices.PHONE_PATTERN.match(phone):
            raise ValueError(f"contact phone {PHONE_HINT} (contact id {get('id')})")
        if phone in self.by_phone:
            raise ValueError(f"duplicate phone in loaded contacts (contact id {get('id')})")
        contact_id = int(get("id") or self._next_id)
        if contact_id in self.by_id:
            raise ValueError(f"contact id {contact_id} already exists")
        contact_uuid = str(get("uuid") or random_uuid())
        if contact_uuid in self.by_uuid:
            raise ValueError(f"contact uuid of id {contact_id} already exists")
        updated = parse_micros(raw["updated"], "updated") if get("updated") else self.clock.tick()
        created = parse_micros(raw["created"], "created") if get("created") else updated
        self.clock.observe(updated)
        custom = {str(k): str(v) for k, v in (get("custom") or {}).items() if v not in (None, "")}
        if custom and not known_fields.issuperset(custom):
            raise ValueError(f"contact {contact_id}: custom keys {sorted(set(custom) - known_fields)} are not "
                             "field ids; load the fields first (same payload is fine) and key custom by field id")
        first, last = str(get("first") or ""), str(get("last") or "")
        contact = Contact(
            id=contact_id, uuid=contact_uuid, phone=phone, created=created, updated=updated,
            rev=int(get("rev") or 1), op=str(get("op") or choices.OP_CREATE),
            first=first, last=last, display_name=str(get("display_name") or f"{first} {last}".strip()),
            email=str(get("email") or ""), avatar=str(get("avatar") or ""), custom=custom,
            team_id=int(get("team_id") or defaults["team_id"]),
            creator_id=get("creator_id", defaults["creator_id"]), inbox_id=get("inbox_id", defaults["inbox_id"]),
            parent_id=get("parent_id"), assigned_user_id=get("assigned_user_id"), shared=bool(get("shared")),
            external_id=str(get("external_id") or ""), external_ref=str(get("external_ref") or ""),
            note=list(get("note") or []), tags=list(get("tags") or []),
            is_opted_out=bool(get("is_opted_out")), blocked=bool(get("blocked")),
        )
        self.by_id[contact_id] = contact
        self.by_phone[phone] = contact_id
        self.by_uuid[contact_uuid] = contact_id
        if contact_id >= self._next_id:
            self._next_id = contact_id + 1

    def dump(self) -> list[dict[str, Any]]:
        return [self.by_id[i].to_json() for i in sorted(self.by_id)]
