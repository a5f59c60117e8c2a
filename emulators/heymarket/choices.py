"""Every behaviour the Heymarket docs leave open (❓ in ``reference/heymarket-api.md``), decided once.

The emulator code reads these constants instead of hard-coding numbers, so a reader can see in one place
what is documented fact and what is our guess. The client (``plugins/heymarket_hook``) is built against
these choices and is written to tolerate the plausible alternatives where that is cheap.
"""

from __future__ import annotations

import re

# --- Listing contacts (POST /v1/contacts, POST /v2/contacts/list) ------------------------------------------

#: Page size when ``limit`` is absent. ✅ documented (30 most recent).
LIST_DEFAULT_LIMIT = 30
#: Largest page; a bigger ``limit`` is clamped to this, not rejected. ❓ undocumented maximum.
LIST_MAX_LIMIT = 100
#: ``limit`` below 1 is rejected with 400 bad_data (a zero page would make a cursor walk loop forever).
LIST_MIN_LIMIT = 1
#: Default order is newest ``updated`` first, ties broken by the larger id first. ⚠️ inferred from the
#: sibling endpoints (tags, templates, conversations).
LIST_DEFAULT_ASCENDING = False
#: The ``date`` cursor is INCLUSIVE: ``updated <= date`` (descending) or ``updated >= date`` (ascending).
#: So the last item of a page comes back as the first item of the next one; clients dedupe on id. Inclusive
#: never loses a contact that shares its timestamp with the page boundary, exclusive could.
LIST_DATE_INCLUSIVE = True
#: ``page`` 0, 1 or absent is the first page; page N >= 1 skips (N - 1) * limit items after the date filter.
#: (The v2 docs example sends ``page: 0``, a third-party mirror says pages start at 1: both mean "first".)
LIST_FIRST_PAGE_VALUES = (0, 1)
#: A ``date`` without a UTC offset is read as UTC.
LIST_NAIVE_DATE_IS_UTC = True
#: Pagination keys whose meaning is undocumented: accepted and ignored, no filtering happens (for the
#: record: ``ListQuery`` ignores every key it does not know, these included).
LIST_IGNORED_KEYS = ("archived", "assigned", "filter", "id", "order", "parent_id")

# --- Count (POST /v1/contacts/count) ---------------------------------------------------------------------

#: Accepts ``{}`` (or any pagination body, whose keys are ignored) and returns the total number of contacts
#: of the team as a bare JSON number. ❓ shape undocumented; the sibling messages count returns a string.
COUNT_RETURNS_JSON_NUMBER = True

# --- Timestamps and revisions ----------------------------------------------------------------------------

#: ``created``/``updated`` are RFC 3339 in UTC with microseconds and a ``Z`` suffix.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: Every write gets ``updated = max(now, previous write + 1 µs)``, so timestamps are unique and strictly
#: increasing across the whole store (a cursor walk is deterministic). ``rev`` grows by 1 on every write.
TIMESTAMP_STEP_MICROS = 1
#: Admin setting (``POST /__admin/load {"settings": {"duplicate_timestamps": true}}``): while on, every write
#: gets the same ``updated`` value, fixed when the setting is switched on, to exercise client dedupe.
SETTING_DUPLICATE_TIMESTAMPS = "duplicate_timestamps"
#: ``op`` ("last operation performed on the contact", values ❓): one of these.
OP_CREATE = "create"
OP_UPDATE = "update"
OP_STATUS = "status"
#: ``type`` (❓): always this value.
CONTACT_TYPE = "contact"

# --- Contacts: validation and writes -----------------------------------------------------------------------

