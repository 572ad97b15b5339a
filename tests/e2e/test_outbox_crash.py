"""Kill -9 a real server with messages queued and in flight; restart; each arrives once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _pg_url, pg_admin

EMAIL = "admin@example.com"
PASSWORD = "admin-password-1"
ZAPGATE = str(Path(sys.executable).with_name("zapgate"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Server:
    def __init__(self, data_dir: Path, port: int, database_url: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "ZAPGATE_DATA_DIR": str(data_dir),
            "ZAPGATE_DATABASE_URL": database_url,
            "ZAPGATE_PORT": str(port),
            "ZAPGATE_HOST": "127.0.0.1",
            "ZAPGATE_ADMIN_EMAIL": EMAIL,
            "ZAPGATE_ADMIN_PASSWORD": PASSWORD,
            "ZAPGATE_SECRET_KEY": "k" * 40,
            "ZAPGATE_ARGON2_TIME_COST": "1",
            "ZAPGATE_ARGON2_MEMORY_KIB": "1024",
            "ZAPGATE_LOG_LEVEL": "WARNING",
            "ZAPGATE_RESTORE_JITTER": "0",
            # Ten sends a second: fast enough for a short test, slow enough that the
            # kill lands with messages both queued and in flight.
            "ZAPGATE_OUTBOX_RATE_LIMIT_PER_MINUTE": "600",
            "ZAPGATE_OUTBOX_RATE_JITTER": "0",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [ZAPGATE, "serve", "--engine", "simulator"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _until(lambda: httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200, "healthz")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The server's own database: a file, or a PostgreSQL database made for this test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'zapgate.db'}"
        return
    name = f"zapgate_crash_{uuid.uuid4().hex[:10]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    srv = Server(tmp_path / "data", _free_port(), database_url)
    try:
        yield srv
    finally:
        srv.stop()


def _state(http: httpx.Client, cid: str) -> str:
    return str(http.get(f"/api/v1/connections/{cid}/status").json()["state"])


def test_kill_and_restart_delivers_each_message_once(server: Server) -> None:
    server.start()
    token = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}
    ).json()["access_token"]
    http = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    cid = http.post("/api/v1/connections", json={"name": "Shop"}).json()["id"]
    http.post(f"/api/v1/connections/{cid}/start")
    _until(lambda: _state(http, cid) == "qr_ready", "qr")
    scan = http.post(f"/api/v1/simulator/connections/{cid}/scan", json={"phone": "5511999990001"})
    assert scan.status_code == 204
    _until(lambda: _state(http, cid) == "ready", "ready")

    accepted = []
    for i in range(60):
        answer = http.post(
            "/api/v1/messages", json={"to": f"55119777{i:04d}1", "text": f"message {i}"}
        )
        assert answer.status_code == 202, answer.text
        accepted.append(answer.json()["wa_message_id"])

    def outbox() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = http.get(
            f"/api/v1/simulator/connections/{cid}/outbox"
        ).json()["items"]
        return items

    _until(lambda: len(outbox()) >= 10, "some sends before the kill")
    before = len(outbox())
    server.kill()
    assert before < len(accepted), "the kill must land with messages still queued"

    server.start()
    http.close()
    token = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}
    ).json()["access_token"]
    http = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    _until(lambda: _state(http, cid) == "ready", "ready after restart")
    _until(lambda: len(outbox()) == len(accepted), "every message delivered", timeout=60)
    received = outbox()
    # One entry per id (the simulated recipient drops a repeated id), and every id is ours.
    assert sorted(e["wa_message_id"] for e in received) == sorted(accepted)
    assert len({e["wa_message_id"] for e in received}) == len(accepted)

    def all_sent() -> bool:
        page = http.get("/api/v1/chats?limit=200").json()["items"]
        return len(page) == len(accepted) and all(
            c["last_message"]["status"] in ("sent", "delivered", "read") for c in page
        )

    _until(all_sent, "every message marked sent", timeout=30)
    http.close()
