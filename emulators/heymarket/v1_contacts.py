"""``/v1`` contact endpoints: single contact CRUD, the date-cursor list, count, status, batch, custom fields."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from emulators.heymarket import choices
from emulators.heymarket.bodies import flag, read_json, reply
from emulators.heymarket.contact_input import ContactIn, ListQuery, contact_error_text, parse_model
from emulators.heymarket.contacts import Contact, UpdateMode
from emulators.heymarket.errors import ApiError, bad_data, not_found
from emulators.heymarket.store import HeymarketStore


class LookupIn(BaseModel):
    """``POST /v1/contact/get`` and ``/v1/contact/status``: by phone or by id (phone wins)."""

    model_config = ConfigDict(extra="ignore")
    phone: str | None = None
    id: int | None = None


class StatusIn(LookupIn):
    status: str


class FieldTitle(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: str


def lookup(store: HeymarketStore, body: LookupIn) -> Contact:
    """Phone wins over id when both are sent (✅ documented)."""
    if body.phone is not None:
        if not choices.PHONE_PATTERN.match(body.phone):
            raise bad_data("field 'phone' must be E.164 digits without '+', e.g. 14155550134")
        contact = store.contacts.find_by_phone(body.phone)
        if contact is None:
            raise not_found("contact with this phone")
        return contact
    if body.id is not None:
        return store.contacts.get(body.id)
    raise bad_data("send 'phone' (E.164 digits) or 'id'")


def list_page(store: HeymarketStore, payload: Any) -> list[dict[str, Any]]:
    """Shared by ``POST /v1/contacts`` and ``POST /v2/contacts/list``."""
    query = parse_model(ListQuery, payload)
    page = store.contacts.page(query.date_micros(), query.is_ascending, query.page_size, query.offset)
    return [c.to_json() for c in page]


def batch_upsert(store: HeymarketStore, items: list[dict[str, Any]], overwrite: bool) -> list[dict[str, Any]]:
    """Apply each item independently; return the failed ones, each with an added ``error`` text."""
    failed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        try:
            inp = ContactIn.model_validate(item)
        except ValidationError as exc:
            failed.append({**item, "error": contact_error_text(exc)})
            continue
        if not inp.phone:
            failed.append({**item, "error": choices.BATCH_ERROR_MISSING_PHONE})
            continue
        if inp.phone in seen:
            failed.append({**item, "error": choices.BATCH_ERROR_DUPLICATE_IN_BATCH})
            continue
        seen.add(inp.phone)
        existing = store.contacts.find_by_phone(inp.phone)
        try:
            if existing is None:
                store.contacts.create(inp, inp.phone)
            elif overwrite:
                store.contacts.update(existing, inp, UpdateMode.V1_REPLACE)
        except ApiError as err:
            failed.append({**item, "error": err.message})
    return failed


def json_array(payload: Any, what: str) -> list[dict[str, Any]]:
    """A JSON array of objects of at most ``MAX_BATCH_SIZE`` items, or 400."""
    if not isinstance(payload, list):
        raise bad_data(f"request body must be a JSON array of {what}")
    if len(payload) > choices.MAX_BATCH_SIZE:
        raise bad_data(f"at most {choices.MAX_BATCH_SIZE} {what} per request; split the batch")
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            raise bad_data(f"item {index} of the array is not a JSON object")
    return payload


def v1_contacts_router(store: HeymarketStore) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.post("/contact")
    async def create_contact(request: Request) -> JSONResponse:
        inp = parse_model(ContactIn, await read_json(request))
        contact = store.contacts.create(inp, inp.phone)
        return reply(contact.write_reply(), choices.CREATE_STATUS)

    @router.post("/contact/get")
    async def get_by_phone_or_id(request: Request) -> JSONResponse:
        body = parse_model(LookupIn, await read_json(request))
        return reply(lookup(store, body).to_json())

    @router.post("/contact/status")
    async def contact_status(request: Request) -> JSONResponse:
        body = parse_model(LookupIn, await read_json(request))
        return reply(lookup(store, body).status_json())

    @router.post("/contact/set_status")
    async def set_status(request: Request) -> JSONResponse:
        body = parse_model(StatusIn, await read_json(request))
        store.contacts.set_status(lookup(store, body), body.status)
        return reply("success")

    @router.get("/contact/{contact_id}")
    async def get_contact(contact_id: int) -> JSONResponse:
        return reply(store.contacts.get(contact_id).to_json())

    @router.put("/contact/{contact_id}")
    async def update_contact(contact_id: int, request: Request) -> JSONResponse:
        mode = UpdateMode.V1_REPLACE if flag(request, "overwrite") else UpdateMode.V1_MERGE
        inp = parse_model(ContactIn, await read_json(request))
        if not inp.phone:
            raise bad_data("field 'phone' is required on update (send the contact's current phone to keep it)")
        contact = store.contacts.update(store.contacts.get(contact_id), inp, mode)
        return reply(contact.write_reply())

    @router.delete("/contact/{contact_id}")
    async def delete_contact(contact_id: int) -> JSONResponse:
        store.contacts.delete(store.contacts.get(contact_id))
        return reply("ok")

    @router.post("/contacts")
    async def list_contacts(request: Request) -> JSONResponse:
        return reply(list_page(store, await read_json(request, default={})))

    @router.post("/contacts/count")
    async def count_contacts(request: Request) -> JSONResponse:
        body = await read_json(request, default={})
        if not isinstance(body, dict):
            raise bad_data("request body must be a JSON object, e.g. {}")
        total = len(store.contacts)
        return reply(total if choices.COUNT_RETURNS_JSON_NUMBER else str(total))

    @router.post("/batch/contacts")
    async def batch_contacts(request: Request) -> JSONResponse:
        overwrite = flag(request, "overwrite")
        items = json_array(await read_json(request), "contacts")
        failed = batch_upsert(store, items, overwrite)
        return reply(failed if failed else choices.BATCH_OK)

    @router.post("/contacts/fields")
    async def create_fields(request: Request) -> JSONResponse:
        items = json_array(await read_json(request), "fields")
        titles = []
        for index, item in enumerate(items):
            title = parse_model(FieldTitle, item, prefix=f"[{index}].").title.strip()
            if not title:
                raise bad_data(f"field '[{index}].title' must not be empty")
            titles.append(title)
        return reply(store.fields.create(titles))

    @router.post("/contact-fields")
    async def list_fields(request: Request) -> JSONResponse:
        await read_json(request, default={})  # only to reject malformed JSON; the body has no meaning
        return reply(store.fields.list())

    return router
