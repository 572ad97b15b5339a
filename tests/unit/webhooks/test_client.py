"""The webhook HTTP client against a raw local server, on asyncio's loop and on uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import uvloop

from tests.unit.netkit import LoopbackServer, Reply, fixed
from zapgate.webhooks.client import EXCERPT_BYTES, PostError, WebhookClient


async def _serve(answer: Reply, *, close_after: bool = False) -> LoopbackServer:
    return await LoopbackServer(answer, close_after=close_after).start()


async def _stop(server: LoopbackServer, http: WebhookClient) -> None:
    """Close the client, then the server and its handlers."""
    await http.aclose()
    await server.stop()


def _both_loops(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())
    uvloop.run(test())


def test_keep_alive_reuses_one_connection_and_sends_the_headers() -> None:
    async def check() -> None:
        server = await _serve(fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nthanks"))
        port = server.port
        http = WebhookClient(user_agent="zapgate-test", max_idle=4, allow_private=True)
        try:
            for _ in range(3):
                answer = await http.post(
                    f"http://127.0.0.1:{port}/hook?a=1", b'{"x":1}', {"X-Zapgate-Event": "e"}
                )
                assert (answer.status, answer.excerpt) == (200, b"thanks")
        finally:
            await _stop(server, http)
        seen = [request for _, request in server.requests]
        assert len(seen) == 3
        assert seen[0].startswith(b"POST /hook?a=1 HTTP/1.1\r\n")
        assert f"Host: 127.0.0.1:{port}\r\n".encode() in seen[0]
        assert b"X-Zapgate-Event: e\r\n" in seen[0]
        assert seen[0].endswith(b'\r\n\r\n{"x":1}')

    _both_loops(check)


@pytest.mark.parametrize(
    ("raw", "status", "excerpt"),
    [
        (
            b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n",
            503,
            b"nope",
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 204, b""),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + b"a" * 3000,
            200,
            b"a" * EXCERPT_BYTES,
        ),
    ],
)
def test_answers_are_parsed(raw: bytes, status: int, excerpt: bytes) -> None:
    async def check() -> None:
        server = await _serve(fixed(raw))
        port = server.port
        http = WebhookClient(user_agent="zapgate-test", max_idle=1, allow_private=True)
        try:
            answer = await http.post(f"http://127.0.0.1:{port}/", b"{}", {})
        finally:
            await _stop(server, http)
        assert (answer.status, answer.excerpt) == (status, excerpt)

    _both_loops(check)


def test_answer_ended_by_close_and_refused_connections() -> None:
    async def check() -> None:
        server = await _serve(fixed(b"HTTP/1.1 200 OK\r\n\r\nbye"), close_after=True)
        port = server.port
        http = WebhookClient(user_agent="zapgate-test", max_idle=1, allow_private=True)
        try:
            answer = await http.post(f"http://127.0.0.1:{port}/", b"{}", {})
            assert (answer.status, answer.excerpt) == (200, b"bye")
            # The server closes after each answer; the next request opens a new connection.
            answer = await http.post(f"http://127.0.0.1:{port}/", b"{}", {})
            assert answer.status == 200
        finally:
            await _stop(server, http)
        with pytest.raises(PostError):
            await http.post(f"http://127.0.0.1:{port}/", b"{}", {})

    _both_loops(check)


def test_garbage_is_an_error() -> None:
    async def check() -> None:
        server = await _serve(fixed(b"SMTP ready\r\n\r\n"), close_after=True)
        port = server.port
        http = WebhookClient(user_agent="zapgate-test", max_idle=1, allow_private=True)
        try:
            with pytest.raises(PostError):
                await http.post(f"http://127.0.0.1:{port}/", b"{}", {})
        finally:
            await _stop(server, http)

    _both_loops(check)


def test_deadline_ends_the_exchange_and_its_connection() -> None:
    async def reply(request: bytes, writer: asyncio.StreamWriter) -> None:
        if not request.endswith(b"hang"):  # a hang is read, never answered
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async def check() -> None:
        server = await _serve(reply)
        url = f"http://127.0.0.1:{server.port}/"
        http = WebhookClient(user_agent="zapgate-test", max_idle=1, allow_private=True)
        try:
            assert (await http.post(url, b"{}", {})).status == 200  # a kept-alive connection
            # A deadline already passed: the timer fires on the next loop turn, on the
            # reused connection, and closes it (a late answer must not be read as the
            # next request's).
            with pytest.raises(TimeoutError):
                await http.post(url, b"hang", {}, timeout=0)
            assert (await http.post(url, b"{}", {}, timeout=60)).status == 200
            assert server.connections == 2  # the timed-out connection was not reused
        finally:
            await _stop(server, http)
        assert len(server.requests) >= 2

    _both_loops(check)
