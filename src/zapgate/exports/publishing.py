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
from typing import Any

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
recorder writes in one transaction (``DeliveryPolicy.batch``). A batch of 500 was
recorded in three writes, the last one after waiting ``RECORD_INTERVAL`` (0.2 s) for
company: ``bench/brokers.py`` measured NATS at 1,000 events/s with a p99 lag of 4 s
that way (stop-and-wait), 2,900 and 0.7 s with 200 (the producer's pace)."""

EXPORT_DEPTH = 4
"""Batches an export keeps in flight (``Transport.depth``): the next batches go out
while the confirmations of the first come back and its outcomes are recorded. The
gain is the broker's confirmation latency: alone with the machine's RabbitMQ
(``AmqpTransport``, 6,000 persistent messages, a busy two-core machine) 4 in flight
gave 3,750 messages/s against 3,300 one at a time, minutes apart; inside the server,
where the loop is shared, a batch waits much longer for its confirmations."""

EVENT_GONE = "event no longer in the log (retention)"


_Confirming = asyncio.Future[list[BaseException | None]]
"""The confirmations of one batch, settled together (``settle``)."""


class BrokerTransport(ABC):
    """The common half of ``amqp.AmqpTransport`` and ``jetstream.JetStreamTransport``;
    subclasses open a connection (``_open``), put one batch on it in order and return
    an awaitable confirmation per delivery (``_issue``), and close (``_drop``).

    Batches are pipelined (``depth``): ``send`` calls queue for the connection in the
    order they are made (``_issuing``), each puts its batch on the wire and lets the
    next one go while it waits for its confirmations. Once a batch fails, the sends
    behind it that have not gone out yet publish nothing (``held`` attempts: their rows
    stay as they were) until every send of the pipeline has returned, so a later batch
    never reaches the broker on a fresh connection ahead of the failed one's retry.
    Each batch has the delivery timeout to go out, and again for its confirmations from
    when the batch ahead of it is settled."""

    batch = EXPORT_BATCH
    depth = EXPORT_DEPTH

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
        self._issuing = asyncio.Lock()
        """Held while a batch opens the connection and goes out: batches in call order."""
        self._sending = 0
        """``send`` calls not returned yet: the pipeline."""
        self._failed = False
        """A batch of the current pipeline failed: hold the ones not yet out."""
        self._confirming: set[_Confirming] = set()
        """The confirmations of the batches out on the connection."""
        self._last: _Confirming | None = None
        """The confirmations of the batch that went out last."""

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
        self._sending += 1
        started = time.perf_counter()
        failed = False
        results: list[BaseException | None] = []
        confirming: _Confirming | None = None
        ahead: _Confirming | None = None
        try:
            async with asyncio.timeout(self._timeout):
                async with self._issuing:
                    if self._failed:
                        for a in ready:
                            a.held = True
                        ready = []
                    else:
                        confirming, ahead = await self._go_out([a.due for a in ready])
            if confirming is not None:
                if ahead is not None:
                    # A broker confirms in order: this batch's time starts once the
                    # batch ahead of it is settled (its own deadline bounds the wait),
                    # so a slow broker does not time out the batches queued behind.
                    await asyncio.wait({ahead})
                async with asyncio.timeout(self._timeout):
                    results = await confirming
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
        finally:
            self._sending -= 1
        elapsed = int((time.perf_counter() - started) * 1000)
        for a in attempts:
            a.duration_ms = elapsed
        if failed:
            self._failed = True
            await self._drop()
        if not self._sending:
            self._failed = False  # the pipeline is empty: the next batch starts afresh
        return attempts

    async def _go_out(self, dues: list[Due]) -> tuple[_Confirming, _Confirming | None]:
        """Put ``dues`` on the connection (holding ``_issuing``): their confirmations,
        and those of the batch ahead of them if not settled yet."""
        if self._changed:
            # The destination changed: the batches out on the old connection are
            # confirmed (or fail) before it goes.
            if self._confirming:
                await asyncio.wait(self._confirming)
            self._changed = False
            await self._drop()
        await self._open()
        confirming = asyncio.ensure_future(settle(await self._issue(dues)))
        self._confirming.add(confirming)
        confirming.add_done_callback(self._confirming.discard)
        ahead, self._last = self._last, confirming
        return confirming, ahead if ahead is not None and not ahead.done() else None

    @abstractmethod
    async def _open(self) -> None:
        """Connect, unless connected."""

    @abstractmethod
    async def _issue(self, dues: list[Due]) -> list[Awaitable[object]]:
        """Put ``dues`` on the open connection in this order, before any batch issued
        after them; one awaitable confirmation each (an error for one refused)."""

    @abstractmethod
    async def _drop(self) -> None: ...

    async def aclose(self) -> None:
        await self._drop()


async def settle(pending: Sequence[Awaitable[object]]) -> list[BaseException | None]:
    """Await every confirmation; None for each one confirmed, else its error."""
    results = await asyncio.gather(*pending, return_exceptions=True)
    return [r if isinstance(r, BaseException) else None for r in results]


def retrieved(confirmation: asyncio.Future[Any]) -> None:
    """A done callback for a confirmation nobody may await (its batch ran out of time
    while going out): its error is the batch's, told already; not asyncio's to log."""
    if not confirmation.cancelled():
        confirmation.exception()


async def quietly(close: Callable[[], Awaitable[object]]) -> None:
    """Close a connection that may already be broken: its error says nothing new."""
    with contextlib.suppress(Exception):
        await close()