#: A phone is E.164 digits without ``+``; anything else is 400 bad_data naming the field (no normalising).
#: ASCII digits only and nothing after them (``\d`` would take other scripts' digits, ``$`` a final newline).
PHONE_PATTERN = re.compile(r"^[1-9][0-9]{7,14}\Z")
#: Creating a contact whose phone already exists: 400 bad_data. ❓ undocumented.
DUPLICATE_PHONE_STATUS = 400
#: Create returns 200 (not 201). ❓
CREATE_STATUS = 200
#: ``PUT /v1/contact/{id}``: ``first``/``last`` are always overwritten (omitted means empty); omitted
#: ``email``, ``avatar``, ``tags``, ``is_opted_out``, ``assignee_id`` and ``custom`` are left unchanged
#: (with ``overwrite=true`` a SENT ``custom`` replaces the map; an omitted one still leaves it alone).
#: ❓ beyond "names are overwritten".
UPDATE_OMITTED_NAME_CLEARS = True
#: On every create or update that does not send ``display_name`` (or sends it empty), it is recomputed as
#: ``first + " " + last``. ✅ for create; ❓ for updates.
DISPLAY_NAME_FOLLOWS_NAMES = True
#: ``PUT /v2/contact/{uuid}`` and updates through ``POST /v2/contacts`` are partial: only the keys sent
#: change, ``custom`` is merged (like v1 ``overwrite=false``). ❓
V2_UPDATE_IS_PARTIAL = True
#: Custom-field values are untyped strings: numbers and booleans are stored as their text
#: (``true``/``false``); a ``null`` or empty-string value removes the key. Keys must be existing field ids
#: (numeric strings); anything else (e.g. a field title) is dropped silently (⚠️ third-party hint).
CUSTOM_BLANK_REMOVES_KEY = True
#: Empty text fields (first, last, email, ...) are returned as ``""``, never ``null``. ❓
EMPTY_TEXT = ""
#: Tags: at most 5 per contact ✅; the element shape is ❓, we return what was sent: ``{"tag_id": n}``.
MAX_TAGS = 5
#: ``assignee_id`` must be the id of a team membership (``GET /v1/users/get``); ``-1`` unassigns ✅.
UNASSIGN_ID = -1
#: ``POST /v1/contact/set_status``: ``active`` means unblocked and subscribed. A status change is a write
#: (``rev`` and ``updated`` move), because ``is_opted_out`` is part of the contact.
STATUS_VALUES = ("active", "blocked", "unblocked", "subscribed", "unsubscribed")
# ``is_opted_out`` is part of every contact read (get, the v1 list and the v2 list/search) and is written by
# create, update and both bulk calls (``POST /v1/batch/contacts``, ``POST /v2/contacts``) like any other
# Contact-json key: sent, it is stored; left out of an update, it is kept (``Contacts._apply_fields``). ✅ for
# the field itself (§3) and for ``set_status unsubscribed`` being equivalent; ❓ whether list responses carry
# it and whether the v2 bulk update accepts it. Opt-out sync relies on both (README, "Opt-out status").

# --- Batches ----------------------------------------------------------------------------------------------

#: Max items in ``POST /v1/batch/contacts``, ``POST /v2/contacts`` and ids in ``DELETE /v2/contacts`` and
#: ``POST /v2/contacts/search``; more is 400 bad_data for the whole request. ❓ undocumented.
MAX_BATCH_SIZE = 100
#: ``POST /v1/batch/contacts``: matched to existing contacts by phone. ``overwrite=false`` silently skips
#: existing phones (not a failure); ``overwrite=true`` updates them like ``PUT ?overwrite=true``. The reply
#: is ``"ok"`` when nothing failed, else HTTP 200 with the failed submitted objects, each with an added
#: ``"error"`` string (these texts). Within one batch the first occurrence of a phone wins.
BATCH_OK = "ok"
BATCH_ERROR_MISSING_PHONE = "missing phone"
BATCH_ERROR_INVALID_PHONE = "invalid phone"
BATCH_ERROR_DUPLICATE_IN_BATCH = "duplicate phone in batch"
BATCH_ERROR_PHONE_EXISTS = "phone already exists"
BATCH_ERROR_NOT_FOUND = "contact not found"
#: ``POST /v2/contacts``: failures are ``{"contact": <submitted item>, "error": "<text>"}``. ❓
V2_FAILED_ERROR_KEY = "error"
#: ``DELETE /v2/contacts``: unknown uuids are ignored; the reply is ``"ok"``.
BULK_DELETE_OK = "ok"

# --- Custom fields ----------------------------------------------------------------------------------------

