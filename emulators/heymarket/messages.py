"""Messages and conversations: records, two sorted indexes for the cursor walk, sends and bulk loads.

A conversation is one (inbox, phone) thread; each message points at its conversation, so the phone, inbox
and conversation state are stored once per thread, not once per message. Each index is a plain sorted list
of ints packing ``(timestamp µs, message id)`` into one number (``micros * 2**40 + id``): a list of ints
costs a third of a list of tuples, sorts faster and still bisects in O(log n). Sends keep the indexes sorted
with ``bisect``; bulk loads append and mark them dirty (one sort on the next read); deletes mark them stale
(one filtering pass on the next read). A page therefore costs O(log n + limit) however deep the cursor is.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from emulators.heymarket import choices
from emulators.heymarket.contact_input import PHONE_HINT
from emulators.heymarket.contacts import Contact, ContactBook
from emulators.heymarket.directory import Directory
from emulators.heymarket.errors import ApiError, bad_data
from emulators.heymarket.timestamps import WriteClock, format_micros, parse_micros

ID_BITS = 40
ID_SPAN = 1 << ID_BITS
ID_MASK = ID_SPAN - 1
#: Loaded ids stay below this, so that ids handed out after them still fit the packed keys.
MAX_LOADED_ID = 1 << (ID_BITS - 1)
_SECOND = 1_000_000

INBOUND, OUTBOUND = "inbound", "outbound"
#: Keys of one message in ``POST /__admin/load {"messages": [...]}`` and in the dump (the flat form).
LOAD_FIELDS = ("id", "phone", "inbox_id", "direction", "text", "media", "date", "updated", "user", "status",
               "type", "author", "local_id", "flagged")


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a bulk load makes millions of objects (it halves the load time;
    messages and conversations hold no reference cycles, so reference counting still frees them)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def pack(micros: int, message_id: int) -> int:
    """``(timestamp, id)`` as one sortable int; ``id`` must be below ``2**40``."""
    return micros * ID_SPAN + message_id


@dataclass(slots=True, eq=False)
class Conversation:
    id: int
    inbox: int
    phone: str
    created: int
    updated: int
    message_ids: list[int] = field(default_factory=list)
    #: packed key of the newest message and whether it is outbound (``replied``)
    newest_key: int | None = None
    newest_outbound: bool = False
    #: packed key of the newest inbound message (``last_inbound`` is its id)
    inbound_key: int | None = None
    #: packed key and sender of the oldest outbound message (``creator``)
    first_outbound_key: int | None = None
    creator: int | None = None

    def note(self, message: Message) -> None:
        """Fold one new message into the thread's summary fields."""
        date = message.date
        key = date * ID_SPAN + message.id
        self.message_ids.append(message.id)
        if date < self.created:
            self.created = date
        if date > self.updated:
            self.updated = date
        if self.newest_key is None or key > self.newest_key:
            self.newest_key = key
            self.newest_outbound = not message.inbound
        if message.inbound:
            if self.inbound_key is None or key > self.inbound_key:
                self.inbound_key = key
        elif self.first_outbound_key is None or key < self.first_outbound_key:
            self.first_outbound_key = key
            self.creator = message.user


@dataclass(slots=True, eq=False)
class Message:
    id: int
    conversation: Conversation
    date: int
    updated: int
    inbound: bool
    text: str
    user: int | None
    status: str
    type: str
    media: str = choices.EMPTY_TEXT
    author: str = choices.EMPTY_TEXT
    local_id: str = choices.EMPTY_TEXT
    flagged: bool = False

    def send_reply(self) -> dict[str, Any]:
        """What ``POST /v1/message/send`` returns: ``{id, date, gallery_url}``."""
        gallery = self.media if choices.SEND_GALLERY_URL_ECHOES_MEDIA else choices.EMPTY_TEXT
        return {"id": self.id, "date": format_micros(self.date), "gallery_url": gallery}

    def flat(self) -> dict[str, Any]:
        """The admin form (dump), which ``load`` takes back unchanged."""
        return {
            "id": self.id, "phone": self.conversation.phone, "inbox_id": self.conversation.inbox,
            "direction": INBOUND if self.inbound else OUTBOUND, "text": self.text, "media": self.media,
            "date": format_micros(self.date), "updated": format_micros(self.updated), "user": self.user,
            "status": self.status, "type": self.type, "author": self.author, "local_id": self.local_id,
            "flagged": self.flagged,
        }


