"""Which webhook URLs zapgate may call.

A gateway that POSTs to any URL a tenant types is a door into the private network it
runs in (metadata services, databases, the admin panel on localhost). So the host is
resolved and every address it resolves to must be public, unless the operator opts in
with ``ZAPGATE_WEBHOOK_ALLOW_PRIVATE=true`` (local development, receivers on a LAN).
The check runs when a webhook is saved, and again each time the delivery client opens a
connection (``checked_addresses``), since DNS answers can change after the URL was
accepted; the client then connects to one of the addresses it checked, never to a
second answer for the same name (DNS rebinding).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from zapgate.domain.errors import Invalid
from zapgate.util.resolve import Resolver, first_private, system_resolver

MAX_URL_LENGTH = 2000


class UrlRefused(Invalid):
    """A webhook URL that zapgate will not call; ``code`` says why."""


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


async def checked_addresses(
    host: str, port: int, *, allow_private: bool, resolver: Resolver = system_resolver
) -> list[str]:
    """Every address ``host`` resolves to, each one allowed; UrlRefused when one is not.

    Empty when the name does not resolve. One answer is checked as a whole: a name that
    resolves to a public and a private address is refused, since the client could have
    picked either.
    """
    addresses = await resolver(host, port)
    private = None if allow_private else first_private(addresses)
    if private is not None:
        raise UrlRefused(
            f"url resolves to a private or loopback address ({private}); set "
            "ZAPGATE_WEBHOOK_ALLOW_PRIVATE=true to allow it",
            code="url_not_allowed",
        )
    return addresses


async def check_url(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> str:
    """The URL if zapgate may call it; UrlRefused (a 422) otherwise.

    A name that does not resolve is accepted: it cannot be shown to be private, DNS may
    simply not exist yet, and the check runs again before every new connection.
    """
    _, host, port = parse_url(url)
    if not allow_private:
        await checked_addresses(host, port, allow_private=False, resolver=resolver)
    return url


def masked(url: str) -> str:
    """The URL with its password replaced by ``***`` (nothing else changes); a user
    with no password is masked whole, since for some schemes it is the credential
    itself (``nats://<token>@host``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    user, at, host = parts.netloc.rpartition("@")
    if not at or not user:
        return url
    name, colon, _ = user.partition(":")
    return urlunsplit(parts._replace(netloc=f"{name}:***@{host}" if colon else f"***@{host}"))
