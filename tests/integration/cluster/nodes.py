"""Cluster nodes as real ``zapgate serve`` processes on loopback ports, on one PostgreSQL
database made for the test and dropped after it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, _pg_url, pg_admin
from tests.integration.api.live_server import _free_port, server_env


@asynccontextmanager
async def empty_pg_database() -> AsyncIterator[str]:
    """An empty PostgreSQL database (no schema): the nodes migrate it."""
    name = f"zapgate_cluster_{uuid.uuid4().hex[:10]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Node:
    name: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes]
    token: str | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=10)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Cluster:
    database_url: str
    tmp: Path
    settings: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)

    def launch(self, name: str, **settings: str) -> Node:
        """Start a node (no waiting): ``settings`` are ``ZAPGATE_*`` names in lower case."""
        data = self.tmp / name
        data.mkdir(parents=True, exist_ok=True)
        env = server_env(
            data,
            self.database_url,
            cluster="true",
            node_id=name,
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            **(self.settings | settings),
        )
        port = _free_port()
        env["ZAPGATE_NODE_URL"] = f"http://127.0.0.1:{port}"
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "zapgate.cli", "serve", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        node = Node(name=name, port=port, log=log, proc=proc)
        self.nodes[name] = node
        return node

    def wait_ready(self, *nodes: Node, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for node in nodes:
            while True:
                try:
                    if httpx.get(f"{node.base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert node.alive(), node.output()
                assert time.monotonic() < deadline, f"{node.name} did not become ready"
                time.sleep(0.05)
            node.token = login(node.base)

    def start(self, *names: str, **settings: str) -> list[Node]:
        nodes = [self.launch(name, **settings) for name in names]
        self.wait_ready(*nodes)
        return nodes

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()


def login(base: str, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
    answer = httpx.post(
        f"{base}/api/v1/auth/login",
        json={"email": email, "password": password},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


@contextmanager
def network_process(tmp: Path) -> Iterator[str]:
    """``zapgate simulator serve`` as its own process; yields its URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "network.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zapgate.cli", "simulator", "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/report", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the network did not start"
            time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def cluster_of(database_url: str, tmp: Path, **settings: str) -> Iterator[Cluster]:
    cluster = Cluster(database_url, tmp, settings)
    try:
        yield cluster
    finally:
        cluster.stop()


def poll(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """Poll real processes until ``check()`` answers something true; that answer."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class HookReceiver:
    """A webhook receiver in a thread (the cluster tests poll with blocking calls)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, int]] = []
        """(delivery id, event id) of every request, in arrival order."""
        received = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.headers["X-Zapgate-Delivery"], json.loads(body)["id"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> HookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def link_connections(node: Node, count: int, *, name: str, phones: str) -> None:
    """``count`` connections made, started and linked (the simulator's scan) through
    ``node``: named ``<name><i>``, phones ``<phones><i + 1 in 5 digits>1``."""
    with node.client() as client:
        for i in range(count):
            made = client.post("/api/v1/connections", json={"name": f"{name}{i}"})
            assert made.status_code == 201, made.text
            cid = made.json()["id"]
            assert client.post(f"/api/v1/connections/{cid}/start").status_code == 202
            scanned = client.post(
                f"/api/v1/simulator/connections/{cid}/scan",
                json={"phone": f"{phones}{i + 1:05d}1"},
            )
            assert scanned.status_code == 204, scanned.text
