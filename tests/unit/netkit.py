"""Real local network pieces for the address-pinning tests of media fetch and webhooks.

``ScriptedDns`` is a DNS server that rebinds: each lookup of a name gets the next answer
of its script. ``LoopbackServer`` is a real HTTP/1.1 server on a loopback address that
records which of its addresses each request arrived on. ``self_signed`` makes a TLS
certificate for one name with the ``openssl`` command.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

Reply = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]
"""Writes the answer to one request (head and body as received)."""


class ScriptedDns:
    """Answers each lookup of a name with the next answer of its script; the last answer
    repeats. Records every lookup, so a test can count them."""

    def __init__(self, script: dict[str, list[list[str]]]) -> None:
        self._script = script
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        answers = self._script.get(host, [[]])
        index = min(self.lookups.count(host), len(answers) - 1)
        self.lookups.append(host)
        return answers[index]


def fixed(raw: bytes) -> Reply:
    async def reply(_request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(raw)

    return reply


@dataclass
class LoopbackServer:
    """Serves HTTP/1.1 requests (keep-alive) on one loopback address until stopped."""

    reply: Reply
    close_after: bool = False
    """Close each connection after its first answer (no keep-alive)."""
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    """``(address the request arrived on, request bytes)``, in order."""
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> LoopbackServer:
        self._server = await asyncio.start_server(self._handle, host, port, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        address = writer.get_extra_info("sockname")[0]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                request = head + await reader.readexactly(length)
                self.requests.append((address, request))
                await self.reply(request, writer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """``(certificate, key)`` for ``name`` (a DNS subjectAltName), valid for two days."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "the openssl command (scripts/setup --dev installs it) is missing"
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def tls_pair(directory: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for ``name``, and a client context that
    trusts only that certificate (and checks host names, as the default one does)."""
    cert, key = self_signed(directory, name)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client
