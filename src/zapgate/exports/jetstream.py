"""NATS JetStream through nats-py: every publish waits for the stream's acknowledgement.

The stream is created when missing, capturing ``<subject_prefix>.>``; an existing one
is used as it is (a subject it does not capture fails with the server's words). The
event id travels as ``Nats-Msg-Id``, so JetStream drops a copy published again within
its duplicate window (a retry after a lost acknowledgement); ``Zapgate-Delivery`` and
``Zapgate-Event`` headers carry the delivery id and event type.
"""

from __future__ import annotations

from collections.abc import Awaitable

import nats
from nats.aio.client import Client
from nats.errors import NoServersError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from zapgate.exports.publishing import BrokerTransport, log, quietly, retrieved
from zapgate.webhooks.claims import Due


class JetStreamTransport(BrokerTransport):
    _client: Client | None = None
    _js: JetStreamContext | None = None

    _cause: Exception | None = None

    async def _on_error(self, exc: Exception) -> None:
        # A broken connection is reported by the publish it breaks (delivery log,
        # readiness); the library's own callback would log every one as an error.
        self._cause = exc
        log.debug("nats connection error", extra={"export_id": self.endpoint.id, "error": exc})

    async def _connect(self, url: str) -> Client:
        self._cause = None
        try:
            # nats-py tries a server until it has failed more than
            # ``max_reconnect_attempts`` times (0 meaning forever): two quick tries,
            # then "no servers", for which the reason is the last error seen.
            return await nats.connect(
                servers=[url],
                connect_timeout=max(1, int(self._timeout)),
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                error_cb=self._on_error,
            )
        except NoServersError as exc:
            if self._cause is not None:
                raise self._cause from exc
            raise

    async def _open(self) -> None:
        client = self._client
        if self._js is not None and client is not None and client.is_connected:
            return
        await self._drop()
        self._client = await self._connect(await self.broker_url())
        js = self._client.jetstream(timeout=self._timeout)
        stream = self.endpoint.stream or ""
        try:
            await js.stream_info(stream)
        except NotFoundError:
            await js.add_stream(name=stream, subjects=[f"{self.prefix}.>"])
        self._js = js

    async def _issue(self, dues: list[Due]) -> list[Awaitable[object]]:
        js = self._js
        assert js is not None  # opened by ``_open``
        # Each publish is written to the client's buffer before the next one starts;
        # its acknowledgement is a future of its own.
        pending: list[Awaitable[object]] = []
        for due in dues:
            assert due.body is not None  # only deliveries with a body are published
            headers = {
                "Nats-Msg-Id": str(due.event_id),
                "Zapgate-Delivery": due.id,
                "Zapgate-Event": due.event_type,
            }
            future = await js.publish_async(
                self.key(due), due.body, headers=headers, stream=self.endpoint.stream
            )
            future.add_done_callback(retrieved)
            pending.append(future)
        return pending

    async def _drop(self) -> None:
        client = self._client
        self._client = None
        self._js = None
        if client is not None:
            await quietly(client.close)