#: ``POST /v1/contact-fields`` takes ``{}`` (body ignored) and returns ``[{id, title}]`` ordered by id. ❓
#: ``POST /v1/contacts/fields``: a title equal to an existing one (after trimming, case-sensitive) is
#: ``duplicate: true`` and creates nothing.
FIELD_TITLE_CASE_SENSITIVE = True

# --- Team ----------------------------------------------------------------------------------------------

#: ``GET /v1/team`` ``list_size`` (meaning ❓): the number of contacts of the team.
TEAM_LIST_SIZE_COUNTS_CONTACTS = True

# --- Messages and conversations (POST /v1/messages/all, GET /v1/messages, POST /v1/message/send) ------------
# Facts (reference §8, §9 and the generated Message schema of the docs): a Message is
# ``{id, text, media, phone, target, type, status, date, updated, user, author, local_id, broadcast_id,
# flagged, link_url, super, support, custom, conversation{...}}``; ``date`` is when it was sent or received,
# ``user`` the member who sent it. Everything below is what the docs leave open.

#: Direction is not a field: it is expressed the way the Message object allows. An inbound message has
#: ``user: null`` and ``status: "received"``; an outbound one has ``user`` = the sending member id and an
#: outbound status. (The webhook event names ``message_sent`` / ``message_recieved`` are the only explicit
#: direction the docs give.) ❓ status values.
MESSAGE_STATUS_INBOUND = "received"
#: Status of a message sent through the API. It never changes afterwards (no delivery simulation). ❓
MESSAGE_STATUS_SENT = "sent"
#: Statuses an outbound message may be loaded with (admin load).
MESSAGE_STATUSES_OUTBOUND = ("sent", "delivered", "failed", "queued")
#: ``type`` ("Message type", values ❓): ``sms`` without media, ``mms`` with media, ``private`` for an
#: internal comment (``private: true`` on send).
MESSAGE_TYPE_SMS = "sms"
MESSAGE_TYPE_MMS = "mms"
MESSAGE_TYPE_PRIVATE = "private"
#: ``phone`` and ``target`` are both the contact's E.164 digits (the conversation's other party) for
#: either direction. ❓ whether ``target`` is rather the inbox number; the docs name neither.
MESSAGE_TARGET_IS_CONTACT_PHONE = True  # for the record: the code has no other branch
#: The Message has no ``inbox_id``: the inbox is ``conversation.inbox`` (as in the documented schema).
MESSAGE_INBOX_IN_CONVERSATION = True  # for the record: the code has no other branch
#: Undocumented or unused Message fields: ``broadcast_id`` and ``super`` are ``null``, ``flagged`` and
#: ``support`` ``false``, ``link_url`` ``""``, ``custom`` ``{"data": [], "type": ""}``. ``media`` is ``""``
#: without media. ``author`` is the sent ``author``, else the sending member's name; ``""`` for inbound.
MESSAGE_EMPTY_CUSTOM: dict[str, object] = {"data": [], "type": EMPTY_TEXT}
#: Message ids are integers from this value up, in creation (or load) order.
FIRST_MESSAGE_ID = 1_000_001
#: Conversation ids likewise; one conversation per (inbox, contact phone), made by its first message.
FIRST_CONVERSATION_ID = 500_001
#: The embedded ``conversation`` is the conversation's CURRENT state (not a snapshot at the message's time):
#: ``id``, ``inbox``, ``target`` (contact phone), ``name`` (the contact's display name, else the phone),
#: ``channel`` ``sms``, ``type`` ``individual``, ``status`` ``open``, ``created``/``updated`` (first/last
#: message ``date``), ``creator`` (sender of the first outbound message, else ``null``), ``assigned`` (the
#: contact's ``assigned_user_id``), ``members`` (the inbox members ``{id, name}``), ``last_inbound`` (id of
#: the newest inbound message, else ``null``), ``replied`` (the newest message is outbound), ``blocked``
#: (the contact is blocked), ``read``/``super`` ``null``, ``muted``/``email_noti``/``support`` ``false``,
#: ``noreply``/``snooze_till``/``local_id`` ``""``, ``op`` ``update``. ❓ all of these values.
CONVERSATION_CHANNEL = "sms"
CONVERSATION_TYPE = "individual"
CONVERSATION_STATUS = "open"
CONVERSATION_OP = "update"
#: Messages belong to the phone number, not to a contact record: a conversation may exist without any
#: contact (e.g. an inbound text from an unknown number), sending does NOT create a contact, and a contact
#: whose phone changes leaves its conversations with the old number. Deleting a contact hard-deletes every
#: conversation (all inboxes) of its current phone with all their messages (✅ "delete also removes
#: conversation history"). ❓ whether a send auto-creates a contact.
SEND_CREATES_CONTACT = False  # for the record: the code has no other branch

