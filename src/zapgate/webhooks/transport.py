"""How a destination's deliveries leave the worker: the transport of one destination.

Webhooks and event exports share everything between an event committed and an outcome
recorded (fan-out, claims, outcomes, retries, retention, the worker loop); only the
last step differs. A ``Transport`` takes claimed deliveries and answers one ``Attempt``
each: ``HttpTransport`` POSTs one signed request per delivery; the broker transports of
``zapgate.exports`` publish a batch in order and wait for the broker's confirmation.
The runtime hands the dispatcher a ``TransportFactory`` that picks one by ``kind``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from zapgate import __version__
from zapgate.webhooks.attempts import Attempt, attempt
from zapgate.webhooks.bodies import BodyFormatter
from zapgate.webhooks.claims import Due
from zapgate.webhooks.client import WebhookClient

KIND_HTTP = "http"


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    organization_id: str
    url: str
    secret: str
    ordered: bool = False
    """One claim in flight at a time, in event id order (``Transport.batch`` rows)."""
    kind: str = KIND_HTTP
    exchange: str | None = None
    stream: str | None = None
    subject_prefix: str | None = None
    format: str = "zapgate"
    """The body's format for ``http`` endpoints (see ``bodies.BodyFormatter``)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Settings of the body ``format``."""


class Transport(Protocol):
    @property
    def batch(self) -> int:
        """Most deliveries an ordered claim hands to one ``send``, in event id order."""
        ...

    @property
    def depth(self) -> int:
        """Ordered batches an endpoint keeps in flight at once. 1 is stop-and-wait: the
        next claim waits for the last outcomes' commit. More is a pipeline, for a
        transport whose ``send`` calls, started one after the other, put their
        deliveries on the wire in that order, and which never publishes a batch started
        after an earlier one of the same pipeline failed (it answers ``held``
        attempts instead)."""
        ...

    async def send(self, dues: Sequence[Due], *, now: datetime) -> list[Attempt]:
        """One attempt per delivery, in the same order; never raises for a failed
        delivery (that is an attempt with an ``error``)."""
        ...

    def update(self, endpoint: Endpoint) -> None:
        """The destination changed: use the new settings from the next ``send``."""
        ...

    async def aclose(self) -> None: ...


TransportFactory = Callable[[Endpoint], Transport]


class HttpTransport:
    """Webhooks: one signed POST per delivery, through a client that connects only to
    addresses it checked (``client``, ``urls``)."""

    batch = 1
    depth = 1

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float,
        concurrency: int,
        allow_private: bool,
        formats: Mapping[str, BodyFormatter] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._formats = formats or {}
        self._timeout = timeout
        self._client = WebhookClient(
            user_agent=f"zapgate-webhooks/{__version__}",
            max_idle=concurrency,
            allow_private=allow_private,
        )

    async def send(self, dues: Sequence[Due], *, now: datetime) -> list[Attempt]:
        return [await self._post(due, now) for due in dues]

    async def _post(self, due: Due, now: datetime) -> Attempt:
        url = self._endpoint.url
        formatter = self._formats.get(self._endpoint.format)
        if formatter is not None and due.body is not None:
            url, body = await formatter(due.body, url, self._endpoint.options)
            due = replace(due, body=body)
        return await attempt(
            self._client,
            due,
            url=url,
            secret=self._endpoint.secret,
            timeout=self._timeout,
            now=now,
        )

    def update(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    async def aclose(self) -> None:
        await self._client.aclose()
