"""Request bodies: the "Contact json" of the docs and the "Pagination json", validated into typed objects.

Validation errors become 400 ``bad_data`` whose message names the offending field, as the docs promise
("read the body for the failing field"). Messages never echo the submitted values (personal data).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from emulators.heymarket import choices
from emulators.heymarket.errors import ApiError, bad_data
from emulators.heymarket.timestamps import parse_micros

M = TypeVar("M", bound=BaseModel)

PHONE_HINT = "must be E.164 digits without '+', 8 to 15 digits, e.g. 14155550134"

CustomValue = str | int | float | bool | None


class TagRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tag_id: int


class ChannelIn(BaseModel):
    """One ``contact_channels`` entry (v2)."""

    model_config = ConfigDict(extra="ignore")
    channel_type: str | None = None
    channel_id: str | None = None
    channel_ids: list[str] | None = None
    channel_handle: str | None = None
    info_channel: bool | None = None


class ContactIn(BaseModel):
    """The writable fields of a contact. Which keys were sent matters (``model_fields_set``)."""

    model_config = ConfigDict(extra="ignore")

    phone: str | None = None
    first: str | None = None
    last: str | None = None
    display_name: str | None = None
    email: str | None = None
    avatar: str | None = None
    custom: dict[str, CustomValue] | None = None
    assignee_id: int | None = None
    tags: list[TagRef] | None = Field(None, max_length=choices.MAX_TAGS)
    is_opted_out: bool | None = None
    email_suppressions: list[int] | None = None
    contact_channels: list[ChannelIn] | None = None
    contact_id: str | None = None

    @field_validator("phone")
    @classmethod
    def _phone_is_e164_digits(cls, value: str | None) -> str | None:
        if value is not None and not choices.PHONE_PATTERN.match(value):
            raise ValueError(PHONE_HINT)
        return value

    def sent(self, name: str) -> bool:
        return name in self.model_fields_set

    def channel_value(self, channel_type: str) -> str | None:
        """The first ``channel_id`` of the given type in ``contact_channels`` (v2 create)."""
        for channel in self.contact_channels or []:
            if channel.channel_type == channel_type and channel.channel_id:
                return channel.channel_id
        return None


class ListQuery(BaseModel):
    """The "Pagination json" of ``POST /v1/contacts`` and ``POST /v2/contacts/list``."""

    model_config = ConfigDict(extra="ignore")

    date: str | None = None
    limit: int | None = None
    page: int | None = Field(None, ge=0)
    ascending: bool | None = None

    @field_validator("limit")
    @classmethod
    def _limit_positive(cls, value: int | None) -> int | None:
        if value is not None and value < choices.LIST_MIN_LIMIT:
            raise ValueError(f"must be at least {choices.LIST_MIN_LIMIT}")
        return value

    @property
    def page_size(self) -> int:
        if self.limit is None:
            return choices.LIST_DEFAULT_LIMIT
        return min(self.limit, choices.LIST_MAX_LIMIT)

    @property
    def offset(self) -> int:
        page = self.page or 0
        return 0 if page in choices.LIST_FIRST_PAGE_VALUES else (page - 1) * self.page_size

    @property
    def is_ascending(self) -> bool:
        return choices.LIST_DEFAULT_ASCENDING if self.ascending is None else self.ascending

    def date_micros(self) -> int | None:
        if self.date is None:
            return None
        try:
            return parse_micros(self.date, "date")
        except ValueError as exc:
            raise bad_data(str(exc)) from None


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """``field 'phone': must be E.164 ...; field 'tags': ...`` without the submitted values."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"field '{prefix}{loc}': {message}")
    return "; ".join(parts)


def parse_model(model: type[M], payload: Any, prefix: str = "") -> M:
    """Validate *payload* into *model* or raise 400 bad_data naming the fields."""
    if not isinstance(payload, dict):
        raise bad_data(f"{prefix or 'request body'} must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise bad_data(describe_validation_error(exc, prefix)) from None


def contact_error_text(exc: ApiError | ValidationError) -> str:
    """The short per-item error string of batch replies (``"invalid phone"`` and the like)."""
    if isinstance(exc, ApiError):
        return exc.message
    locs = {str(err["loc"][0]) for err in exc.errors(include_url=False) if err["loc"]}
    if "phone" in locs:
        return choices.BATCH_ERROR_INVALID_PHONE
    return describe_validation_error(exc)


def clean_custom(raw: dict[str, CustomValue], known_ids: set[str]) -> dict[str, str | None]:
    """Keep only known field ids; values as text; ``None`` marks a key to remove (null or empty)."""
    cleaned: dict[str, str | None] = {}
    for key, value in raw.items():
        if key not in known_ids:
            continue  # ⚠️ the real API drops unknown keys (e.g. titles) silently
        if value is None or (value == "" and choices.CUSTOM_BLANK_REMOVES_KEY):
            cleaned[key] = None
        elif isinstance(value, bool):
            cleaned[key] = "true" if value else "false"
        else:
            cleaned[key] = str(value)
    return cleaned
