"""What both broker transports share: the attempts of one batch, timed and failed together.

A batch is published in event id order over one connection and its confirmations are
awaited together, within the delivery timeout. A broker that refuses the connection,
the credentials or the destination fails the whole batch with its own words (the
delivery log and ``/readyz`` show them); one that refuses a single message fails that
one only. The connection is dropped after any failure and opened again for the next
batch, so a restarted broker is picked up by the next retry. The broker URL's
credentials are unsealed (``exports.credentials``) only to open a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from zapgate.exports.addresses import DEFAULT_PREFIX, describe, parse_broker_url, routing_key
from zapgate.exports.credentials import reveal, scrub
from zapgate.util.resolve import system_resolver
from zapgate.util.secretbox import SecretBox
from zapgate.webhooks.attempts import Attempt
from zapgate.webhooks.claims import Due
from zapgate.webhooks.transport import Endpoint
from zapgate.webhooks.urls import checked_addresses

log = logging.getLogger(__name__)

EXPORT_BATCH = 200
"""Deliveries one ordered claim hands to a broker transport: as many as the outcome
recorder writes in one transaction (``DeliveryPolicy.batch``), since the worker claims
the next batch only once this one is recorded. A batch of 500 was recorded in three
writes, the last one after waiting ``RECORD_INTERVAL`` (0.2 s) for company:
``bench/brokers.py`` measured NATS at 1,000 events/s with a p99 lag of 4 s that way,
2,900 and 0.7 s with 200 (the producer's pace)."""

EVENT_GONE = "event no longer in the log (retention)"


class BrokerTransport(ABC):
    """The common half of ``amqp.AmqpTransport`` and ``jetstream.JetStreamTransport``;
    subclasses open a connection (``_open``), publish one batch in order and return one
    result per delivery (``_publish``), and close (``_drop``)."""

    batch = EXPORT_BATCH

    def __init__(
        self, endpoint: Endpoint, *, timeout: float, allow_private: bool, box: SecretBox
    ) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        self._allow_private = allow_private
        self._box = box
        self._changed = False
        self._revealed = ""
        """The URL last connected with, credentials and all: only to scrub them from
        the errors the delivery log keeps."""

    def update(self, endpoint: Endpoint) -> None:
        self._changed = self._changed or endpoint != self.endpoint
        self.endpoint = endpoint

    @property
    def prefix(self) -> str:
        return self.endpoint.subject_prefix or DEFAULT_PREFIX

    def key(self, due: Due) -> str:
        return routing_key(
            self.prefix, self.endpoint.organization_id, due.connection_id, due.event_type
        )

    async def broker_url(self) -> str:
        """The URL to connect to, its credentials unsealed (``SecretUnreadable``, told
        in the delivery log, when this server's key does not open them). Before each
        connection, the broker's host must still resolve to addresses zapgate may
        reach (the check made when the export was saved, made again)."""
        endpoint = self.endpoint
        url = reveal(self._box, endpoint.id, endpoint.url, endpoint.secret)
        self._revealed = url
        if not self._allow_private:
            host, port = parse_broker_url(endpoint.kind, url)
            await checked_addresses(host, port, allow_private=False, resolver=system_resolver)
        return url

    def describe(self, exc: BaseException) -> str:
        return scrub(describe(exc), self._revealed)

    async def send(self, dues: Sequence[Due], *, now: datetime) -> list[Attempt]:
        attempts = [Attempt(due=due, attempted_at=now) for due in dues]
        ready = [a for a in attempts if a.due.body is not None]
        for a in attempts:
            if a.due.body is None:
                a.error = EVENT_GONE
        started = time.perf_counter()
        failed = False
        try:
            async with asyncio.timeout(self._timeout):
                if self._changed:
                    self._changed = False
                    await self._drop()
                results = await self._publish([a.due for a in ready])
        except TimeoutError:
            failed = True
            for a in ready:
                a.error = f"timed out after {self._timeout:g} s"
        except Exception as exc:
            failed = True
            for a in ready:
                a.error = self.describe(exc)
        else:
            for a, result in zip(ready, results, strict=True):
                if result is not None:
                    failed = True
                    a.error = self.describe(result)
        elapsed = int((time.perf_counter() - started) * 1000)
        for a in attempts:
            a.duration_ms = elapsed
        if failed:
            await self._drop()
        return attempts

    @abstractmethod
    async def _publish(self, dues: list[Due]) -> list[BaseException | None]: ...

    @abstractmethod
    async def _drop(self) -> None: ...

    async def aclose(self) -> None:
        await self._drop()


async def settle(pending: Sequence[Awaitable[object]]) -> list[BaseException | None]:
    """Await every confirmation; None for each one confirmed, else its error."""
    results = await asyncio.gather(*pending, return_exceptions=True)
    return [r if isinstance(r, BaseException) else None for r in results]


async def quietly(close: Callable[[], Awaitable[object]]) -> None:
    """Close a connection that may already be broken: its error says nothing new."""
    with contextlib.suppress(Exception):
        await close()
