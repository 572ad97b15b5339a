"""Real HTTP servers on 127.0.0.1 for integration tests: webhook receivers and the app.

Both run uvicorn in the test's event loop on an ephemeral port, so webhook requests and
SSE/WebSocket streams cross a real socket (httpx's ASGI transport streams neither).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI

from zapgate.app import create_app
from zapgate.config import Settings
from zapgate.runtime import Runtime
from zapgate.util.clock import ManualClock

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str = ""

    @property
    def envelope(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    """A webhook receiver: records every request; can fail, or block until released."""

    fail_next: int = 0
    status: int = 200
    refuse_events: set[int] = field(default_factory=set)
    """Event ids answered 503 every time."""
    answer: bytes | None = None
    """The body of every answer (default: ``thanks``, or ``nope`` for a failure)."""
    gate: asyncio.Event | None = None
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    arrived: int = 0
    """Requests read, answered or not (``requests`` lists the answered ones)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def event_ids(self, ok_only: bool = True) -> list[int]:
        return [r.envelope["id"] for r in self.requests if not ok_only or r.headers.get("ok")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.arrived += 1
        if self.gate is not None:
            await self.gate.wait()
        status = self.status
        if self.fail_next > 0:
            self.fail_next -= 1
            status = 503
        if self.refuse_events and json.loads(body)["id"] in self.refuse_events:
            status = 503
        if 200 <= status < 300:
            headers["ok"] = "1"
        self.requests.append(Received(headers=headers, body=body, path=scope["path"]))
        await send({"type": "http.response.start", "status": status, "headers": []})
        body = self.answer if self.answer is not None else b"thanks" if status < 300 else b"nope"
        await send({"type": "http.response.body", "body": body})


def _socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@asynccontextmanager
async def serving(app: Any, *, lifespan: str = "off", port: int = 0) -> AsyncIterator[int]:
    """Serve an ASGI app on 127.0.0.1 (on ``port``, or any free one); yields the port."""
    sock = _socket(port)
    config = uvicorn.Config(
        app, lifespan=lifespan, log_config=None, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    async with serving(receiver, port=receiver.port) as port:
        receiver.port = port
        yield receiver


@dataclass
class LiveApp:
    app: FastAPI
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@asynccontextmanager
async def live_app(settings: Settings, clock: ManualClock) -> AsyncIterator[LiveApp]:
    app = create_app(settings, clock=clock)
    async with serving(app, lifespan="on") as port:
        yield LiveApp(app=app, port=port)
