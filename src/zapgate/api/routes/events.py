"""``/events``: the persisted log (pull), Server-Sent Events and a WebSocket.

Both live transports resume: SSE from ``Last-Event-ID`` (browsers send it on their
own when they reconnect) or ``?since=``, the WebSocket from ``?since=``.

Both end when the credential that opened them stops holding (user deleted, API key
revoked, password changed, token expired, role lowered): SSE with an ``error`` event
whose data has the stable ``code`` (as REST would answer), the WebSocket with a close
code and the reason ``"<code>: <message>"``. WebSocket close codes: 4001 not
authenticated (or no longer), 4003 role too low, 4400 bad parameters, 4008 too slow
(reconnect with the last id you processed), 1013 credentials could not be checked
(reconnect), 1001 server shutting down.

The WebSocket takes its token as ``?token=``, an ``Authorization``/``X-Api-Key``
header, or, so that a browser need not put it in the URL, as the subprotocols
``zapgate.bearer`` and then the token (``new WebSocket(url, ["zapgate.bearer",
token])``); the server accepts with ``zapgate.bearer`` alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from zapgate.api.deps import (
    DEFAULT_PAGE,
    Caller,
    CurrentPrincipal,
    Cursor,
    Limit,
    RuntimeDep,
    authenticator,
    caller,
    presented_token,
)
from zapgate.api.schemas_events import EventOut, EventPage
from zapgate.domain.errors import DomainError, Forbidden, Unauthorized
from zapgate.domain.pages import MAX_INT64
from zapgate.domain.streams import SlowConsumer, StreamStopped
from zapgate.services.events import EventService, parse_since, parse_types
from zapgate.services.system import System

if TYPE_CHECKING:
    # The edges name the stream type; they get streams only from the events service.
    from zapgate.events.stream import Follower

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
CLOSE_TRY_AGAIN = 1013
CLOSE_GOING_AWAY = 1001
BEARER_SUBPROTOCOL = "zapgate.bearer"


async def get_events(runtime: RuntimeDep) -> EventService:
    return runtime.events


Events = Annotated[EventService, Depends(get_events)]


@authenticator
async def stream_caller(
    request: Request, token: Annotated[str | None, Query(max_length=4000)] = None
) -> Caller:
    """Headers as everywhere, or ``?token=`` (a browser's EventSource cannot set headers)."""
    authorization = request.headers.get("authorization")
    x_api_key = request.headers.get("x-api-key")
    if authorization or x_api_key or not token:
        presented = presented_token(authorization, x_api_key)
    else:
        presented = token.strip()
    return await caller(request.app.state.runtime, presented)


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
    who: Annotated[Caller, Depends(stream_caller)],
    runtime: RuntimeDep,
    since: Annotated[str | None, Query(max_length=20)] = None,
    types: Types = None,
    connection_id: ConnectionFilter = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """Server-Sent Events: ``id:`` is the event id, ``data:`` the envelope as JSON.

    The stream ends with ``event: error`` and ``{"code", "message"}`` when the
    credential stops holding (``api_key_revoked``, ``invalid_token``, ``token_expired``,
    ``forbidden``) or the client lags (``slow_consumer``, with ``last_id``). Its
    WebSocket twin, ``/api/v1/events/ws``, takes the token as ``?token=`` or, to keep
    it out of URLs, as the subprotocols ``zapgate.bearer`` and then the token.
    """
    start = parse_since(last_event_id) if last_event_id else parse_since(since)
    follower = runtime.events.open_stream(
        who.principal, who, since=start, types=parse_types(types), connection_id=connection_id
    )
    return StreamingResponse(
        _sse(follower, runtime),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _sse(follower: Follower, runtime: System) -> AsyncIterator[str]:
    with follower:
        # The browser waits this long before reconnecting (with Last-Event-ID).
        yield "retry: 2000\n\n"
        try:
            async for item in follower.heartbeats(runtime.clock, runtime.settings.stream_heartbeat):
                if item is None:
                    yield ": heartbeat\n\n"
                else:
                    yield f"id: {item.id}\ndata: {follower.encode(item)}\n\n"
        except SlowConsumer as exc:
            body = json.dumps({"code": "slow_consumer", "last_id": exc.last_id})
            yield f"event: error\ndata: {body}\n\n"
        except StreamStopped as exc:
            body = json.dumps({"code": exc.error.code, "message": exc.error.message})
            yield f"event: error\ndata: {body}\n\n"


# ---------------------------------------------------------------- WebSocket


def _offered_token(offered: Sequence[str]) -> str | None:
    """``Sec-WebSocket-Protocol: zapgate.bearer, <token>``: the token follows the name."""
    if BEARER_SUBPROTOCOL not in offered:
        return None
    at = list(offered).index(BEARER_SUBPROTOCOL) + 1
    return offered[at] if at < len(offered) else None


async def _ws_caller(websocket: WebSocket, runtime: System) -> Caller:
    token = websocket.query_params.get("token")
    header = websocket.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:]
    token = (
        token
        or websocket.headers.get("x-api-key")
        or _offered_token(websocket.scope.get("subprotocols") or ())
    )
    if not token:
        raise Unauthorized(
            f"pass the token in the subprotocols {BEARER_SUBPROTOCOL!r}, <token> or as ?token=",
            code="unauthenticated",
        )
    return await caller(runtime, token.strip())


def _ws_follower(websocket: WebSocket, runtime: System, who: Caller) -> Follower:
    params = websocket.query_params
    return runtime.events.open_stream(
        who.principal,
        who,
        since=parse_since(params.get("since")),
        types=parse_types(params.getlist("types") or None),
        connection_id=params.get("connection_id") or None,
    )


@router.websocket("/ws")
async def events_ws(websocket: WebSocket) -> None:
    """Each text message is an event envelope, or ``{"type": "ping", "last_id": n}``."""
    runtime: System = websocket.app.state.runtime
    offered = websocket.scope.get("subprotocols") or ()
    # Only the name goes back, never the token. A browser that offered subprotocols
    # fails a handshake whose answer names none of them, so it is echoed even when the
    # token turns out to be wrong: the client then gets the close code below.
    await websocket.accept(BEARER_SUBPROTOCOL if BEARER_SUBPROTOCOL in offered else None)
    try:
        who = await _ws_caller(websocket, runtime)
        follower = _ws_follower(websocket, runtime, who)
    except DomainError as exc:
        await websocket.close(*_close_frame(exc, CLOSE_BAD_REQUEST))
        return
    with follower:
        frame = await _serve_ws(websocket, runtime, follower)
    if frame is not None:
        with contextlib.suppress(Exception):
            # Bounded: a client that stopped reading cannot take the close frame either.
            await asyncio.wait_for(websocket.close(*frame), timeout=5)


def _close_frame(error: DomainError, other: int) -> tuple[int, str]:
    """The close code and reason for ``error``; ``other`` unless it is about access."""
    if isinstance(error, Unauthorized):
        code = CLOSE_UNAUTHORIZED
    elif isinstance(error, Forbidden):
        code = CLOSE_FORBIDDEN
    else:
        code = other
    # A close frame's reason holds at most 123 bytes.
    reason = f"{error.code}: {error.message}".encode()[:123].decode(errors="ignore")
    return code, reason


async def _serve_ws(
    websocket: WebSocket, runtime: System, follower: Follower
) -> tuple[int, str] | None:
    """Run until the client leaves (None) or the server ends the stream (a close frame)."""

    async def send() -> tuple[int, str]:
        try:
            async for item in follower.heartbeats(runtime.clock, runtime.settings.stream_heartbeat):
                if item is None:
                    text = json.dumps({"type": "ping", "last_id": follower.last_id})
                else:
                    text = follower.encode(item)
                await websocket.send_text(text)
        except SlowConsumer:
            return CLOSE_TOO_SLOW, ""
        except StreamStopped as exc:
            return _close_frame(exc.error, CLOSE_TRY_AGAIN)
        return CLOSE_GOING_AWAY, ""

    async def receive() -> None:
        # Clients may send anything (a pong); reading is how a disconnect shows up.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    async def dropped() -> tuple[int, str]:
        await follower.wait_dropped()
        return CLOSE_TOO_SLOW, ""

    async def stopped() -> tuple[int, str]:
        return _close_frame(await follower.wait_stopped(), CLOSE_TRY_AGAIN)

    tasks = [
        asyncio.ensure_future(send()),
        asyncio.ensure_future(receive()),
        asyncio.ensure_future(dropped()),
        asyncio.ensure_future(stopped()),
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
    frame = first.result()
    return frame if isinstance(frame, tuple) else None
