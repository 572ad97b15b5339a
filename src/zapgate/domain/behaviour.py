"""How a connection behaves beyond linking: calls, presence, read receipts, what it
stores, how much history it imports and the proxy it dials through.

Set per connection (``PATCH /connections/{id}``), stored on its row and handed to the
engine in its session spec; a change reaches a running session at once, except the
proxy and ``sync_history``, which take effect on the next connect or link.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import SplitResult, urlsplit

from zapgate.domain.errors import Invalid

STATUS_BROADCAST = "status@broadcast"
"""The chat WhatsApp posts status updates ("stories") to."""

PROXY_SCHEMES = ("http", "https", "socks5")
MAX_PROXY_URL = 2048


class SyncHistory(StrEnum):
    """How much of the phone's history a new link imports."""

    NONE = "none"
    """Nothing: history the phone sends is dropped."""
    RECENT = "recent"
    """What the phone offers by default (about the last three months)."""
    FULL = "full"
    """Everything the phone keeps (asked for when linking; the phone may still cap it)."""


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What the engine and the session's runner need of a connection's settings."""

    reject_calls: bool = False
    always_online: bool = False
    auto_read: bool = False
    ignore_groups: bool = False
    ignore_status: bool = False
    sync_history: SyncHistory = SyncHistory.RECENT
    proxy_url: str | None = None
    proxy_problem: str | None = None
    """Why the stored proxy cannot be used (it does not decrypt): the session is not
    opened, since dialing without it would show the server's own address."""


def check_proxy_url(value: str) -> str:
    """``value`` if it is a usable proxy URL (``http``, ``https`` or ``socks5``, a host,
    an optional port and credentials, nothing else); raises ``invalid_proxy_url``."""
    url = value.strip()

    def bad(why: str) -> Invalid:
        return Invalid(f"proxy_url {why}", code="invalid_proxy_url")

    if not url or len(url) > MAX_PROXY_URL:
        raise bad(f"must have 1 to {MAX_PROXY_URL} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise bad("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise bad(f"is not a valid URL ({exc})") from exc
    if parts.scheme.lower() not in PROXY_SCHEMES:
        raise bad("must start with http://, https:// or socks5://")
    if not parts.hostname:
        raise bad("must name a host")
    if port == 0:
        raise bad("must not use port 0")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad("must be only scheme, credentials, host and port")
    if parts.password is not None and not parts.username:
        raise bad("has a password without a user name")
    return url


def mask_proxy_url(url: str | None) -> str | None:
    """The proxy URL as answered: the password replaced by ``***``, the rest kept."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=f"{parts.username}:***@{_host_port(parts)}").geturl()


def proxy_display(url: str) -> str:
    """Scheme, host and port only: what error messages and logs may show."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{_host_port(parts)}"


def _host_port(parts: SplitResult) -> str:
    return parts.netloc.rpartition("@")[2]
