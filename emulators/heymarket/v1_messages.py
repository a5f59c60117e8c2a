"""``/v1`` message endpoints: the team-wide cursor walk, its count, one conversation's history, and send."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from emulators.heymarket import choices
from emulators.heymarket.bodies import read_json, reply
from emulators.heymarket.contact_input import parse_model
from emulators.heymarket.message_input import HistoryQuery, MessageListQuery, SendIn
from emulators.heymarket.store import HeymarketStore


def v1_messages_router(store: HeymarketStore) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.post("/messages/all")
    async def all_messages(request: Request) -> JSONResponse:
        query = parse_model(MessageListQuery, await read_json(request, default={}))
        page = store.messages.page(query.sort_key, query.cursor_micros(), bool(query.ascending),
                                   query.page_size, query.offset)
        return reply(store.messages.render(page))

    @router.post("/messages/all/count")
    async def count_messages(request: Request) -> JSONResponse:
        parse_model(MessageListQuery, await read_json(request, default={}))  # validated, then ignored
        total = len(store.messages)
        return reply(str(total) if choices.MESSAGES_COUNT_IS_STRING else total)

    @router.get("/messages")
    async def conversation_history(request: Request) -> JSONResponse:
        query = HistoryQuery.from_query(request.query_params)
        return reply(store.messages.render(store.messages.history(query.inbox_id, query.phone, query.timestamp)))

    @router.post("/message/send")
    async def send_message(request: Request) -> JSONResponse:
        body = parse_model(SendIn, await read_json(request))
        body.check_shape()
        local_id = body.local_id or choices.EMPTY_TEXT
        if local_id and choices.SEND_LOCAL_ID_IDEMPOTENT:
            earlier = store.messages.find_local_id(local_id)
            if earlier is not None:
                return reply(earlier.send_reply())
        message = store.messages.send(
            inbox_id=body.inbox_id, creator_id=body.creator_id, phone=body.phone_number, chat_id=body.chat_id,
            text=body.body_text, media=body.media_url or choices.EMPTY_TEXT, author=body.author,
            local_id=local_id, private=bool(body.private),
        )
        return reply(message.send_reply())

    return router
