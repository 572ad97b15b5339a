"""The send fast lane: ``POST /api/v1/messages`` without the framework's per-request work.

Sending is the API's busiest operation by far. Through FastAPI, the middleware stack,
routing, dependency resolution and response handling cost about as much CPU as the
send itself (profiled in ``bench/send.py``). The lane answers the common shape of the
request, a valid JSON body of declared length, straight from the ASGI call: it
validates the body with the route's own model, reads the credentials and the
``Idempotency-Key`` header, calls the route's own
:func:`~zapgate.api.routes.messages.accept`, and maps errors with the app's own
mappers, so the answer is the one the route gives. A body that does not validate is
handed, already read, to the app, whose route answers it exactly as it always has.
Anything else (no length, chunked, another content type, an empty or oversized body,
a query string) goes through the app and the documented route directly.

The lane runs in front of every middleware: ``tests/integration/api/test_fastlane.py``
fails when one is added, so whoever adds it decides whether the lane needs it too.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import to_json
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zapgate.api.deps import principal_from_headers
from zapgate.api.errors import (
    domain_error_response,
    engine_error_response,
    unexpected_error_response,
)
from zapgate.api.routes import API_PREFIX
from zapgate.api.routes.messages import accept, idempotency_key
from zapgate.api.schemas_messages import MessageCreate
from zapgate.domain.errors import DomainError, EngineError
from zapgate.services.system import System

SEND_PATH = f"{API_PREFIX}/messages"


class SendLane:
    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        """The full application: where every request the lane does not take goes."""
        self.max_body = max_body
        self.runtime: System | None = None
        """Set once the application has started."""

    def takes(self, scope: Scope) -> dict[bytes, bytes] | None:
        """The request's headers if the lane answers it, else None."""
        if (
            scope["path"] != SEND_PATH
            or scope["method"] != "POST"
            or self.runtime is None
            # The send takes no query, but the app checks every query for refused
            # characters (``api/characters.py``): one with a query is the app's.
            or scope["query_string"]
        ):
            return None
        # A repeated header means its first copy, as in Starlette's ``Headers.get``.
        headers: dict[bytes, bytes] = dict(reversed(scope["headers"]))
        length = headers.get(b"content-length", b"")
        media_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if (
            b"transfer-encoding" in headers
            or not length.isdigit()
            or len(length) > 12
            or not 0 < int(length) <= self.max_body
            or media_type != b"application/json"
        ):
            return None
        return headers

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]
    ) -> None:
        assert self.runtime is not None
        raw = await _body(receive)
        if raw is None:
            return  # the client went away
        try:
            body = MessageCreate.model_validate_json(raw)
        except ValidationError:
            # Rare, and the route's answer depends on details (a BOM, the order of the
            # JSON, credential and schema checks): let the app answer, with the body.
            await self.app(scope, _replay(raw, receive), send)
            return
        try:
            response = await self._answer(self.runtime, headers, body)
        except DomainError as exc:
            response = domain_error_response(exc)
        except EngineError as exc:
            response = engine_error_response(exc)
        except Exception as exc:
            response = unexpected_error_response(SEND_PATH, exc)
        await response(scope, receive, send)

    async def _answer(
        self, runtime: System, headers: dict[bytes, bytes], body: MessageCreate
    ) -> Response:
        principal = await principal_from_headers(
            runtime.accounts, _text(headers, b"authorization"), _text(headers, b"x-api-key")
        )
        key = idempotency_key(_text(headers, b"idempotency-key"))
        payload = await accept(runtime.messaging.messages, principal, body, key)
        return Response(to_json(payload), status_code=202, media_type="application/json")


def _replay(raw: bytes, receive: Receive) -> Receive:
    """``receive`` for a request whose body was already read: the body, then the rest."""
    given = False

    async def again() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return again


def _text(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value is not None else None


async def _body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
