"""Open streams end with their credentials, on a real uvicorn server.

For the API's WebSocket and SSE and the panel's stream: a deleted user, a revoked API
key, a changed password or an expired token ends the stream, and nothing emitted after
the change reaches it. A change made by another node (straight in the database, so this
process's cache and nudge know nothing) ends it within the documented bound.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import pytest
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, eventually, login
from tests.integration.api.helpers import API
from tests.integration.servers import LiveApp, live_app
from tests.integration.web.panel import Panel
from zapgate.config import Settings
from zapgate.events.log import append_event
from zapgate.store.tables.accounts import ApiKeyRow
from zapgate.util.clock import ManualClock

TOKEN_TTL = 600
PASSWORD = "member-pass-1"
WAIT = 10.0


class Stream(Protocol):
    async def take(self) -> dict[str, Any]:
        """The next event (heartbeats skipped)."""

    async def rest(self) -> tuple[list[dict[str, Any]], str]:
        """Every event until the stream ends, and how it ended."""


class WsStream:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def take(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            while True:
                message: dict[str, Any] = json.loads(await self.ws.recv())
                if message["type"] != "ping":
                    return message

    async def rest(self) -> tuple[list[dict[str, Any]], str]:
        events: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    events.append(await self.take())
        except ConnectionClosed:
            return events, f"{self.ws.close_code} {self.ws.close_reason}"
        except TimeoutError:
            return events, "still open"


class SseStream:
    """The API's SSE (``data:`` is the envelope) or the panel's (``event: change``)."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self.lines = lines

    async def _block(self) -> dict[str, str] | None:
        fields: dict[str, str] = {}
        async for line in self.lines:
            if not line:
                if fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            if name:  # ": heartbeat" comments have no name
                fields[name] = value.strip()
        return None

    async def take(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            while True:
                block = await self._block()
                assert block is not None, "the stream ended"
                if "data" in block and block.get("event", "change") == "change":
                    event: dict[str, Any] = json.loads(block["data"])
                    return event

    async def rest(self) -> tuple[list[dict[str, Any]], str]:
        events: list[dict[str, Any]] = []
        ending = "ended"
        try:
            async with asyncio.timeout(WAIT):
                while (block := await self._block()) is not None:
                    if block.get("event") == "error":
                        ending = json.loads(block["data"])["code"]
                    elif "data" in block:
                        events.append(json.loads(block["data"]))
        except TimeoutError:
            return events, "still open"
        return events, ending


@dataclass(frozen=True)
class Member:
    id: str
    email: str
    token: str


@dataclass
class Scene:
    live: LiveApp
    http: httpx.AsyncClient
    clock: ManualClock
    admin: dict[str, str]
    org: str
    members: list[Member] = field(default_factory=list)

    async def emit(self) -> int:
        """Commit an event of the organization; its id."""
        async with self.live.runtime.db.write() as s:
            event = await append_event(
                s,
                organization_id=self.org,
                type="contact.updated",
                data={},
                created_at=self.clock.now(),
            )
        return event.id

    async def member(self, role: str) -> Member:
        email = f"{role}-{len(self.members)}@acme.test"
        created = await self.http.post(
            f"{API}/users",
            headers=self.admin,
            json={"email": email, "password": PASSWORD, "role": role},
        )
        assert created.status_code == 201, created.text
        headers = await login(self.http, email, PASSWORD)
        member = Member(created.json()["id"], email, headers["Authorization"].split(" ", 1)[1])
        self.members.append(member)
        return member

    async def api_key(self) -> tuple[str, str]:
        created = await self.http.post(f"{API}/api-keys", headers=self.admin, json={"name": "k"})
        assert created.status_code == 201, created.text
        return created.json()["id"], created.json()["key"]

    async def subscribed(self, count: int = 1) -> None:
        async def check() -> bool:
            return bool(self.live.runtime.streams.active == count)

        await eventually(check, what=f"{count} open streams")


@pytest.fixture
async def scene(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> AsyncIterator[Scene]:
    settings = settings_factory(access_token_ttl=TOKEN_TTL)
    async with (
        live_app(settings, clock) as live,
        httpx.AsyncClient(base_url=live.base, timeout=WAIT) as http,
    ):
        admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        me = (await http.get(f"{API}/me", headers=admin)).json()
        yield Scene(live, http, clock, admin, me["organization"]["id"])


Opener = Callable[[Scene, str], AbstractAsyncContextManager[Stream]]


@asynccontextmanager
async def _websocket(scene: Scene, token: str) -> AsyncIterator[Stream]:
    async with connect(f"{scene.live.ws_base}{API}/events/ws?token={token}") as ws:
        yield WsStream(ws)


@asynccontextmanager
async def _sse(scene: Scene, token: str) -> AsyncIterator[Stream]:
    headers = {"Authorization": f"Bearer {token}"}
    async with scene.http.stream("GET", f"{API}/events/stream", headers=headers) as response:
        assert response.status_code == 200
        yield SseStream(response.aiter_lines())


TRANSPORTS: dict[str, Opener] = {"websocket": _websocket, "sse": _sse}
# What each transport says when the credential is gone: the WebSocket's close code and
# reason (which starts with the stable error code), the SSE error event's code.
ENDINGS: dict[str, Callable[[str], str]] = {
    "websocket": lambda code: f"4001 {code}: ",
    "sse": lambda code: code,
}


@dataclass(frozen=True)
class Change:
    """A credential (and its member's e-mail, for the panel), and how it stops holding."""

    token: str
    email: str
    apply: Callable[[], Awaitable[None]]
    code: str
    """The stable error code a request with the credential gets afterwards."""


async def _revoke_key(scene: Scene, role: str) -> Change:
    key_id, key = await scene.api_key()

    async def revoke() -> None:
        answer = await scene.http.delete(f"{API}/api-keys/{key_id}", headers=scene.admin)
        assert answer.status_code == 204

    return Change(key, "", revoke, "api_key_revoked")


async def _delete_user(scene: Scene, role: str) -> Change:
    member = await scene.member(role)

    async def delete() -> None:
        answer = await scene.http.delete(f"{API}/users/{member.id}", headers=scene.admin)
        assert answer.status_code == 204

    return Change(member.token, member.email, delete, "invalid_token")


async def _change_password(scene: Scene, role: str) -> Change:
    member = await scene.member(role)

    async def change() -> None:
        answer = await scene.http.patch(
            f"{API}/users/{member.id}", headers=scene.admin, json={"password": "another-pass-2"}
        )
        assert answer.status_code == 200

    return Change(member.token, member.email, change, "invalid_token")


async def _expire_token(scene: Scene, role: str) -> Change:
    member = await scene.member(role)

    async def expire() -> None:
        await scene.clock.advance(TOKEN_TTL)

    return Change(member.token, member.email, expire, "token_expired")


CHANGES: dict[str, Callable[[Scene, str], Awaitable[Change]]] = {
    "api_key_revoked": _revoke_key,
    "user_deleted": _delete_user,
    "password_changed": _change_password,
    "token_expired": _expire_token,
}


@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_an_api_stream_ends_with_its_credential(
    scene: Scene, transport: str, change: str
) -> None:
    subject = await CHANGES[change](scene, "manager")
    async with TRANSPORTS[transport](scene, subject.token) as stream:
        await scene.subscribed()
        before = await scene.emit()
        assert (await stream.take())["id"] == before
        await subject.apply()
        await scene.emit()  # after the change: never delivered
        events, ending = await stream.rest()
    assert events == []
    assert ending.startswith(ENDINGS[transport](subject.code)), ending
    assert scene.live.runtime.streams.active == 0
    # REST agrees.
    bearer = {"Authorization": f"Bearer {subject.token}"}
    answer = await scene.http.get(f"{API}/events", headers=bearer)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == subject.code


async def test_a_websocket_ends_when_its_holder_loses_the_role(scene: Scene) -> None:
    member = await scene.member("manager")
    async with _websocket(scene, member.token) as stream:
        await scene.subscribed()
        demoted = await scene.http.patch(
            f"{API}/users/{member.id}", headers=scene.admin, json={"role": "agent"}
        )
        assert demoted.status_code == 200
        await scene.emit()
        events, ending = await stream.rest()
    assert events == []
    assert ending.startswith("4003 forbidden: "), ending


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_a_change_made_by_another_node_ends_the_stream_within_the_bound(
    scene: Scene, transport: str
) -> None:
    key_id, key = await scene.api_key()
    settings = scene.live.runtime.settings
    async with TRANSPORTS[transport](scene, key) as stream:
        await scene.subscribed()
        # Another node revokes the key: this process's cache and streams are not told.
        async with scene.live.runtime.db.write() as s:
            await s.execute(
                update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(revoked_at=scene.clock.now())
            )
        await scene.clock.advance(settings.auth_cache_seconds + settings.stream_auth_interval)
        await scene.subscribed(0)  # ended, within the bound
        await scene.emit()
        events, ending = await stream.rest()
    assert events == []
    assert ending.startswith(ENDINGS[transport]("api_key_revoked")), ending


@asynccontextmanager
async def _panel_stream(scene: Scene, email: str) -> AsyncIterator[Stream]:
    async with httpx.AsyncClient(base_url=scene.live.base, timeout=WAIT) as browser:
        panel = Panel(browser)
        await panel.login(email, PASSWORD)
        async with browser.stream("GET", "/app/events") as response:
            assert response.status_code == 200
            yield SseStream(response.aiter_lines())


@pytest.mark.parametrize("change", ["user_deleted", "password_changed", "token_expired"])
async def test_the_panel_stream_ends_with_its_session(scene: Scene, change: str) -> None:
    subject = await CHANGES[change](scene, "agent")
    async with _panel_stream(scene, subject.email) as stream:
        await scene.subscribed()
        before = await scene.emit()
        assert (await stream.take())["id"] == before
        await subject.apply()
        await scene.emit()
        events, ending = await stream.rest()
    assert events == []
    assert ending == "ended"
    assert scene.live.runtime.streams.active == 0
