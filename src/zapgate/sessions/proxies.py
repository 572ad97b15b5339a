"""A connection's proxy URL at rest: sealed whole, shown masked.

The URL carries the proxy's credentials, which zapgate must present to the proxy and so
cannot hash. The row keeps it in two columns:

- ``proxy_url``: the URL with its password masked (``socks5://joao:***@host:1080``), the
  only form anything shows: API answers, ``connection.*`` events, the panel, logs.
- ``proxy_secret``: the whole URL sealed by ``util.secretbox`` for ``connection:<id>``
  (a value copied into another row does not open there).

The runner opens it just before handing the engine its session spec. A sealed URL this
server's key cannot open (``SECRET_KEY`` changed) never dials without the proxy: the
connection fails with ``proxy_unreadable`` and says to save the proxy again.
Rows saved before encryption (``proxy_url`` whole, no ``proxy_secret``) are read as they
are and sealed at the next start (``services.connections.ConnectionService.seal_stored``).
"""

from __future__ import annotations

from dataclasses import dataclass

from zapgate.domain.behaviour import mask_proxy_url
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.secretbox import SecretBox, SecretUnreadable

UNREADABLE = (
    "the proxy URL cannot be decrypted with this server's SECRET_KEY (the key changed "
    "since it was saved); save the connection's proxy_url again"
)


@dataclass(frozen=True, slots=True)
class OpenedProxy:
    url: str | None
    """The whole URL to dial through; None without a proxy or when it does not open."""
    problem: str | None = None
    """Why a stored proxy cannot be used (never the URL itself)."""


def context(connection_id: str) -> str:
    return f"connection:{connection_id}:proxy"


def store_proxy(row: ConnectionRow, url: str | None, box: SecretBox | None) -> None:
    """Keep ``url`` (checked already) on ``row``: masked in ``proxy_url``, sealed in
    ``proxy_secret``. Without a key (tests building a bare supervisor) it is kept whole."""
    if url is None:
        row.proxy_url = None
        row.proxy_secret = None
        return
    if box is None:
        row.proxy_url = url
        row.proxy_secret = None
        return
    row.proxy_url = mask_proxy_url(url)
    row.proxy_secret = box.seal(url, context=context(row.id))


def open_proxy(row: ConnectionRow, box: SecretBox | None) -> OpenedProxy:
    """The proxy ``row`` dials through."""
    if not row.proxy_secret:
        # No proxy, or a row saved before encryption (the whole URL, not yet sealed).
        return OpenedProxy(row.proxy_url)
    if box is None:
        return OpenedProxy(None, UNREADABLE)
    try:
        return OpenedProxy(box.open(row.proxy_secret, context=context(row.id)))
    except SecretUnreadable:
        return OpenedProxy(None, UNREADABLE)


def needs_sealing(row: ConnectionRow) -> bool:
    return bool(row.proxy_url) and not row.proxy_secret
