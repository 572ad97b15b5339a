"""RabbitMQ (AMQP 0-9-1) through aio-pika: publisher confirms, persistent messages.

The exchange must exist (it is declared passively: an export never creates or changes
the consumer's topology); a missing one is the broker's ``NOT_FOUND`` in the delivery
log. The event id is the ``message_id``, the delivery id the ``x-zapgate-delivery``
header, the event type the ``type``; the body is the webhooks' envelope.
"""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from zapgate.exports.publishing import BrokerTransport, quietly, settle
from zapgate.webhooks.claims import Due


class AmqpTransport(BrokerTransport):
    _connection: AbstractConnection | None = None
    _channel: AbstractChannel | None = None
    _exchange: AbstractExchange | None = None

    async def _open(self) -> AbstractExchange:
        if (
            self._exchange is not None
            and self._channel is not None
            and not self._channel.is_closed
        ):
            return self._exchange
        await self._drop()
        url = await self.broker_url()
        self._connection = await aio_pika.connect(url, timeout=self._timeout)
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._channel.get_exchange(self.endpoint.exchange or "", ensure=True)
        return self._exchange

    async def _publish(self, dues: list[Due]) -> list[BaseException | None]:
        exchange = await self._open()
        # Publishes queue for the channel's lock in the order they start, so the broker
        # gets them in event id order; the confirmations are awaited together.
        publishes = [
            asyncio.ensure_future(exchange.publish(self._message(due), routing_key=self.key(due)))
            for due in dues
        ]
        return await settle(publishes)

    def _message(self, due: Due) -> aio_pika.Message:
        assert due.body is not None  # only deliveries with a body are published
        return aio_pika.Message(
            due.body,
            message_id=str(due.event_id),
            type=due.event_type,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers={"x-zapgate-delivery": due.id},
        )

    async def _drop(self) -> None:
        connection = self._connection
        self._connection = self._channel = self._exchange = None
        if connection is not None:
            await quietly(connection.close)
