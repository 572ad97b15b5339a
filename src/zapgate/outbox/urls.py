"""Which webhook URLs zapgate may call.

A gateway that POSTs to any URL a tenant types is a door into the private network it
runs in (metadata services, databases, the admin panel on localhost). So the host is
resolved and every address it resolves to must be public, unless the operator opts in
with ``ZAPGATE_WEBHOOK_ALLOW_PRIVATE=true`` (local development, receivers on a LAN).
The check runs when a webhook is saved and again before deliveries, since DNS answers
can change after the URL was accepted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from zapgate.domain.errors import Invalid

MAX_URL_LENGTH = 2000


class UrlRefused(Invalid):
    """A webhook URL that zapgate will not call; ``code`` says why."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def parse_url(url: str) -> tuple[str, str, int]:
    """Syntax only: ``(scheme, host, port)`` of an absolute http(s) URL, or UrlRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"url must have at most {MAX_URL_LENGTH} characters", code="invalid_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"url is not valid: {exc}", code="invalid_url") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("url must start with http:// or https://", code="invalid_url")
    host = parts.hostname
    if not host:
        raise UrlRefused("url has no host", code="invalid_url")
    if parts.username or parts.password:
        raise UrlRefused("url must not carry credentials", code="invalid_url")
    return scheme, host, port or (443 if scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to; empty when it does not resolve (yet)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


async def check_url(url: str, *, allow_private: bool) -> str:
    """The URL if zapgate may call it; UrlRefused (a 422) otherwise.

    A name that does not resolve is accepted: it cannot be shown to be private, DNS may
    simply not exist yet, and the check runs again before every round of deliveries.
    """
    _, host, port = parse_url(url)
    if allow_private:
        return url
    for address in await resolve(host, port):
        if not _public(address):
            raise UrlRefused(
                f"url resolves to a private or loopback address ({address}); set "
                "ZAPGATE_WEBHOOK_ALLOW_PRIVATE=true to allow it",
                code="url_not_allowed",
            )
    return url
