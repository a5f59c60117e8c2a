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
PHONE_PATTERN = re.compile(r"^[1-9]\d{7,14}$")
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

# --- Auth and rate limit ---------------------------------------------------------------------------------

#: HS256 JWTs are accepted while ``now - JWT_MAX_AGE_SECONDS <= iat <= now + JWT_MAX_FUTURE_SECONDS``. ❓
JWT_MAX_AGE_SECONDS = 300
JWT_MAX_FUTURE_SECONDS = 30
#: Basic auth: the API key is the user name; the password is ignored (curl sends it empty).
BASIC_PASSWORD_IGNORED = True
#: The 401 message is the documented text. ✅
UNAUTHORIZED_MESSAGE = "missing valid authentication credentials; check Authorization header and signed JWT"
#: A fixed 60 s window aligned to the clock minute, counted per credential (API key or secret id).
#: ``FaultConfig.rate_limit_per_minute`` overrides the limit at request time. Rejected (429) requests count
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
