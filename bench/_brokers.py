"""The machine's RabbitMQ and NATS for ``bench/brokers.py``: a destination of each, made
for one run and deleted afterwards, and what they hold at the end."""

from __future__ import annotations

import uuid

import aio_pika
import nats
from nats.js.errors import NotFoundError

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
NATS_URL = "nats://127.0.0.1:4222"


class Brokers:
    """A RabbitMQ exchange with a queue bound to all of it, and a JetStream stream name,
    of this run only; deleted afterwards."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.exchange = f"zgbench_{tag}"
        self.queue = f"zgbench_{tag}"
        self.stream = f"ZGBENCH_{tag}"
        self.prefix = f"zgbench{tag}"

    async def __aenter__(self) -> Brokers:
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(self.queue, durable=True)
            await queue.bind(exchange, routing_key="#")
        return self

    async def counts(self) -> dict[str, int]:
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.queue, passive=True)
            rabbit = queue.declaration_result.message_count or 0
        client = await nats.connect(NATS_URL)
        try:
            info = await client.jetstream().stream_info(self.stream)
            stream = info.state.messages
        except NotFoundError:
            stream = 0
        finally:
            await client.close()
        return {"rabbitmq": rabbit, "nats": stream}

    async def __aexit__(self, *_: object) -> None:
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(self.queue)
            await channel.exchange_delete(self.exchange)
        client = await nats.connect(NATS_URL)
        try:
            await client.jetstream().delete_stream(self.stream)
        except NotFoundError:
            pass
        finally:
            await client.close()
