"""RabbitMQ (AMQP 0-9-1) through aio-pika: publisher confirms, persistent messages.

The exchange must exist (it is declared passively: an export never creates or changes
the consumer's topology); a missing one is the broker's ``NOT_FOUND`` in the delivery
log. The event id is the ``message_id``, the delivery id the ``x-zapgate-delivery``
header, the event type the ``type``; the body is the webhooks' envelope.

aio-pika opens the connection, the channel and checks the exchange. The publishes go
through its underlying aiormq channel (``get_underlay_channel``), a wave of them at a
time (``publish_wave``): under the channel's lock, each takes the channel's next
delivery tag and a confirmation future the channel settles (the broker's acks, or its
close), and the wave's frames, marshalled by pamqp and aiormq, go on the connection's
write queue as one item. That is what aiormq's ``basic_publish`` does for one message,
without its per-message task, lock, timeout and queue item, which were half the CPU
of a publish (``bench/brokers.py``). An ``aio_pika.Message`` per event through
``Exchange.publish`` cost three times more again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection
from aiormq import Channel as RawChannel
from aiormq.abc import ChannelFrame
from pamqp.body import ContentBody
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from zapgate.exports.coalesce import CoalescingConnection
from zapgate.exports.publishing import BrokerTransport, quietly, retrieved
from zapgate.webhooks.claims import Due

PERSISTENT = 2
"""AMQP ``delivery_mode``: written to disk by the broker before it confirms (on a
durable queue)."""


WAVE = 50
"""Publishes marshalled and queued together: one item of aiormq's writer queue (which
holds 10) and about 1 ms of the event loop each; a batch's waves yield between them."""


class AmqpTransport(BrokerTransport):
    _connection: AbstractConnection | None = None
    _channel: AbstractChannel | None = None
    _raw: RawChannel | None = None

    async def _open(self) -> None:
        if self._raw is not None and self._channel is not None and not self._channel.is_closed:
            return
        await self._drop()
        url = await self.broker_url()
        self._connection = await aio_pika.connect(
            url,
            timeout=self._timeout,
            connection_class=CoalescingConnection,
        )
        self._channel = await self._connection.channel(publisher_confirms=True)
        await self._channel.get_exchange(self.endpoint.exchange or "", ensure=True)
        raw = await self._channel.get_underlay_channel()
        assert isinstance(raw, RawChannel)  # aiormq's, whose publish can skip the drain
        self._raw = raw

    async def _issue(self, dues: list[Due]) -> list[Awaitable[object]]:
        channel = self._raw
        assert channel is not None  # opened by ``_open``
        exchange = self.endpoint.exchange or ""
        # Waves go out in order under ``_issuing`` (``BrokerTransport``), this batch's
        # before the next one's: the broker gets them in event id order.
        confirmations: list[Awaitable[object]] = []
        for start in range(0, len(dues), WAVE):
            if start:
                await asyncio.sleep(0)
            messages: list[Outgoing] = []
            for due in dues[start : start + WAVE]:
                assert due.body is not None  # only deliveries with a body are published
                messages.append((self.key(due), self._properties(due), due.body))
            try:
                confirmations += await publish_wave(channel, exchange, messages)
            except Exception as exc:
                if not confirmations:
                    raise  # nothing went out: the batch fails with this
                # The channel closed behind the waves already out (the broker refused
                # one of them): theirs say why; the rest fail with this.
                reason = _close_reason(channel) or exc
                confirmations += [_failed(reason) for _ in dues[start:]]
                break
            except BaseException:
                # Out of time (cancelled) part way: nobody will await what went out.
                for confirmation in confirmations:
                    assert isinstance(confirmation, asyncio.Future)
                    confirmation.add_done_callback(retrieved)
                raise
        return confirmations

    @staticmethod
    def _properties(due: Due) -> Basic.Properties:
        return Basic.Properties(
            content_type="application/json",
            delivery_mode=PERSISTENT,
            message_id=str(due.event_id),
            message_type=due.event_type,
            headers={"x-zapgate-delivery": due.id},
        )

    async def _drop(self) -> None:
        connection = self._connection
        self._connection = self._channel = self._raw = None
        if connection is not None:
            await quietly(connection.close)


Outgoing = tuple[str, Basic.Properties, bytes]
"""A message to publish: its routing key, its properties and its body."""


async def publish_wave(
    channel: RawChannel, exchange: str, messages: list[Outgoing]
) -> list[asyncio.Future[object]]:
    """Queue ``messages`` on ``channel`` (publisher confirms on) for ``exchange``, in
    this order and before any publish queued after them: the future of each one's
    confirmation, which the channel settles with the broker's ack, or fails with its
    nack or the channel's close.

    Nothing is queued if this is cancelled (a timeout) or fails before the frames are
    on the writer's queue: the delivery tags it took are given back, so the channel's
    count stays the broker's."""
    futures: list[asyncio.Future[object]] = []
    async with channel.lock:  # closed channel: ChannelInvalidStateError
        first = channel.delivery_tag + 1
        frames: list[Any] = []
        size = channel.max_content_size
        for routing_key, properties, body in messages:
            channel.delivery_tag += 1
            confirmation = channel.create_future()
            channel.confirmations[channel.delivery_tag] = confirmation
            futures.append(confirmation)
            frames.append(Basic.Publish(exchange=exchange, routing_key=routing_key))
            frames.append(ContentHeader(properties=properties, body_size=len(body)))
            frames += body_frames(body, size)
        try:
            item = ChannelFrame.marshall(channel_number=channel.number, frames=frames)
            await channel.write_queue.put(item)
        except BaseException:
            for tag in range(first, channel.delivery_tag + 1):
                channel.confirmations.pop(tag, None)
            channel.delivery_tag = first - 1
            for confirmation in futures:
                confirmation.cancel()
            raise
    return futures


def body_frames(body: bytes, size: int) -> list[ContentBody]:
    """``body`` in content frames of at most ``size`` bytes (the channel's
    ``max_content_size``: the negotiated frame size less a frame's overhead, not
    positive when the broker set no limit); none for an empty body."""
    if not body:
        return []
    if size <= 0 or len(body) <= size:
        return [ContentBody(body)]
    return [ContentBody(body[at : at + size]) for at in range(0, len(body), size)]


def _failed(exc: BaseException) -> asyncio.Future[object]:
    failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    failed.set_exception(exc)
    failed.exception()  # told by ``settle``; never asyncio's to log
    return failed


def _close_reason(channel: RawChannel) -> BaseException | None:
    """Why ``channel`` closed (the broker's words), if it closed with an error."""
    if not channel.is_closed:
        return None
    closing = channel.closing
    if closing.done() and not closing.cancelled():
        return closing.exception()
    return None
