"""Broker URLs and where an event is published.

A broker URL carries the credentials (``amqp://user:password@host/vhost``), so it is
never shown whole: answers mask its password (``util/urls.masked``: ``***``). Like webhook
URLs, the host must resolve to public addresses unless the operator allows private
ones (``ZAPGATE_WEBHOOK_ALLOW_PRIVATE``), checked when saved and before each connection.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from zapgate.util.resolve import Resolver, system_resolver
from zapgate.webhooks.urls import MAX_URL_LENGTH, UrlRefused, checked_addresses

KIND_RABBITMQ = "rabbitmq"
KIND_NATS = "nats"
KINDS = frozenset({KIND_RABBITMQ, KIND_NATS})

_SCHEMES = {KIND_RABBITMQ: {"amqp": 5672, "amqps": 5671}, KIND_NATS: {"nats": 4222, "tls": 4222}}
DEFAULT_PREFIX = "zapgate"
NO_CONNECTION = "none"
"""The routing key's connection token for events of no connection (``webhook.disabled``)."""


def parse_broker_url(kind: str, url: str) -> tuple[str, int]:
    """Syntax only: ``(host, port)`` of a broker URL of this kind, or UrlRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"url must have at most {MAX_URL_LENGTH} characters", code="invalid_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"url is not valid: {exc}", code="invalid_url") from exc
    schemes = _SCHEMES[kind]
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise UrlRefused(f"a {kind} url must start with {allowed}", code="invalid_url")
    if not parts.hostname:
        raise UrlRefused("url has no host", code="invalid_url")
    return parts.hostname, port or schemes[scheme]


async def check_broker_url(
    kind: str, url: str, *, allow_private: bool, resolver: Resolver = system_resolver
) -> str:
    """The URL if zapgate may connect to it; UrlRefused (a 422) otherwise."""
    host, port = parse_broker_url(kind, url)
    if not allow_private:
        await checked_addresses(host, port, allow_private=False, resolver=resolver)
    return url


def routing_key(prefix: str, organization_id: str, connection_id: str | None, event: str) -> str:
    """``<prefix>.<organization>.<connection or "none">.<event type>``: consumers bind
    to what they need (``zapgate.*.*.message.received``, ``zapgate.<org>.#``)."""
    return f"{prefix}.{organization_id}.{connection_id or NO_CONNECTION}.{event}"


def describe(exc: BaseException) -> str:
    """A delivery-log line for a broker error: its kind and the broker's words."""
    text = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {text}"[:500]
