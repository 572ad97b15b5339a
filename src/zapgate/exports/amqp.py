"""RabbitMQ (AMQP 0-9-1) through aio-pika: publisher confirms, persistent messages.

The exchange must exist (it is declared passively: an export never creates or changes
the consumer's topology); a missing one is the broker's ``NOT_FOUND`` in the delivery
log. The event id is the ``message_id``, the delivery id the ``x-zapgate-delivery``
header, the event type the ``type``; the body is the webhooks' envelope.

aio-pika opens the connection, the channel and checks the exchange; the publishes go
through its underlying aiormq channel (``get_underlay_channel``, what
``Exchange.publish`` itself calls) with the AMQP properties built directly: an
``aio_pika.Message`` per event cost two thirds of a publish in CPU (``bench/brokers.py``:
about 190 ms per 500 persistent messages through ``Exchange.publish``, 60 ms this way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection
from aiormq import Channel as RawChannel
from pamqp.commands import Basic

from zapgate.exports.coalesce import CoalescingConnection
from zapgate.exports.publishing import BrokerTransport, quietly, retrieved
from zapgate.webhooks.claims import Due

PERSISTENT = 2
"""AMQP ``delivery_mode``: written to disk by the broker before it confirms (on a
durable queue)."""


WAVE = 8
"""Publishes started per loop turn. aiormq's writer queue holds 10 (its
``FRAME_BUFFER_SIZE``): a publish finding it full waits holding the channel's lock, and
from then on every publish waits a loop turn for the lock; waves that fit keep the
queue from filling, and the writer sends each wave in one ``send`` (``coalesce``)."""


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
        # Each publish is a task that queues for the channel's lock in the order it
        # starts, so the broker gets them in event id order, this batch before the
        # next one's. ``wait=False``: a publish hands its frames to the connection's
        # writer and waits only for its confirmation, not for the writer to have
        # written them (waiting made the publishes of a batch one loop turn each).
        publishes: list[asyncio.Future[object]] = []
        try:
            for n, due in enumerate(dues):
                assert due.body is not None  # only deliveries with a body are published
                publish: asyncio.Future[object] = asyncio.ensure_future(
                    channel.basic_publish(
                        due.body,
                        exchange=exchange,
                        routing_key=self.key(due),
                        properties=self._properties(due),
                        wait=False,
                    )
                )
                # Awaited by ``send`` (a batch's error is told there), unless the batch
                # ran out of time while going out: then nobody does.
                publish.add_done_callback(retrieved)
                publishes.append(publish)
                if n % WAVE == WAVE - 1:
                    await asyncio.sleep(0)
        except BaseException:
            for publish in publishes:
                publish.cancel()
            raise
        return list(publishes)

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