class MessageBook:
    """All messages and conversations of the team.

    :param contacts: read for conversation names, assignee and block state (never written).
    """

    def __init__(self, clock: WriteClock, directory: Directory, contacts: ContactBook) -> None:
        self.clock = clock
        self.directory = directory
        self.contacts = contacts
        self.by_id: dict[int, Message] = {}
        self.by_local_id: dict[str, int] = {}
        self.conversations: dict[int, Conversation] = {}
        self.by_thread: dict[tuple[int, str], Conversation] = {}
        self.by_phone: dict[str, list[Conversation]] = {}
        self._by_date: list[int] = []
        self._by_updated: list[int] = []
        self._dirty = False
        self._stale = False
        self._next_id = choices.FIRST_MESSAGE_ID
        self._next_conversation_id = choices.FIRST_CONVERSATION_ID

    # --- reads ----------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.by_id)

    def _index(self, order: str) -> list[int]:
        if self._stale:
            live = self.by_id
            self._by_date = [k for k in self._by_date if k & ID_MASK in live]
            self._by_updated = [k for k in self._by_updated if k & ID_MASK in live]
            self._stale = False
        if self._dirty:
            self._by_date.sort()
            self._by_updated.sort()
            self._dirty = False
        return self._by_updated if order == choices.MESSAGES_ORDER_UPDATED else self._by_date

    def page(self, order: str, cursor: int | None, ascending: bool, limit: int, offset: int) -> list[Message]:
        """One ``POST /v1/messages/all`` page: cursor filter on the order key (inclusive), skip, take."""
        keys = self._index(order)
        inclusive = choices.MESSAGES_CURSOR_INCLUSIVE
        if ascending:
            start = 0
            if cursor is not None:
                start = bisect.bisect_left(keys, pack(cursor, 0) if inclusive else pack(cursor + 1, 0))
            chosen = keys[start + offset:start + offset + limit]
        else:
            end = len(keys)
            if cursor is not None:
                end = bisect.bisect_left(keys, pack(cursor + 1, 0) if inclusive else pack(cursor, 0))
            hi = end - offset
            chosen = keys[max(hi - limit, 0):hi][::-1] if hi > 0 else []
        return [self.by_id[k & ID_MASK] for k in chosen]

    def history(self, inbox_id: int, phone: str, before_second: int | None) -> list[Message]:
        """``GET /v1/messages``: newest first, at most ``HISTORY_LIMIT``, optionally up to a second."""
        if inbox_id not in self.directory.inboxes:
            raise ApiError(choices.HISTORY_UNKNOWN_INBOX_STATUS,
                           f"inbox {inbox_id} not found; see GET /v1/inboxes for the team's inbox ids")
        conversation = self.by_thread.get((inbox_id, phone))
        if conversation is None:
            return []
        messages: Iterable[Message] = (self.by_id[i] for i in conversation.message_ids)
        if before_second is not None:
            bound = (before_second + 1) * _SECOND if choices.HISTORY_TIMESTAMP_INCLUSIVE_SECOND \
                else before_second * _SECOND
            messages = (m for m in messages if m.date < bound)
        newest = sorted(messages, key=lambda m: (m.date, m.id), reverse=True)
        return newest[:choices.HISTORY_LIMIT]

    def find_local_id(self, local_id: str) -> Message | None:
        message_id = self.by_local_id.get(local_id)
        return None if message_id is None else self.by_id[message_id]

    # --- rendering ------------------------------------------------------------------------------------

    def render(self, messages: list[Message]) -> list[dict[str, Any]]:
        """Messages as the API returns them, each with its conversation's current state."""
        threads: dict[int, dict[str, Any]] = {}
        out = []
        for message in messages:
            conversation = message.conversation
            thread = threads.get(conversation.id)
            if thread is None:
                thread = threads[conversation.id] = self._conversation_json(conversation)
            out.append(self._message_json(message, thread))
        return out

    def _message_json(self, message: Message, thread: dict[str, Any]) -> dict[str, Any]:
        phone = message.conversation.phone
        return {
            "id": message.id,
            "text": message.text,
            "media": message.media,
            "phone": phone,
            "target": phone,
            "type": message.type,
            "status": message.status,
            "date": format_micros(message.date),
            "updated": format_micros(message.updated),
            "user": message.user,
            "author": message.author,
            "local_id": message.local_id,
            "broadcast_id": None,
            "flagged": message.flagged,
            "link_url": choices.EMPTY_TEXT,
            "super": None,
            "support": False,
            "custom": choices.MESSAGE_EMPTY_CUSTOM,  # shared, never mutated: the reply is serialised at once
            "conversation": thread,  # shared by the page's messages of one thread; serialised right away
        }

    def _conversation_json(self, conversation: Conversation) -> dict[str, Any]:
        contact = self.contacts.find_by_phone(conversation.phone)
        inbox = self.directory.inboxes.get(conversation.inbox, {})
        users = self.directory.users
        members = [{"id": m, "name": users[m]["name"] if m in users else choices.EMPTY_TEXT}
                   for m in inbox.get("members", [])]
        last_inbound = None if conversation.inbound_key is None else conversation.inbound_key & ID_MASK
        return {
            "id": conversation.id,
            "inbox": conversation.inbox,
            "target": conversation.phone,
            "name": (contact.display_name if contact and contact.display_name else conversation.phone),
            "channel": choices.CONVERSATION_CHANNEL,
            "type": choices.CONVERSATION_TYPE,
            "status": choices.CONVERSATION_STATUS,
            "created": format_micros(conversation.created),
            "updated": format_micros(conversation.updated),
            "creator": conversation.creator,
            "assigned": contact.assigned_user_id if contact else None,
            "members": members,
            "last_inbound": last_inbound,
            "read": None,
            "replied": conversation.newest_outbound,
            "blocked": bool(contact and contact.blocked),
            "muted": False,
            "email_noti": False,
            "noreply": choices.EMPTY_TEXT,
            "op": choices.CONVERSATION_OP,
            "snooze_till": choices.EMPTY_TEXT,
            "super": None,
            "support": False,
            "local_id": choices.EMPTY_TEXT,
        }

    # --- writes ---------------------------------------------------------------------------------------

    def _thread(self, inbox_id: int, phone: str, stamp: int) -> Conversation:
        conversation = self.by_thread.get((inbox_id, phone))
        if conversation is None:
            conversation = Conversation(self._next_conversation_id, inbox_id, phone, stamp, stamp)
            self._next_conversation_id += 1
            self.conversations[conversation.id] = conversation
            self.by_thread[(inbox_id, phone)] = conversation
            self.by_phone.setdefault(phone, []).append(conversation)
        return conversation

    def _store(self, message: Message, keep_sorted: bool) -> None:
        self.by_id[message.id] = message
        if message.local_id:
            self.by_local_id[message.local_id] = message.id
        message.conversation.note(message)
        date_key, updated_key = pack(message.date, message.id), pack(message.updated, message.id)
        if keep_sorted and not self._dirty:
            bisect.insort(self._by_date, date_key)
            bisect.insort(self._by_updated, updated_key)
        else:
            self._by_date.append(date_key)
            self._by_updated.append(updated_key)
            self._dirty = True

    def send(self, *, inbox_id: int, creator_id: int, phone: str | None, chat_id: int | None, text: str,
             media: str, author: str | None, local_id: str, private: bool) -> Message:
        """An outbound message (or internal comment) from the API; validation first, then one write.

        ``local_id`` must already have been checked for a replay by the caller (see ``find_local_id``).
        """
        inbox = self.directory.inboxes.get(inbox_id)
        if inbox is None:
            raise bad_data("field 'inbox_id' is not an inbox of the team; see GET /v1/inboxes")
        if choices.SEND_CREATOR_MUST_BE_INBOX_MEMBER and creator_id not in inbox["members"]:
            raise bad_data("field 'creator_id' must be the id of a member of the inbox 'inbox_id' "
                           "(see the inbox's members in GET /v1/inboxes)")
        if chat_id is not None:
            conversation = self.conversations.get(chat_id)
            if conversation is None or conversation.inbox != inbox_id:
                raise bad_data("field 'chat_id' is not a conversation of the inbox 'inbox_id'; send "
                               "'phone_number' to start one")
            phone, target_field = conversation.phone, "chat_id"
        else:
            if phone is None or not choices.PHONE_PATTERN.match(phone):
                raise bad_data(f"field 'phone_number' {PHONE_HINT}")
            target_field = "phone_number"
        existing = self.by_thread.get((inbox_id, phone))
        if private and choices.PRIVATE_NEEDS_CONVERSATION and existing is None:
            raise bad_data("a private comment ('private': true) needs an existing conversation: send 'chat_id' "
                           "or the 'phone_number' of a conversation of this inbox")
        contact = self.contacts.find_by_phone(phone)
        if not private and contact is not None and (contact.is_opted_out or contact.blocked):
            state = "opted out (is_opted_out)" if contact.is_opted_out else "blocked"
            raise ApiError(choices.SEND_TO_OPTED_OUT_STATUS,
                           f"field '{target_field}': the recipient's contact is {state}; nothing was sent "
                           "(POST /v1/contact/set_status changes it)")
        stamp = self.clock.tick()
        kind = (choices.MESSAGE_TYPE_PRIVATE if private
                else choices.MESSAGE_TYPE_MMS if media else choices.MESSAGE_TYPE_SMS)
        sender = self.directory.users.get(creator_id, {})
        message = Message(
            id=self._take_id(), conversation=self._thread(inbox_id, phone, stamp), date=stamp, updated=stamp,
            inbound=False, text=text, user=creator_id, status=choices.MESSAGE_STATUS_SENT, type=kind,
            media=media, author=author if author is not None else sender.get("name", choices.EMPTY_TEXT),
            local_id=local_id,
        )
        self._store(message, keep_sorted=True)
        return message

    def _take_id(self) -> int:
        message_id = self._next_id
        self._next_id += 1
        return message_id

    def forget_phone(self, contact: Contact) -> None:
        """A contact was deleted: hard-delete every conversation of its phone and their messages."""
        for conversation in self.by_phone.pop(contact.phone, []):
            for message_id in conversation.message_ids:
                message = self.by_id.pop(message_id)
                if message.local_id:
                    self.by_local_id.pop(message.local_id, None)
            del self.conversations[conversation.id]
            del self.by_thread[(conversation.inbox, conversation.phone)]
            self._stale = self._stale or bool(conversation.message_ids)

    # --- admin ----------------------------------------------------------------------------------------

    def load(self, raw: Any) -> int:
        """Admin load: a list of flat message objects, or the compact ``{"columns": [...], "rows": [...]}``.

        Stricter than the API on purpose (a broken fixture is an error, not a silent drop). Not atomic.
        """
        loader = _Loader(self)
        try:
            with _collector_paused():
                if isinstance(raw, list):
                    for index, item in enumerate(raw):
                        loader.add_object(index, item)
                    return len(raw)
                if isinstance(raw, dict) and set(raw) == {"columns", "rows"}:
                    return loader.add_rows(raw["columns"], raw["rows"])
                raise ValueError("'messages' must be a list of message objects or {\"columns\": [...], \"rows\": "
                                 "[[...], ...]} (the compact bulk form)")
        finally:
            loader.finish()
            self._dirty = True

    def dump(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(messages in the flat load form sorted by id, conversations sorted by id)``."""
        messages = [self.by_id[i].flat() for i in sorted(self.by_id)]
        conversations = [self._conversation_json(self.conversations[i]) for i in sorted(self.conversations)]
        return messages, conversations


class _Loader:
    """Validates and stores loaded messages, as fast as plain Python allows (1,000,000 in a few seconds).

    Errors name the item and the field, never the phone or the text. Repeated texts share one string.
    """

    def __init__(self, book: MessageBook) -> None:
        self.book = book
        self.default_inbox = book.directory.default_inbox_id()
        self.inboxes = book.directory.inboxes
        self.users = book.directory.users
        self.texts: dict[str, str] = {}
        self.authors: dict[int | None, str] = {None: choices.EMPTY_TEXT}
        self.default_users: dict[int, int] = {}
        self.latest = book.clock.last

    def add_rows(self, columns: Any, rows: Any) -> int:
        """The compact form: one array per message, values in the order of *columns*."""
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise ValueError("'messages.columns' must be a list of field names")
        unknown = set(columns) - set(LOAD_FIELDS)
        if unknown or len(set(columns)) != len(columns):
            raise ValueError(f"'messages.columns' must be distinct names from {list(LOAD_FIELDS)}")
        if not isinstance(rows, list):
            raise ValueError("'messages.rows' must be a list of arrays")
        width = len(columns)
        # Row + [None], picked in LOAD_FIELDS order (absent columns pick the None): all in C, no dict per row.
        pick = operator.itemgetter(*(columns.index(f) if f in columns else width for f in LOAD_FIELDS))
        pad = [None]
        add = self.add
        for index, row in enumerate(rows):
            if type(row) is not list or len(row) != width:
                raise ValueError(f"messages.rows[{index}] must be an array of {width} values (one per column)")
            add(index, *pick(row + pad))
        return len(rows)

    def add_object(self, index: int, raw: Any) -> None:
        if type(raw) is not dict:
            raise _error(index, "must be an object")
        if not raw.keys() <= _LOAD_FIELD_SET:  # a typo ("inbox") would otherwise load a default silently
            raise _error(index, f"unknown fields {sorted(raw.keys() - _LOAD_FIELD_SET)}; use {list(LOAD_FIELDS)}")
        self.add(index, *map(raw.get, LOAD_FIELDS))

    def finish(self) -> None:
        self.book.clock.observe(self.latest)

    def add(self, index: int, message_id: Any, phone: Any, inbox_id: Any, direction: Any, text: Any,  # noqa: C901
            media: Any, date_raw: Any, updated_raw: Any, user: Any, status: Any, kind: Any, author: Any,
            local_id: Any, flagged: Any) -> None:
        """One message, its values in ``LOAD_FIELDS`` order; one flat pass on purpose (speed)."""
        book = self.book
        if type(phone) is not str or not _PHONE(phone):
            raise _error(index, f"field 'phone' {PHONE_HINT}")
        if inbox_id is None:
            inbox_id = self.default_inbox
        if type(inbox_id) is not int or inbox_id not in self.inboxes:
            raise _error(index, "field 'inbox_id' must be the id of a loaded inbox")
        if direction is None:
            inbound = user is None
        elif direction == INBOUND or direction == OUTBOUND:
            inbound = direction == INBOUND
        else:
            raise _error(index, f"field 'direction' must be '{INBOUND}' or '{OUTBOUND}'")
        if inbound:
            if user is not None:
                raise _error(index, "an inbound message has no 'user' (leave it out or null)")
        elif user is None:
            user = self._default_user(index, inbox_id)
        elif type(user) is not int or user not in self.users:
            raise _error(index, "field 'user' must be a team member id (see GET /v1/users/get)")
        if message_id is None:
            message_id = book._next_id
            book._next_id += 1
        elif type(message_id) is not int or not 0 < message_id < MAX_LOADED_ID:
            raise _error(index, f"field 'id' must be a positive integer below 2**{ID_BITS - 1}")
        elif message_id in book.by_id:
            raise _error(index, f"message id {message_id} already exists")
        elif message_id >= book._next_id:
            book._next_id = message_id + 1
        date = self._stamp(index, date_raw, "date")
        updated = date if not updated_raw else self._stamp(index, updated_raw, "updated")
        if updated < date:
            raise _error(index, "'updated' is before 'date'")
        if updated > self.latest:
            self.latest = updated
        texts = self.texts
        if text is None:
            text = choices.EMPTY_TEXT
        elif type(text) is not str:
            raise _error(index, "field 'text' must be a string")
        else:
            text = texts.setdefault(text, text)
        if media is None:
            media = choices.EMPTY_TEXT
        elif type(media) is not str:
            raise _error(index, "field 'media' must be a string")
        if local_id is None:
            local_id = choices.EMPTY_TEXT
        elif type(local_id) is not str:
            raise _error(index, "field 'local_id' must be a string")
        elif local_id in book.by_local_id:
            raise _error(index, f"field 'local_id' is already used by message {book.by_local_id[local_id]}")
        if status is None:
            status = _INBOUND_STATUS if inbound else choices.MESSAGE_STATUS_SENT
        elif (status != _INBOUND_STATUS) if inbound else (status not in _OUTBOUND_STATUSES):
            allowed = [_INBOUND_STATUS] if inbound else sorted(_OUTBOUND_STATUSES)
            raise _error(index, f"field 'status' of this message must be one of {allowed}")
        if kind is None:
            kind = choices.MESSAGE_TYPE_MMS if media else choices.MESSAGE_TYPE_SMS
        elif kind not in _TYPES:
            raise _error(index, f"field 'type' must be one of {list(_TYPES)}")
        if author is None:
            author = self.authors.get(user)
            if author is None:
                author = self.authors[user] = self.users[user]["name"]
        elif type(author) is not str:
            raise _error(index, "field 'author' must be a string")
        else:
            author = texts.setdefault(author, author)
        conversation = book.by_thread.get((inbox_id, phone)) or book._thread(inbox_id, phone, date)
        message = Message(message_id, conversation, date, updated, inbound, text, user, status, kind, media,
                          author, local_id, bool(flagged))
        book.by_id[message_id] = message
        if local_id:
            book.by_local_id[local_id] = message_id
        conversation.note(message)
        book._by_date.append(date * ID_SPAN + message_id)
        book._by_updated.append(updated * ID_SPAN + message_id)

    def _stamp(self, index: int, raw: Any, name: str) -> int:
        if not raw:
            self.book.clock.observe(self.latest)  # a made-up stamp is newer than everything loaded so far
            return self.book.clock.tick()
        try:
            return parse_micros(raw, name)
        except ValueError as exc:
            raise _error(index, str(exc)) from None

    def _default_user(self, index: int, inbox_id: int) -> int:
        """An outbound message without ``user`` was sent by the inbox's first member (lowest id)."""
        user = self.default_users.get(inbox_id)
        if user is None:
            members = [m for m in self.inboxes[inbox_id]["members"] if m in self.users]
            if not members:
                raise _error(index, "field 'user' is required (the inbox has no members)")
            user = self.default_users[inbox_id] = min(members)
        return user


_PHONE = choices.PHONE_PATTERN.match
_LOAD_FIELD_SET = frozenset(LOAD_FIELDS)
_INBOUND_STATUS = choices.MESSAGE_STATUS_INBOUND
_OUTBOUND_STATUSES = frozenset(choices.MESSAGE_STATUSES_OUTBOUND)
_TYPES = (choices.MESSAGE_TYPE_SMS, choices.MESSAGE_TYPE_MMS, choices.MESSAGE_TYPE_PRIVATE)


def _error(index: int, message: str) -> ValueError:
    return ValueError(f"messages[{index}]: {message}")
