"""Resolving a host once, for code that connects where a URL someone else typed points.

Checking where a name resolves and then handing the name to a client that resolves it
again is a DNS rebinding hole: the second answer (``127.0.0.1``, ``169.254.169.254``)
is never checked. So the callers (media fetch, webhook delivery) resolve with a
``Resolver``, check every address it answers with ``is_public``, and connect to one of
exactly those addresses. The resolver is a parameter so tests can script its answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port)`` to addresses, best first; empty when the name does not resolve."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer (``getaddrinfo``), in its order of preference, without repeats."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: str) -> bool:
    """True for a globally routable unicast address; False for loopback, private,
    link-local, shared (CGNAT), multicast, reserved and unspecified ones, IPv4-mapped
    IPv6 forms of them included."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.is_site_local:  # deprecated fec0::/10, still routed on some LANs
            return False
    return ip.is_global and not (
        ip.is_multicast or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified
    )


def first_private(addresses: Iterable[str]) -> str | None:
    """The first address that is not public, or None when all of them are."""
    return next((a for a in addresses if not is_public(a)), None)