# POST /v1/messages/all -----------------------------------------------------------------------------------

#: Page size when ``limit`` is absent ✅; above the maximum it is clamped, below 1 it is 400. ❓ maximum.
MESSAGES_DEFAULT_LIMIT = 30
MESSAGES_MAX_LIMIT = 100
#: ``order`` values ✅; the default ✅ is ``created_at``. ``created_at`` sorts by the message ``date``,
#: ``updated_at`` by ``updated``. Any other value is 400 bad_data (❓: the API may ignore it).
MESSAGES_ORDER_CREATED = "created_at"
MESSAGES_ORDER_UPDATED = "updated_at"
MESSAGES_ORDERS = (MESSAGES_ORDER_CREATED, MESSAGES_ORDER_UPDATED)
#: The cursor key is ``created_at`` (the guide) ✅; the generated schema names the Pagination json's
#: ``date`` instead, so ``date`` is accepted as an alias when ``created_at`` is absent. ❓
MESSAGES_CURSOR_KEYS = ("created_at", "date")
#: The cursor is compared with the key the page is ORDERED by: with ``order: updated_at`` the
#: ``created_at`` value is an ``updated`` bound. So a walk always sends the last message's sort key (``date``
#: for created_at, ``updated`` for updated_at). ❓ (the docs only describe the created_at walk).
MESSAGES_CURSOR_FOLLOWS_ORDER = True  # for the record: the code has no other branch
#: The cursor is INCLUSIVE, exactly like the contact listing: ``key <= cursor`` (descending, the default ✅)
#: or ``key >= cursor`` (``ascending: true``). The docs say "created before this time"; inclusive never loses
#: a message that shares its timestamp with the page boundary, so the next page starts with the previous
#: page's last message and clients dedupe by id. Ties are broken by id (larger id first when descending). A
#: cursor without a UTC offset is UTC. ``page`` works as for contacts (N >= 1 skips (N-1)*limit after the
#: cursor filter); ``archived``, ``assigned``, ``filter``, ``id``, ``parent_id`` are accepted and ignored.
MESSAGES_CURSOR_INCLUSIVE = True
#: ``POST /v1/messages/all/count`` returns the team's total number of messages as a JSON STRING ✅ (``"42"``);
#: it accepts the same body as the listing and ignores it (no cursor filtering). ❓ whether it filters.
MESSAGES_COUNT_IS_STRING = True
MESSAGES_COUNT_IGNORES_BODY = True  # for the record: the code has no other branch

# GET /v1/messages?phoneNumber=&inboxID=&timestamp= ------------------------------------------------------

#: At most this many messages ✅, newest ``date`` first (ties: larger id first). ❓ order.
HISTORY_LIMIT = 50
#: ``timestamp`` (Unix seconds ✅, "sent before this time") is inclusive at whole-second granularity:
#: messages whose ``date`` falls in a second <= ``timestamp`` are returned. A client paging back sends the
#: oldest seen ``date`` floored to seconds and dedupes by id: nothing sharing that second is lost. ❓
HISTORY_TIMESTAMP_INCLUSIVE_SECOND = True
#: ``phoneNumber`` and ``inboxID`` are required ✅ (400 bad_data naming the parameter). An unknown inbox is
#: 404 not_found; a known inbox with no conversation for the phone answers ``[]``. ❓
HISTORY_UNKNOWN_INBOX_STATUS = 404

# POST /v1/message/send ----------------------------------------------------------------------------------

