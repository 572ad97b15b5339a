"""SSE and WebSocket streams on a real uvicorn server: resume, isolation, slow consumers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, eventually, login
from tests.integration.api.helpers import API, create_connection
from tests.integration.servers import LiveApp, live_app
from zapgate.config import Settings
from zapgate.events.log import append_event
from zapgate.util.clock import ManualClock


@pytest.fixture
async def live(settings: Settings, clock: ManualClock) -> AsyncIterator[LiveApp]:
    async with live_app(settings, clock) as app:
        yield app


@pytest.fixture
async def http(live: LiveApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.base, timeout=10) as client:
        yield client


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]


async def _other_org(http: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    org = (await http.post(f"{API}/organizations", headers=admin, json={"name": "Other"})).json()
    await http.post(
        f"{API}/organizations/{org['id']}/users",
        headers=admin,
        json={"email": "owner@other.test", "password": "owner-pass-1", "role": "owner"},
    )
    return await login(http, "owner@other.test", "owner-pass-1")


async def _all_ids(http: httpx.AsyncClient, headers: dict[str, str]) -> list[int]:
    page = (await http.get(f"{API}/events?limit=200", headers=headers)).json()
    return [e["id"] for e in page["items"]]


async def _take(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events (pings skipped)."""
    out: list[dict[str, Any]] = []
    while len(out) < count:
        message = json.loads(await ws.recv())
        if message["type"] != "ping":
            out.append(message)
    return out


