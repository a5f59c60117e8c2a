"""Request bodies and query strings of the message endpoints, validated into typed objects.

As for contacts, a validation error is 400 ``bad_data`` naming the field, and never echoes what was sent
(phones and message texts are personal data).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.datastructures import QueryParams

from emulators.heymarket import choices
from emulators.heymarket.contact_input import PHONE_HINT
from emulators.heymarket.errors import bad_data
from emulators.heymarket.timestamps import parse_micros

_INTEGER = re.compile(r"-?[0-9]{1,18}")


class MessageListQuery(BaseModel):
    """The body of ``POST /v1/messages/all`` (and, ignored, of ``/v1/messages/all/count``)."""

    model_config = ConfigDict(extra="ignore")

    created_at: str | None = None
    date: str | None = None
    order: str | None = None
    ascending: bool | None = None
    limit: int | None = None
    page: int | None = Field(None, ge=0)

    @field_validator("limit")
    @classmethod
    def _limit_positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("order")
    @classmethod
    def _known_order(cls, value: str | None) -> str | None:
        if value is not None and value not in choices.MESSAGES_ORDERS:
            raise ValueError(f"must be one of {', '.join(choices.MESSAGES_ORDERS)}")
        return value

    @property
    def page_size(self) -> int:
        return min(self.limit or choices.MESSAGES_DEFAULT_LIMIT, choices.MESSAGES_MAX_LIMIT)

    @property
    def offset(self) -> int:
        page = self.page or 0
        return 0 if page in choices.LIST_FIRST_PAGE_VALUES else (page - 1) * self.page_size

    @property
    def sort_key(self) -> str:
        return self.order or choices.MESSAGES_ORDER_CREATED

    def cursor_micros(self) -> int | None:
        """The cursor in µs (``created_at``, else its alias ``date``), or None for "most recent"."""
        for name in choices.MESSAGES_CURSOR_KEYS:
            value = getattr(self, name)
            if value is not None:
                try:
                    return parse_micros(value, name)
                except ValueError as exc:
                    raise bad_data(str(exc)) from None
        return None


class SendIn(BaseModel):
    """The "Message send json" of ``POST /v1/message/send``."""

    model_config = ConfigDict(extra="ignore")

    inbox_id: int
    creator_id: int
    phone_number: str | None = None
    chat_id: int | None = None
    list_id: Any = None
    targets: Any = None
    text: str | None = Field(None, max_length=choices.MAX_MESSAGE_TEXT)
    media_url: str | None = None
    template_id: int | None = Field(None, ge=1)
    local_id: str | None = None
    private: bool | None = None
    author: str | None = None

    @field_validator("phone_number")
    @classmethod
    def _phone_is_e164_digits(cls, value: str | None) -> str | None:
        if value is not None and not choices.PHONE_PATTERN.match(value):
            raise ValueError(PHONE_HINT)
        return value

    def check_shape(self) -> None:
        """The cross-field rules: one target family, some content (400 naming the fields)."""
        for name in choices.SEND_UNSUPPORTED_TARGETS:
            if getattr(self, name) is not None:
                raise bad_data(f"field '{name}': list broadcasts and group MMS are not emulated; send "
                               "'phone_number' or 'chat_id'")
        if (self.phone_number is None) == (self.chat_id is None):
            raise bad_data("send exactly one of 'phone_number' or 'chat_id' (not both)")
        if self.text is not None and self.template_id is not None:
            raise bad_data("send either 'text' or 'template_id', not both")
        if not (self.text or self.media_url or self.template_id):
            raise bad_data("message content is required: send 'text', 'template_id' or 'media_url'")

    @property
    def body_text(self) -> str:
        if self.template_id is not None:
            return choices.SEND_TEMPLATE_TEXT.format(template_id=self.template_id)
        return self.text or choices.EMPTY_TEXT


class HistoryQuery(BaseModel):
    """``GET /v1/messages?phoneNumber=&inboxID=&timestamp=`` (parsed by hand: exact names in errors)."""

    phone: str
    inbox_id: int
    timestamp: int | None

    @classmethod
    def from_query(cls, params: QueryParams) -> HistoryQuery:
        phone = params.get("phoneNumber")
        if not phone:
            raise bad_data("query parameter 'phoneNumber' is required (E.164 digits without '+')")
        if not choices.PHONE_PATTERN.match(phone):
            raise bad_data(f"query parameter 'phoneNumber' {PHONE_HINT}")
        inbox = params.get("inboxID")
        if not inbox:
            raise bad_data("query parameter 'inboxID' is required (an inbox id from GET /v1/inboxes)")
        if not _INTEGER.fullmatch(inbox):
            raise bad_data("query parameter 'inboxID' must be an integer inbox id")
        timestamp = params.get("timestamp")
        if timestamp is not None and timestamp != "" and not _INTEGER.fullmatch(timestamp):
            raise bad_data("query parameter 'timestamp' must be a Unix time in whole seconds")
        return cls(phone=phone, inbox_id=int(inbox), timestamp=int(timestamp) if timestamp else None)
