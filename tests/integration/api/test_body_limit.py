"""Oversized bodies over a real socket: every client reads the 413, none sees a reset.

Clients such as Python's urllib and Java's HttpURLConnection write the whole body before
they read anything; a server that answers and closes with the body still arriving makes
the kernel reset the connection, and such a client reports the reset, not the 413.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.integration.servers import Receive, Scope, Send, serving
from zapgate.api.limits import LINGER_BYTES, BodyLimitMiddleware

LIMIT = 64 * 1024
# Well over the limit and over what the kernel buffers for an unread socket, so an
# early close meets data still in flight.
BIG = 4 * 1024 * 1024
assert BIG < LINGER_BYTES


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body and answers its length (what a route under the limit does)."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = BodyLimitMiddleware(_echo, default=LIMIT, media=LIMIT, media_paths=())
    async with serving(app) as bound:
        yield bound


def _post(port: int, body: bytes | Iterator[bytes], headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/anything", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b"x" * size


async def test_declared_oversized_body_is_answered_413_not_reset(port: int) -> None:
    status, body = await asyncio.to_thread(
        _post, port, b"x" * BIG, {"Content-Type": "application/octet-stream"}
    )
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["details"] == {"limit": LIMIT}


async def test_chunked_oversized_body_is_answered_413_not_reset(port: int) -> None:
    # An iterable body without a length: urllib sends it chunked.
    status, body = await asyncio.to_thread(
        _post, port, _chunks(BIG), {"Content-Type": "application/octet-stream"}
    )
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"


async def test_bodies_under_the_limit_pass(port: int) -> None:
    assert await asyncio.to_thread(_post, port, b"x" * LIMIT, {}) == (200, str(LIMIT).encode())
    chunked = await asyncio.to_thread(_post, port, _chunks(LIMIT), {})
    assert chunked == (200, str(LIMIT).encode())


def _head_only(port: int, head: bytes) -> bytes:
    """Send a request's head alone and read the answer's head."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        return answer


async def test_the_answer_comes_before_the_body_is_read(port: int) -> None:
    # A client that waits for the answer before sending its body (as after
    # ``Expect: 100-continue``) gets it at once: the server does not wait for the body
    # before answering.
    head = (
        f"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: {BIG}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    answer = await asyncio.to_thread(_head_only, port, head)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in answer.lower()
