"""The machine's real brokers for export tests, without disturbing other users of them.

Each test gets its own RabbitMQ exchange (and a queue bound to all of it) or its own
JetStream stream and subject prefix, named uniquely and deleted afterwards, so parallel
runs do not see each other's messages. "The broker is down" is a ``TcpProxy`` on a
loopback port, stopped and started again by the test: the shared brokers keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import nats
from aio_pika.abc import AbstractIncomingMessage

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
NATS_URL = "nats://127.0.0.1:4222"


def unique(kind: str) -> str:
    return f"zgtest_{kind}_{uuid.uuid4().hex[:12]}"


@dataclass
class Consumed:
    key: str
    """Routing key (RabbitMQ) or subject (NATS)."""
    message_id: str
    body: bytes
    event_type: str = ""
    """RabbitMQ's ``type`` property, NATS's ``Zapgate-Event`` header."""
    delivery_id: str = ""
    """``x-zapgate-delivery`` (RabbitMQ) or ``Zapgate-Delivery`` (NATS) header."""
    persistent: bool = True
    """RabbitMQ: delivery mode 2; NATS messages are stored by the stream."""
    content_type: str = "application/json"

    @property
    def envelope(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class RabbitConsumer:
    exchange: str
    messages: list[Consumed] = field(default_factory=list)

    def on_message(self, message: AbstractIncomingMessage) -> None:
        key = message.routing_key or ""
        self.messages.append(
            Consumed(
                key,
                message.message_id or "",
                message.body,
                event_type=message.type or "",
                delivery_id=str((message.headers or {}).get("x-zapgate-delivery", "")),
                persistent=message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT,
                content_type=message.content_type or "",
            )
        )

    async def all(self) -> list[Consumed]:
        return self.messages


@asynccontextmanager
async def rabbit_consumer() -> AsyncIterator[RabbitConsumer]:
    """A topic exchange of its own and a queue bound to every key (``#``) on it."""
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        channel = await connection.channel()
        name = unique("exchange")
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="#")
        consumer = RabbitConsumer(exchange=name)

        async def received(message: AbstractIncomingMessage) -> None:
            consumer.on_message(message)
            await message.ack()

        await queue.consume(received)
        try:
            yield consumer
        finally:
            await exchange.delete()
    finally:
        await connection.close()


@dataclass
class NatsConsumer:
    stream: str
    prefix: str
    js: Any

    async def all(self) -> list[Consumed]:
        """Every message in the stream, in stream order."""
        try:
            info = await self.js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            return []
        out: list[Consumed] = []
        if not info.state.messages:
            return out  # a new empty stream's sequence range is (0, 0): nothing to get
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await self.js.get_msg(self.stream, seq)
            headers = msg.headers or {}
            out.append(
                Consumed(
                    msg.subject,
                    headers.get("Nats-Msg-Id", ""),
                    msg.data,
                    event_type=headers.get("Zapgate-Event", ""),
                    delivery_id=headers.get("Zapgate-Delivery", ""),
                )
            )
        return out


@asynccontextmanager
async def nats_consumer() -> AsyncIterator[NatsConsumer]:
    """A stream name and subject prefix of its own (the export creates the stream)."""
    client = await nats.connect(NATS_URL)
    try:
        consumer = NatsConsumer(stream=unique("stream"), prefix=unique("p"), js=client.jetstream())
        try:
            yield consumer
        finally:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await consumer.js.delete_stream(consumer.stream)
    finally:
        await client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class TcpProxy:
    """Forwards a loopback port to a broker; ``stop`` refuses and cuts connections
    (the broker seems down), ``start`` serves again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = target_port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self._writers.discard(writer)


@asynccontextmanager
async def proxy(target_port: int) -> AsyncIterator[TcpProxy]:
    p = TcpProxy(target_port)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