async def test_websocket_resume_without_gap_or_duplicate(
    live: LiveApp, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    for i in range(3):
        await create_connection(http, admin, f"Shop {i}")
    url = f"{live.ws_base}{API}/events/ws?token={_token(admin)}"
    async with connect(f"{url}&since=0") as ws:
        first = await _take(ws, 3)
        # Live events follow the replay on the same socket.
        await create_connection(http, admin, "Live")
        first += await _take(ws, 1)
        await clock.advance(live.runtime.settings.stream_heartbeat)
        ping = json.loads(await ws.recv())
        assert ping == {"type": "ping", "last_id": first[-1]["id"]}
    last = first[-1]["id"]
    for i in range(2):  # while the client is away
        await create_connection(http, admin, f"Away {i}")
    async with connect(f"{url}&since={last}") as ws:
        second = await _take(ws, 2)
        await create_connection(http, admin, "Back")
        second += await _take(ws, 1)
    ids = [e["id"] for e in first + second]
    assert ids == await _all_ids(http, admin)  # nothing missed, nothing twice
    assert all(e["type"] == "connection.created" for e in first + second)


async def test_websocket_filters_isolation_and_bad_requests(
    live: LiveApp, http: httpx.AsyncClient
) -> None:
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    other = await _other_org(http, admin)
    mine = await create_connection(http, admin, "Mine")
    base = f"{live.ws_base}{API}/events/ws"
    async with (
        connect(f"{base}?token={_token(other)}&since=0") as theirs,
        connect(
            f"{base}?token={_token(admin)}&types=connection.updated&connection_id={mine['id']}"
        ) as filtered,
    ):
        await create_connection(http, admin, "Not theirs")
        await http.patch(f"{API}/connections/{mine['id']}", headers=admin, json={"label": "x"})
        theirs_conn = await create_connection(http, other, "Theirs")
        (seen,) = await _take(theirs, 1)
        assert seen["connection_id"] == theirs_conn["id"]
        (update,) = await _take(filtered, 1)
        assert update["type"] == "connection.updated"
        assert update["connection_id"] == mine["id"]
    for query, code in [
        ("", 4001),
        ("?token=zg_wrong", 4001),
        (f"?token={_token(admin)}&since=abc", 4400),
        (f"?token={_token(admin)}&since={2**63}", 4400),
        (f"?token={_token(admin)}&types=nope", 4400),
    ]:
        async with connect(f"{base}{query}") as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == code, query
    # A NUL character (PostgreSQL cannot store one) is refused before the handshake, by
    # the check every route shares (api/characters.py), with its JSON answer.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{base}?token={_token(admin)}&connection_id=%00"):
            pass
    assert refused.value.response.status_code == 422
    assert json.loads(refused.value.response.body)["error"]["code"] == "invalid_character"


async def _sse_events(
    http: httpx.AsyncClient, headers: dict[str, str], count: int, **params: Any
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with http.stream("GET", f"{API}/events/stream", headers=headers, params=params) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event_id = None
        async for line in r.aiter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                body = json.loads(line[6:])
                assert body["id"] == event_id  # the id: line is the event id
                out.append(body)
                if len(out) == count:
                    break
    return out


async def test_sse_resume_from_last_event_id(http: httpx.AsyncClient) -> None:
    admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    other = await _other_org(http, admin)
    await create_connection(http, other, "Not mine")
    for i in range(3):
        await create_connection(http, admin, f"Shop {i}")
    first = await _sse_events(http, admin, 2, since=0)
    resumed = await _sse_events(http, {**admin, "Last-Event-ID": str(first[-1]["id"])}, 1)
    # ?token= works too (a browser's EventSource cannot send headers).
    tail = await _sse_events(http, {}, 1, since=resumed[-1]["id"] - 1, token=_token(admin))
    assert tail == resumed
    ids = [e["id"] for e in first + resumed]
    assert ids == await _all_ids(http, admin)
    for last in ("x", str(2**64)):
        bad = await http.get(f"{API}/events/stream", headers={**admin, "Last-Event-ID": last})
        assert bad.status_code == 422, last
        assert bad.json()["error"]["code"] == "invalid_since", last
    anonymous = await http.get(f"{API}/events/stream")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"


class _Stalled:
    """A raw WebSocket client that stops reading after the handshake."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> _Stalled:
        hostport, path = url.split("//", 1)[1].split("/", 1)
        host, port = hostport.split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def close_code(self) -> int:
        """Read (and drop) frames until the server's close frame; its status code."""
        while True:
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                size = int.from_bytes(await self.reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await self.reader.readexactly(size)
            if first & 0x0F == 0x8:
                return int.from_bytes(payload[:2], "big")

    def close(self) -> None:
        self.writer.close()


async def test_slow_websocket_consumer_is_cut_off_without_hurting_others(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    settings = settings_factory(stream_queue_size=20)
    async with live_app(settings, clock) as live, httpx.AsyncClient(base_url=live.base) as http:
        admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        me = (await http.get(f"{API}/me", headers=admin)).json()
        org = me["organization"]["id"]
        url = f"{live.ws_base}{API}/events/ws?token={_token(admin)}"
        runtime = live.runtime
        slow = await _Stalled.open(url)
        async with connect(url, max_size=None) as fast:
            await eventually(_subscribers(runtime, 2), what="both clients subscribed")
            received: list[int] = []
            pad = "x" * 60_000
            for _ in range(150):
                async with runtime.db.write() as s:
                    await append_event(
                        s,
                        organization_id=org,
                        type="contact.updated",
                        data={"pad": pad},
                        created_at=clock.now(),
                    )
                received += [e["id"] for e in await _take(fast, 1)]
                if runtime.streams.dropped:
                    break
            assert runtime.streams.dropped == 1, "the stalled client was not cut off"
            # The fast client keeps going.
            async with runtime.db.write() as s:
                event = await append_event(
                    s, organization_id=org, type="contact.updated", data={}, created_at=clock.now()
                )
            assert (await _take(fast, 1))[0]["id"] == event.id
            # The stalled one, once it reads, finds the slow-consumer close code.
            assert await slow.close_code() == 4008
            slow.close()


def _subscribers(runtime: Any, count: int) -> Callable[[], Any]:
    async def check() -> bool:
        return bool(runtime.streams.active == count)

    return check
