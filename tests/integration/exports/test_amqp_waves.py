"""AMQP publishes a wave at a time (``exports/amqp.publish_wave``) on the machine's real
RabbitMQ: each message confirmed by the broker in order, a body larger than a frame
split across frames, a message the broker refuses failed alone, and a wave cancelled
while it waited for the writer's queue gives its delivery tags back, so the acks of the
next wave still confirm the right messages. A batch of several waves whose channel the
broker closes after the first (the exchange deleted) tells the broker's reason for
every message, those of the waves that could not go out included."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aio_pika
import pytest
from aiormq import Channel as RawChannel
from aiormq.abc import ChannelFrame
from aiormq.exceptions import DeliveryError
from pamqp.commands import Basic
from pamqp.heartbeat import Heartbeat

from tests.conftest import eventually
from tests.integration.exports.brokers import RABBITMQ_URL, RabbitConsumer, rabbit_consumer, unique
from zapgate.exports import amqp
from zapgate.exports.amqp import WAVE, AmqpTransport, Outgoing, publish_wave
from zapgate.util.secretbox import SecretBox
from zapgate.webhooks.claims import Due
from zapgate.webhooks.transport import Endpoint


def _message(n: int, body: bytes | None = None) -> Outgoing:
    properties = Basic.Properties(message_id=str(n), delivery_mode=2)
    return (f"zapgate.test.{n}", properties, body if body is not None else f"event {n}".encode())


@contextlib.asynccontextmanager
async def _confirming_channel() -> AsyncIterator[RawChannel]:
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        raw = await channel.get_underlay_channel()
        assert isinstance(raw, RawChannel)
        yield raw
    finally:
        await connection.close()


async def _arrived(consumer: RabbitConsumer, count: int) -> list[str]:
    async def enough() -> bool:
        return len(consumer.messages) >= count

    await eventually(enough, timeout=10)
    return [m.message_id for m in consumer.messages]


async def test_a_wave_is_confirmed_and_arrives_in_order_a_large_body_in_several_frames() -> None:
    async with rabbit_consumer() as consumer, _confirming_channel() as channel:
        large = b"x" * (channel.max_content_size * 2 + 10)
        messages = [_message(n) for n in range(1, 60)] + [_message(60, large)]
        confirmations = await publish_wave(channel, consumer.exchange, messages)
        acks = await asyncio.wait_for(asyncio.gather(*confirmations), 10)
        assert all(isinstance(ack, Basic.Ack) for ack in acks)
        assert await _arrived(consumer, 60) == [str(n) for n in range(1, 61)]
        assert consumer.messages[-1].body == large
        assert not channel.confirmations  # every tag settled


async def test_a_message_the_broker_refuses_fails_alone() -> None:
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        setup = await connection.channel()
        exchange = await setup.declare_exchange(unique("exchange"), aio_pika.ExchangeType.TOPIC)
        # A queue that holds one message and refuses the publishes past it: the
        # broker nacks them to a confirming publisher.
        queue = await setup.declare_queue(
            exclusive=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
        )
        await queue.bind(exchange, routing_key="#")
        try:
            async with _confirming_channel() as channel:
                confirmations = await publish_wave(
                    channel, exchange.name, [_message(1), _message(2)]
                )
                results = await asyncio.wait_for(
                    asyncio.gather(*confirmations, return_exceptions=True), 10
                )
                assert isinstance(results[0], Basic.Ack)
                assert isinstance(results[1], DeliveryError)
        finally:
            await exchange.delete()
    finally:
        await connection.close()


async def test_a_wave_cancelled_while_queueing_gives_its_tags_back() -> None:
    async with rabbit_consumer() as consumer, _confirming_channel() as channel:
        first = await publish_wave(channel, consumer.exchange, [_message(1)])
        await asyncio.wait_for(asyncio.gather(*first), 10)
        tag, queue = channel.delivery_tag, channel.write_queue

        # The writer's queue full: a stand-in nobody takes from, as when the
        # connection's writer is stuck behind a slow socket.
        full: asyncio.Queue[ChannelFrame] = asyncio.Queue(maxsize=1)
        full.put_nowait(ChannelFrame.marshall(channel_number=0, frames=[Heartbeat()]))
        channel.write_queue = full
        waiting = asyncio.create_task(
            publish_wave(channel, consumer.exchange, [_message(2), _message(3)])
        )
        await asyncio.sleep(0)  # it takes its tags, then waits for room
        assert not waiting.done()
        assert channel.delivery_tag == tag + 2
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert channel.delivery_tag == tag
        assert not channel.confirmations
        channel.write_queue = queue

        # The broker never saw the cancelled wave: the next one's acks are its own.
        last = await publish_wave(channel, consumer.exchange, [_message(4), _message(5)])
        # (Tags given out twice would leave these waiting for acks that went to others.)
        acks = await asyncio.wait_for(asyncio.gather(*last), 10)
        assert all(isinstance(ack, Basic.Ack) for ack in acks)
        assert channel.delivery_tag == tag + 2
        assert await _arrived(consumer, 3) == ["1", "4", "5"]


async def test_a_batch_whose_channel_closes_after_its_first_wave_tells_the_broker_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The broker's close (the exchange is gone) reaches the client between the batch's
    # first and second waves: the waves after the first wait for it here.
    waves: list[int] = []

    async def close_arrives_first(
        channel: RawChannel, exchange: str, messages: list[Outgoing]
    ) -> list[asyncio.Future[object]]:
        waves.append(len(messages))
        if len(waves) > 2:
            await asyncio.wait({channel.closing}, timeout=10)
            assert channel.is_closed
        return await publish_wave(channel, exchange, messages)

    monkeypatch.setattr(amqp, "publish_wave", close_arrives_first)
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        setup = await connection.channel()
        exchange = await setup.declare_exchange(unique("exchange"), aio_pika.ExchangeType.TOPIC)
        endpoint = Endpoint(
            id="export",
            organization_id="org",
            url=RABBITMQ_URL,
            secret="",
            ordered=True,
            kind="rabbitmq",
            exchange=exchange.name,
        )
        transport = AmqpTransport(
            endpoint, timeout=10.0, allow_private=True, box=SecretBox("test key")
        )
        now = datetime.now(UTC)
        dues = [
            Due(
                id=f"d{n}",
                event_id=n,
                event_type="message.received",
                connection_id=None,
                attempts=0,
                due_at=now,
                created_at=now,
                body=b"{}",
            )
            for n in range(1, 2 * WAVE + 7)
        ]
        try:
            assert all(a.error is None for a in await transport.send(dues[:1], now=now))
            await exchange.delete()  # the next publish makes the broker close the channel
            attempts = await transport.send(dues[1:], now=now)
        finally:
            await transport.aclose()
    finally:
        await connection.close()
    assert waves == [1, WAVE, WAVE]  # the third wave found the channel closed
    assert len(attempts) == len(dues) - 1
    assert all(a.error is not None and "NOT_FOUND" in a.error for a in attempts), {
        a.error for a in attempts
    }
