"""`zapgate serve` logging at DEBUG: WebSocket credentials never reach its output.

A real server process with the real logging configuration: clients connect with the
token in the URL (logged, masked) and in the ``Sec-WebSocket-Protocol`` header (not in
the URL at all), and receive events either way.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

ADMIN = {"email": "a@example.com", "password": "a-pass-123"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def _serving(env: dict[str, str], port: int, output: list[str]) -> AsyncIterator[str]:
    """Run ``zapgate serve`` until the block ends; every line it writes goes to ``output``."""
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "zapgate.cli", "serve", "--port", str(port)],
        env=env
        | {
            "ZAPGATE_ADMIN_EMAIL": ADMIN["email"],
            "ZAPGATE_ADMIN_PASSWORD": ADMIN["password"],
            "ZAPGATE_LOG_LEVEL": "DEBUG",
            "ZAPGATE_LOG_FORMAT": "console",
            "ZAPGATE_ARGON2_TIME_COST": "1",
            "ZAPGATE_ARGON2_MEMORY_KIB": "1024",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    started = asyncio.Event()

    async def drain() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace")
            output.append(line)
            if "Application startup complete" in line:
                started.set()

    reader = asyncio.create_task(drain())
    try:
        async with asyncio.timeout(60):
            waiting = asyncio.create_task(started.wait())
            await asyncio.wait({waiting, reader}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
        assert started.is_set(), "".join(output)
        yield f"127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
        async with asyncio.timeout(60):
            await proc.wait()
            await reader


async def test_websocket_tokens_are_masked_in_the_log_and_may_come_as_a_subprotocol(
    env: dict[str, str],
) -> None:
    output: list[str] = []
    async with (
        _serving(env, _free_port(), output) as host,
        httpx.AsyncClient(base_url=f"http://{host}/api/v1", timeout=10) as http,
    ):
        token = (await http.post("/auth/login", json=ADMIN)).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        key = (await http.post("/api-keys", headers=bearer, json={"name": "k"})).json()["key"]
        created = await http.post("/connections", headers=bearer, json={"name": "Shop"})
        assert created.status_code == 201
        url = f"ws://{host}/api/v1/events/ws?since=0"
        for credential in (token, key):
            async with connect(f"{url}&token={credential}") as ws:
                assert json.loads(await ws.recv())["type"] == "connection.created"
        offered = [Subprotocol("zapgate.bearer"), Subprotocol(token)]
        async with connect(url, subprotocols=offered) as ws:
            assert json.loads(await ws.recv())["type"] == "connection.created"
            # Only the name comes back, never the token.
            assert ws.subprotocol == "zapgate.bearer"
            assert ws.response is not None
            assert ws.response.headers["Sec-WebSocket-Protocol"] == "zapgate.bearer"
    log = "".join(output)
    assert token not in log
    assert key not in log
    assert log.count('"WebSocket /api/v1/events/ws?since=0&token=***" [accepted]') == 2
    assert '"WebSocket /api/v1/events/ws?since=0" [accepted]' in log
    assert "Traceback" not in log
