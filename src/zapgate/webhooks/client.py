"""A small HTTP/1.1 client for webhook POSTs: keep-alive connections, nothing else.

httpx cost about 3 ms of CPU per request here (its connection pool checks every pooled
connection for readability on each request), which capped one process at a few hundred
deliveries a second. A webhook POST needs none of what that machinery is for (redirects
are refused, no cookies, no HTTP/2, no proxies), so this sends the request bytes itself
and parses the answer with ``httptools`` (llhttp, the parser uvicorn already uses to
serve our API): about 0.2 ms per request.

Only the status code and the first bytes of the body are kept. ``post`` sets one
deadline for the whole exchange: connecting (lookup, address check, TCP and TLS) runs
in an ``asyncio.timeout_at`` scope, and the answer is awaited under a bare loop timer
that fails it at that same deadline (a timeout scope per request cost several times
more). A request that is cut short closes its connection, so a late answer can never
be read as the next one's.

A new connection resolves the host once, checks every address (``urls.checked_addresses``)
and connects to one of those addresses, keeping the name for TLS (SNI and certificate
verification): the name is never handed to the loop to resolve again, where a rebinding
DNS server could answer ``127.0.0.1`` the second time.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, urlsplit

import httptools

from zapgate.util.resolve import Resolver, system_resolver
from zapgate.webhooks.urls import UrlRefused, checked_addresses

EXCERPT_BYTES = 1024
DRAIN_LIMIT = 64 * 1024
"""A longer answer is not read to its end: its connection is closed instead of reused."""
KEEPALIVE_SECONDS = 5.0
"""An idle connection older than this is closed rather than reused (servers drop them)."""

_SAFE_TARGET = "/?#[]@!$&'()*+,;=:%-._~"


class PostError(Exception):
    """The request got no complete HTTP answer (connect, TLS, protocol or peer closed)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    excerpt: bytes


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str
    port: int
    authority: str
    path: str


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host:
        raise PostError(f"not an http(s) URL: {url!r}")
    if parts.username or parts.password:
        raise PostError("URL must not carry credentials")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    name = host.encode("idna").decode("ascii") if not host.isascii() else host
    shown = f"[{name}]" if ":" in name else name
    authority = shown if port == default else f"{shown}:{port}"
    path = quote(parts.path or "/", safe=_SAFE_TARGET)
    if parts.query:
        path += "?" + quote(parts.query, safe=_SAFE_TARGET)
    return _Target(scheme, name, port, authority, path)


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = time.monotonic()
        self._answer: asyncio.Future[Answer] | None = None
        self._status = 0
        self._excerpt = bytearray()
        self._received = 0
        self.got_bytes = False

    # ---- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports do not subclass asyncio's.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # bytes nobody asked for: the stream is out of step
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(reusable=False)
        except httptools.HttpParserError as exc:
            self._fail(PostError(f"invalid HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._answer is None or self._answer.done():
            return
        if self._status >= 200:
            # An answer without a length ends when the peer closes.
            self._answer.set_result(Answer(self._status, bytes(self._excerpt)))
        else:
            self._answer.set_exception(PostError(f"connection closed: {exc or 'by peer'}"))

    # ---- httptools callbacks

    def on_headers_complete(self) -> None:
        self._status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        room = EXCERPT_BYTES - len(self._excerpt)
        if room > 0:
            self._excerpt += body[:room]
        self._received += len(body)
        if self._received > DRAIN_LIMIT:
            self._finish(reusable=False)

    def on_message_complete(self) -> None:
        if self._status < 200:  # 1xx interim answer: the real one follows
            self._status = 0
            self._excerpt.clear()
            return
        self._finish(reusable=self.parser.should_keep_alive())

    # ----

    def _finish(self, *, reusable: bool) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(Answer(self._status, bytes(self._excerpt)))
        if not reusable:
            self.close()

    def _fail(self, exc: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _expire(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(TimeoutError())
        self.close()

    async def exchange(self, request: bytes, deadline: float | None) -> Answer:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        self._status = 0
        self._excerpt.clear()
        self._received = 0
        self.got_bytes = False
        self.transport.write(request)
        # A bare timer on the answer: ``asyncio.timeout`` costs several times more
        # (task bookkeeping), and it ran once per request.
        timer = None if deadline is None else loop.call_at(deadline, self._expire)
        try:
            answer = await self._answer
        finally:
            if timer is not None:
                timer.cancel()
        self._answer = None
        self.idle_since = time.monotonic()
        return answer


class WebhookClient:
    """Keep-alive connections per origin, at most ``max_idle`` kept for reuse.

    ``allow_private`` lets connections go to private and loopback addresses
    (``ZAPGATE_WEBHOOK_ALLOW_PRIVATE``); ``tls`` replaces the system's trust store.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        max_idle: int,
        allow_private: bool,
        resolver: Resolver = system_resolver,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._user_agent = user_agent
        self._max_idle = max_idle
        self._allow_private = allow_private
        self._resolver = resolver
        # Idle connections are keyed by the URL's host, not by address, and reused with no
        # new lookup. That cannot bypass the address check: a TCP connection stays with
        # the address it was opened to, which was checked then, so a DNS answer that
        # changes later (rebinding included) only ever reaches new connections, and each
        # of those is checked. An idle connection lives at most KEEPALIVE_SECONDS, so a
        # receiver that really moved is followed within seconds.
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._tls = tls
        self._targets: dict[str, tuple[_Target, str]] = {}
        """Parsed URL and the request's first lines, per URL (a worker posts to one)."""

    def _prepared(self, url: str) -> tuple[_Target, str]:
        found = self._targets.get(url)
        if found is None:
            target = _target(url)
            head = (
                f"POST {target.path} HTTP/1.1\r\nHost: {target.authority}\r\n"
                f"User-Agent: {self._user_agent}\r\n"
            )
            if len(self._targets) >= 8:  # the URL changed: forget the old ones
                self._targets.clear()
            found = self._targets[url] = (target, head)
        return found

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float | None = None
    ) -> Answer:
        """POST ``body``; ``TimeoutError`` when the whole exchange, connecting included,
        takes longer than ``timeout`` seconds (a receiver trickling its answer must not
        hold a slot forever)."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        target, head = self._prepared(url)
        lines = [
            f"{head}Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        key = (target.scheme, target.host, target.port)
        conn = self._take_idle(key)
        if conn is not None:
            try:
                return await self._use(conn, key, request, deadline)
            except PostError:
                # The server closed an idle connection as we wrote on it; only when it
                # answered nothing at all is it safe to say the request never arrived.
                if conn.got_bytes:
                    raise
        return await self._use(await self._connect(target, deadline), key, request, deadline)

    async def _use(
        self, conn: _Connection, key: tuple[str, str, int], request: bytes, deadline: float | None
    ) -> Answer:
        try:
            answer = await conn.exchange(request, deadline)
        except BaseException:
            conn.close()  # cancelled (deadline) or failed: never reuse a half-read stream
            raise
        if not conn.closed:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._max_idle:
                idle.append(conn)
            else:
                conn.close()
        return answer

    def _take_idle(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < KEEPALIVE_SECONDS:
                return conn
            conn.close()
        return None

    async def _connect(self, target: _Target, deadline: float | None) -> _Connection:
        tls: ssl.SSLContext | None = None
        if target.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        async with asyncio.timeout_at(deadline):
            try:
                addresses = await checked_addresses(
                    target.host,
                    target.port,
                    allow_private=self._allow_private,
                    resolver=self._resolver,
                )
            except UrlRefused as exc:
                raise PostError(exc.message) from exc
            if not addresses:
                raise PostError(f"{target.host} does not resolve")
            return await _open(addresses, target, tls)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


async def _open(addresses: list[str], target: _Target, tls: ssl.SSLContext | None) -> _Connection:
    """A connection to the first of ``addresses`` that accepts one, in order, as the
    loop would have tried them; TLS is verified against the name, not the address."""
    loop = asyncio.get_running_loop()
    failures: list[str] = []
    for address in addresses:
        try:
            _, conn = await loop.create_connection(
                _Connection,
                address,
                target.port,
                ssl=tls,
                server_hostname=target.host if tls is not None else None,
            )
        except TimeoutError:
            raise  # an OSError too, but the caller's deadline, not a connection failure
        except ssl.SSLError as exc:  # the server answered: another address won't help
            raise PostError(f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            continue
        return conn
    raise PostError("; ".join(failures))