#: ``inbox_id`` and ``creator_id`` are required ✅. An inbox that does not exist, or a ``creator_id`` that is
#: not a member of that inbox ✅ ("member id belonging to the inbox"), is 400 bad_data naming the field. ❓
SEND_CREATOR_MUST_BE_INBOX_MEMBER = True
#: Exactly one of ``phone_number`` / ``chat_id`` ✅ ("not both"; neither is 400 too). ``chat_id`` must be an
#: existing conversation of the same inbox (else 400 naming ``chat_id``). ``list_id`` broadcasts and
#: ``targets`` group MMS are not emulated: 400 bad_data naming the field.
SEND_UNSUPPORTED_TARGETS = ("list_id", "targets")
#: Content is ``text`` and/or ``media_url``, or ``template_id`` (✅ text | template_id | media_url); at least
#: one, and ``text`` with ``template_id`` is 400 (ambiguous). Templates are not emulated: any positive
#: ``template_id`` is accepted and the message's ``text`` becomes this placeholder. ❓
SEND_TEMPLATE_TEXT = "[template {template_id}]"
#: Longest ``text`` accepted; longer is 400 bad_data. ❓ (1,600 characters = 10 concatenated SMS segments).
MAX_MESSAGE_TEXT = 1600
#: ``gallery_url`` of the send reply: the ``media_url`` as sent for MMS (the emulator has no media gallery),
#: ``""`` otherwise. ❓
SEND_GALLERY_URL_ECHOES_MEDIA = True
#: ``local_id`` is the idempotency key ✅, unique per team: a send whose ``local_id`` already names a message
#: (sent or loaded) creates nothing and returns that message's ``{id, date, gallery_url}`` again, even when
#: the rest of the body differs (the body is not compared). ❓
SEND_LOCAL_ID_IDEMPOTENT = True
#: Sending (not a private comment) to a contact who opted out (``is_opted_out``, ``set_status
#: unsubscribed``) or is blocked is 400 bad_data naming ``phone_number``/``chat_id``: nothing is stored. ❓
#: (the API might instead store a failed message).
SEND_TO_OPTED_OUT_STATUS = 400
#: ``private: true`` (an internal comment) needs an existing conversation ✅; it is stored with type
#: ``private`` and status ``sent`` and is returned by the listings like any other message. ❓
PRIVATE_NEEDS_CONVERSATION = True
#: ``survey_id``, ``activity_id`` are accepted and ignored; ``author`` is stored on the message.
SEND_IGNORED_KEYS = ("survey_id", "activity_id")  # for the record: the code has no other branch

# --- Auth and rate limit ---------------------------------------------------------------------------------

#: HS256 JWTs are accepted while ``now - JWT_MAX_AGE_SECONDS <= iat <= now + JWT_MAX_FUTURE_SECONDS``. ❓
JWT_MAX_AGE_SECONDS = 300
JWT_MAX_FUTURE_SECONDS = 30
#: Basic auth: the API key is the user name; the password is ignored (curl sends it empty).
BASIC_PASSWORD_IGNORED = True
#: The 401 message is the documented text. ✅
UNAUTHORIZED_MESSAGE = "missing valid authentication credentials; check Authorization header and signed JWT"
#: A fixed 60 s window aligned to the clock minute, counted per credential (API key or secret id).
#: ``FaultConfig.rate_limit_per_minute`` overrides the limit at request time (and
#: ``rate_limit_window_seconds`` the window, to scale the limit down in time for tests). Rejected (429) requests count
#: against the window; requests failing auth do not. The 429 carries ``Retry-After`` = whole seconds to the
#: end of the window (an emulator extension; ❓ whether the real API sends one).
RATE_LIMIT_PER_MINUTE = 500
RATE_LIMIT_WINDOW_SECONDS = 60
#: ``Retry-After`` of an injected 429 (``POST /__admin/faults``), which has no real window behind it.
INJECTED_RETRY_AFTER_SECONDS = 1

# --- Errors ---------------------------------------------------------------------------------------------

#: Error bodies are ``{"error": "<name>", "message": "<how to fix>"}``; names by status. ❓
ERROR_NAMES = {
    400: "bad_data",
    401: "unauthorized",
    403: "denied",
    404: "not_found",
    405: "method_not_allowed",
    429: "rate_limit_exceeded",
    500: "server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
