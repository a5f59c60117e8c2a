"""``/v2`` contact endpoints (UUID-based): get/create/update/delete, bulk create-or-update, bulk delete,
list and search by contact channels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emulators.heymarket import choices
from emulators.heymarket.bodies import read_json, reply
from emulators.heymarket.contact_input import (
    PHONE_HINT,
    ChannelIn,
    ContactIn,
    contact_error_text,
    parse_model,
)
from emulators.heymarket.contacts import Contact, UpdateMode
from emulators.heymarket.errors import ApiError, bad_data
from emulators.heymarket.store import HeymarketStore
from emulators.heymarket.v1_contacts import list_page

#: how v2 updates treat omitted keys and ``custom`` (see ``choices.V2_UPDATE_IS_PARTIAL``)
V2_UPDATE_MODE = UpdateMode.PARTIAL if choices.V2_UPDATE_IS_PARTIAL else UpdateMode.V1_MERGE


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    contacts: list[dict[str, Any]] = Field(max_length=choices.MAX_BATCH_SIZE)


class ChannelsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    contact_channels: list[ChannelIn] = Field(min_length=1)

    def values(self) -> list[tuple[str | None, str]]:
        pairs = []
        for channel in self.contact_channels:
            ids = list(channel.channel_ids or []) + ([channel.channel_id] if channel.channel_id else [])
            pairs += [(channel.channel_type, value) for value in ids]
        if len(pairs) > choices.MAX_BATCH_SIZE:
            raise bad_data(f"at most {choices.MAX_BATCH_SIZE} channel ids per request; split the request")
        return pairs


def resolved_phone(inp: ContactIn) -> str | None:
    """``phone``, else the first ``phone`` entry of ``contact_channels`` (validated like ``phone``)."""
    if inp.phone:
        return inp.phone
    phone = inp.channel_value("phone")
    if phone is not None and not choices.PHONE_PATTERN.match(phone):
        raise bad_data(f"field 'contact_channels' phone channel_id {PHONE_HINT}")
    return phone


def with_channel_fields(inp: ContactIn) -> ContactIn:
    """Fill ``phone``/``email`` from ``contact_channels`` when they were not sent directly."""
    updates: dict[str, Any] = {}
    phone = resolved_phone(inp)
    if phone and not inp.phone:
        updates["phone"] = phone
    email = inp.channel_value("email")
    if email and not inp.sent("email"):
        updates["email"] = email
    if not updates:
        return inp
    merged = inp.model_copy(update=updates)
    merged.model_fields_set.update(updates)
    return merged


def infer_channel_type(value: str) -> str:
    """Search may omit ``channel_type`` when it can be inferred (✅ documented): email, phone or uuid."""
    if "@" in value:
        return "email"
    if choices.PHONE_PATTERN.match(value):
        return "phone"
    return "id"


def search(store: HeymarketStore, pairs: list[tuple[str | None, str]]) -> list[Contact]:
    found: dict[int, Contact] = {}
    for channel_type, value in pairs:
        kind = channel_type or infer_channel_type(value)
        if kind == "phone":
            contact = store.contacts.find_by_phone(value)
            matches = [contact] if contact else []
        elif kind == "email":
            matches = store.contacts.find_by_email(value)
        elif kind == "id":
            contact_id = store.contacts.by_uuid.get(value)
            matches = [store.contacts.by_id[contact_id]] if contact_id is not None else []
        else:
            raise bad_data("field 'channel_type' must be phone, email or id")
        for contact in matches:
            found.setdefault(contact.id, contact)
    return list(found.values())


def bulk_create_or_update(store: HeymarketStore, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Items with ``contact_id`` are updated (partial), the others created; each one on its own."""
    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        try:
            inp = with_channel_fields(ContactIn.model_validate(item))
            if inp.phone and inp.phone in seen:
                raise ApiError(400, choices.BATCH_ERROR_DUPLICATE_IN_BATCH)
            if inp.contact_id:
                contact_id = store.contacts.by_uuid.get(inp.contact_id)
                if contact_id is None:
                    raise ApiError(404, choices.BATCH_ERROR_NOT_FOUND)
                contact = store.contacts.update(store.contacts.by_id[contact_id], inp, V2_UPDATE_MODE)
            else:
                contact = store.contacts.create(inp, inp.phone)
        except (ApiError, ValidationError) as exc:
            failed.append({"contact": item, choices.V2_FAILED_ERROR_KEY: contact_error_text(exc)})
            continue
        seen.add(contact.phone)
        done.append(contact.to_json())
    return {"contacts": done, "failed_contacts": failed}


def v2_contacts_router(store: HeymarketStore) -> APIRouter:
    router = APIRouter(prefix="/v2")

    @router.get("/contact/{contact_uuid}")
    async def get_contact(contact_uuid: str) -> JSONResponse:
        return reply(store.contacts.get_by_uuid(contact_uuid).to_json())

    @router.post("/contact")
    async def create_contact(request: Request) -> JSONResponse:
        inp = with_channel_fields(parse_model(ContactIn, await read_json(request)))
        if not inp.phone:
            raise bad_data("send 'phone' or a contact_channels entry {\"channel_type\": \"phone\", "
                           "\"channel_id\": \"14155550134\"}")
        return reply(store.contacts.create(inp, inp.phone).write_reply(), choices.CREATE_STATUS)

    @router.put("/contact/{contact_uuid}")
    async def update_contact(contact_uuid: str, request: Request) -> JSONResponse:
        inp = with_channel_fields(parse_model(ContactIn, await read_json(request)))
        contact = store.contacts.get_by_uuid(contact_uuid)
        return reply(store.contacts.update(contact, inp, V2_UPDATE_MODE).to_json())

    @router.delete("/contact/{contact_uuid}")
    async def delete_contact(contact_uuid: str) -> JSONResponse:
        store.contacts.delete(store.contacts.get_by_uuid(contact_uuid))
        return reply("ok")

    @router.post("/contacts")
    async def bulk_contacts(request: Request) -> JSONResponse:
        body = parse_model(BulkIn, await read_json(request))
        return reply(bulk_create_or_update(store, body.contacts))

    @router.delete("/contacts")
    async def bulk_delete(request: Request) -> JSONResponse:
        body = parse_model(ChannelsIn, await read_json(request))
        if len(body.contact_channels) != 1 or body.contact_channels[0].channel_type != "id":
            raise bad_data("send exactly one contact_channels entry {\"channel_type\": \"id\", "
                           "\"channel_ids\": [uuid, ...]}")
        for _, contact_uuid in body.values():
            contact_id = store.contacts.by_uuid.get(contact_uuid)
            if contact_id is not None:
                store.contacts.delete(store.contacts.by_id[contact_id])
        return reply(choices.BULK_DELETE_OK)

    @router.post("/contacts/list")
    async def list_contacts(request: Request) -> JSONResponse:
        return reply(list_page(store, await read_json(request, default={})))

    @router.post("/contacts/search")
    async def search_contacts(request: Request) -> JSONResponse:
        body = parse_model(ChannelsIn, await read_json(request))
        return reply([c.to_json() for c in search(store, body.values())])

    return router
