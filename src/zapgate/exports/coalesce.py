"""Fewer system calls to RabbitMQ: the frames one loop turn writes leave in one send.

aiormq's writer task writes every frame as it takes it from its queue, so a batch of
publishes was one ``send`` per message; on a busy machine each cost 0.1-0.3 ms of the
event loop (``bench/brokers.py`` profiles: a quarter of an AMQP publish). Through
aiormq's ``transport_factory`` hook (handed over by ``CoalescingConnection``, aio-pika's
connection), the connection's stream writer is wrapped in one
that gathers the writes of a loop turn and sends them together at the end of it; a
``drain`` (aiormq waits on it for a frame whose sender asked to) and closing the
connection send what is gathered first. The bytes, and their order, are unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
from aiormq.connection import TCPTransportFactory, TLSTransportFactory, TransportFactory
from yarl import URL


class CoalescingWriter:
    """A ``StreamWriter`` whose writes of one loop turn leave in one ``write``."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._writer.is_closing():
            self._writer.write(data)

    async def drain(self) -> None:
        self._flush()
        await self._writer.drain()

    def write_eof(self) -> None:
        self._flush()
        self._writer.write_eof()

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def __getattr__(self, name: str) -> Any:
        # is_closing, can_write_eof, wait_closed, transport, get_extra_info: as they are.
        return getattr(self._writer, name)


class CoalescingTransportFactory(TransportFactory):
    """aiormq's own TCP or TLS connection, its writer coalescing."""

    def __init__(self, tls: bool) -> None:
        self._inner = TLSTransportFactory() if tls else TCPTransportFactory()

    async def create(
        self, url: URL, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await self._inner.create(url, **kwargs)
        coalescing: Any = CoalescingWriter(writer)
        return reader, coalescing


class CoalescingConnection(aio_pika.Connection):
    """aio-pika's connection, over a ``CoalescingTransportFactory``
    (``aio_pika.connect(url, connection_class=CoalescingConnection)``)."""

    async def connect(self, timeout: float | None = None) -> None:
        tls = self.url.scheme == "amqps"
        self.kwargs["transport_factory"] = CoalescingTransportFactory(tls=tls)
        await super().connect(timeout)
