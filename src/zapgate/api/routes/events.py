"""``/events``: the persisted log (pull), Server-Sent Events and a WebSocket.

Both live transports resume: SSE from ``Last-Event-ID`` (browsers send it on their
own when they reconnect) or ``?since=``, the WebSocket from ``?since=``. WebSocket
close codes: 4001 not authenticated, 4003 role too low, 4400 bad parameters, 4008 too
slow (reconnect with the last id you processed), 1001 server shutting down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from zapgate.api.deps import (
    DEFAULT_PAGE,
    CurrentPrincipal,
    Cursor,
    Limit,
    RuntimeDep,
    authenticate,
    authenticator,
    principal_from_headers,
)
from zapgate.api.schemas_events import EventOut, EventPage
from zapgate.domain.errors import DomainError, Forbidden, Unauthorized
from zapgate.events.stream import Follower, SlowConsumer, with_heartbeats
from zapgate.runtime import Runtime
from zapgate.services.context import Principal
from zapgate.services.events import EventService, parse_since, parse_types
from zapgate.store.pagination import MAX_INT64

router = APIRouter(prefix="/events", tags=["events"])

Types = Annotated[
    list[str] | None,
    Query(description="Event types, comma-separated or repeated; default all."),
]
ConnectionFilter = Annotated[str | None, Query(max_length=64)]
CLOSE_UNAUTHORIZED = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_BAD_REQUEST = 4400
CLOSE_TOO_SLOW = 4008
CLOSE_GOING_AWAY = 1001


async def get_events(runtime: RuntimeDep) -> EventService:
    return runtime.events


Events = Annotated[EventService, Depends(get_events)]


@authenticator
async def stream_principal(
    request: Request, token: Annotated[str | None, Query(max_length=4000)] = None
) -> Principal:
    """Headers as everywhere, or ``?token=`` (a browser's EventSource cannot set headers)."""
    authorization = request.headers.get("authorization")
    x_api_key = request.headers.get("x-api-key")
    accounts = request.app.state.runtime.accounts
    if authorization or x_api_key or not token:
        return await principal_from_headers(accounts, authorization, x_api_key)
    return await authenticate(accounts, token.strip())


@router.get("", response_model=EventPage)
async def list_events(
    principal: CurrentPrincipal,
    events: Events,
    since: Annotated[int | None, Query(ge=0, le=MAX_INT64)] = None,
    types: Types = None,
    connection_id: ConnectionFilter = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> EventPage:
    page = await events.find(
        principal,
        since=since,
        cursor=cursor,
        types=parse_types(types),
        connection_id=connection_id,
        limit=limit,
    )
    items = [EventOut.model_validate(e, from_attributes=True) for e in page.items]
    return EventPage(
        items=items,
        next_cursor=page.next_cursor,
        last_id=items[-1].id if items else None,
    )


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    principal: Annotated[Principal, Depends(stream_principal)],
    runtime: RuntimeDep,
    since: Annotated[str | None, Query(max_length=20)] = None,
    types: Types = None,
    connection_id: ConnectionFilter = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """Server-Sent Events: ``id:`` is the event id, ``data:`` the envelope as JSON."""
    start = parse_since(last_event_id) if last_event_id else parse_since(since)
    follower = runtime.events.open_stream(
        principal, since=start, types=parse_types(types), connection_id=connection_id
    )
    return StreamingResponse(
        _sse(follower, runtime),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _sse(follower: Follower, runtime: Runtime) -> AsyncIterator[str]:
    with follower:
        # The browser waits this long before reconnecting (with Last-Event-ID).
        yield "retry: 2000\n\n"
        try:
            async for item in with_heartbeats(
                follower, runtime.clock, runtime.settings.stream_heartbeat
            ):
                if item is None:
                    yield ": heartbeat\n\n"
                else:
                    yield f"id: {item.id}\ndata: {follower.encode(item)}\n\n"
        except SlowConsumer as exc:
            body = json.dumps({"code": "slow_consumer", "last_id": exc.last_id})
            yield f"event: error\ndata: {body}\n\n"


# ---------------------------------------------------------------- WebSocket


async def _ws_principal(websocket: WebSocket, runtime: Runtime) -> Principal:
    token = websocket.query_params.get("token")
    header = websocket.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:]
    token = token or websocket.headers.get("x-api-key")
    if not token:
        raise Unauthorized("pass the token as ?token=", code="unauthenticated")
    return await authenticate(runtime.accounts, token.strip())


def _ws_follower(websocket: WebSocket, runtime: Runtime, principal: Principal) -> Follower:
    params = websocket.query_params
    return runtime.events.open_stream(
        principal,
        since=parse_since(params.get("since")),
        types=parse_types(params.getlist("types") or None),
        connection_id=params.get("connection_id") or None,
    )


@router.websocket("/ws")
async def events_ws(websocket: WebSocket) -> None:
    """Each text message is an event envelope, or ``{"type": "ping", "last_id": n}``."""
    runtime: Runtime = websocket.app.state.runtime
    await websocket.accept()
    try:
        principal = await _ws_principal(websocket, runtime)
        follower = _ws_follower(websocket, runtime, principal)
    except Unauthorized as exc:
        await websocket.close(CLOSE_UNAUTHORIZED, exc.message)
        return
    except Forbidden as exc:
        await websocket.close(CLOSE_FORBIDDEN, exc.message)
        return
    except DomainError as exc:
        await websocket.close(CLOSE_BAD_REQUEST, exc.message[:120])
        return
    with follower:
        code = await _serve_ws(websocket, runtime, follower)
    if code is not None:
        with contextlib.suppress(Exception):
            # Bounded: a client that stopped reading cannot take the close frame either.
            await asyncio.wait_for(websocket.close(code), timeout=5)


async def _serve_ws(websocket: WebSocket, runtime: Runtime, follower: Follower) -> int | None:
    """Run until the client leaves (None) or the server ends the stream (a close code)."""

    async def send() -> int:
        try:
            async for item in with_heartbeats(
                follower, runtime.clock, runtime.settings.stream_heartbeat
            ):
                if item is None:
                    text = json.dumps({"type": "ping", "last_id": follower.last_id})
                else:
                    text = follower.encode(item)
                await websocket.send_text(text)
        except SlowConsumer:
            return CLOSE_TOO_SLOW
        return CLOSE_GOING_AWAY

    async def receive() -> None:
        # Clients may send anything (a pong); reading is how a disconnect shows up.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    async def dropped() -> int:
        await follower.wait_dropped()
        return CLOSE_TOO_SLOW

    tasks = [
        asyncio.ensure_future(send()),
        asyncio.ensure_future(receive()),
        asyncio.ensure_future(dropped()),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    first = next(iter(done))
    if first is tasks[1] or first.exception() is not None:
        return None
    code = first.result()
    return code if isinstance(code, int) else None
