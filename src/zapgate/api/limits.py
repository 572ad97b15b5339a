"""Request body size limits, enforced before a body is read into memory."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# After answering 413 the server reads and drops what is left of the body, within these
# bounds, before it closes (nginx's "lingering close"). Closing a socket with unread data
# makes the kernel reset the connection, and clients that write the whole body before
# reading (Python's urllib, Java's HttpURLConnection) then report the reset instead of
# the 413. Past the bounds the connection is closed anyway: a client still sending after
# 8 MiB or 2 s is not owed more of the server's time.
LINGER_BYTES = 8 * 1024 * 1024
LINGER_SECONDS = 2.0


class BodyTooLarge(HTTPException):
    """Raised while reading an oversized body; an HTTPException so FastAPI re-raises it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """Refuse bodies over ``default`` bytes (``media`` for upload paths) with a 413."""

    def __init__(self, app: ASGIApp, *, default: int, media: int, media_paths: tuple[str, ...]):
        self.app = app
        self.default = default
        self.media = media
        self.media_paths = media_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.media if path.startswith(self.media_paths) else self.default
        declared: int | None = None
        # A client that asked to be told before it sends the body has sent none.
        linger = True
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                declared = int(value) if value.isdigit() and len(value) <= 12 else None
            elif name == b"transfer-encoding":
                declared = None
                break
            elif name == b"expect" and value.lower() == b"100-continue":
                linger = False
        if declared is not None:
            if declared > limit:
                await _reject(send, receive if linger else None, limit)
                return
            # The server never hands the app more than the declared length (any bytes
            # after it are the next request): nothing to count.
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _reject(send, receive, limit)


async def _reject(send: Send, receive: Receive | None, limit: int) -> None:
    """Answer 413 and close; first drop the rest of the body from ``receive`` if given."""
    body = json.dumps(
        {
            "error": {
                "code": "payload_too_large",
                "message": f"request body is larger than {limit} bytes",
                "details": {"limit": limit},
            }
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    # The whole answer goes out first, for the clients that read while they send; the
    # response ends (and the server closes) only once the rest of the body is dropped.
    await send({"type": "http.response.body", "body": body, "more_body": receive is not None})
    if receive is not None:
        await _drop_rest(receive)
        await send({"type": "http.response.body", "body": b""})


async def _drop_rest(receive: Receive) -> None:
    dropped = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_SECONDS):
            while dropped < LINGER_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                dropped += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
