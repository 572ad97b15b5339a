"""Fetching ``media.url`` for a send, without becoming an SSRF proxy.

The server fetches the URL on behalf of an API client, so the URL could aim at the
server's own network (``127.0.0.1:5432``, the cloud metadata service at
``169.254.169.254``, an office printer). Every address the host resolves to must be
public unless ``ZAPGATE_MEDIA_FETCH_ALLOW_PRIVATE`` says otherwise, and the request goes
to one of exactly those addresses: httpx is given the address, with the name in the
``Host`` header and as the TLS server name (SNI and certificate verification), so it
never resolves the name a second time, when a rebinding DNS server could answer
``127.0.0.1``. Redirects are followed by hand so each hop is resolved and checked the
same way; the body is read in chunks and abandoned past the size limit, and the whole
fetch, redirects included, must end within the timeout (httpx's own timeouts are per
read, which a server trickling bytes never trips).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import unquote

import httpx

from zapgate.domain.errors import Invalid, PayloadTooLarge
from zapgate.domain.text import without_nul
from zapgate.util.resolve import Resolver, first_private, system_resolver

MAX_REDIRECTS = 3


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    mimetype: str | None
    filename: str | None


class MediaFetcher:
    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._timeout = timeout
        self._allow_private = allow_private
        self._transport = transport
        self._resolver = resolver

    async def _addresses(self, url: httpx.URL) -> list[str]:
        """Where ``url`` may be fetched from: every address its host resolves to, checked."""
        if url.scheme not in ("http", "https"):
            raise Invalid("media.url must be an http(s) URL", code="invalid_url")
        host = url.raw_host.decode("ascii")
        if not host:
            raise Invalid("media.url has no host", code="invalid_url")
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await self._resolver(host, port)
        if not addresses:
            raise Invalid(f"media.url host {url.host!r} does not resolve", code="invalid_url")
        if not self._allow_private and first_private(addresses) is not None:
            raise Invalid(
                "media.url points at a private, loopback or link-local address",
                code="url_not_allowed",
            )
        return addresses

    async def fetch(self, raw_url: str, *, max_bytes: int) -> Fetched:
        try:
            url = httpx.URL(raw_url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise Invalid("media.url is not a valid URL", code="invalid_url") from exc
        try:
            async with asyncio.timeout(self._timeout):
                return await self._fetch(url, max_bytes)
        except TimeoutError as exc:
            raise Invalid(
                f"media.url took longer than {self._timeout:g} s to fetch",
                code="media_fetch_timeout",
                details={"timeout": self._timeout},
            ) from exc

    async def _fetch(self, url: httpx.URL, max_bytes: int) -> Fetched:
        # No proxies from the environment: a proxy would resolve the name again (and
        # httpcore's tunnel ignores the pinned server name), undoing the address check.
        async with httpx.AsyncClient(
            timeout=self._timeout,
            follow_redirects=False,
            transport=self._transport,
            trust_env=False,
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                addresses = await self._addresses(url)
                try:
                    response = await _open(client, url, addresses, self._timeout)
                    try:
                        if response.is_redirect and "location" in response.headers:
                            url = url.join(response.headers["location"])
                            continue
                        return await _read(response, url, max_bytes)
                    finally:
                        await response.aclose()
                except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL: a bad Location
                    raise Invalid(
                        f"media.url could not be fetched: {type(exc).__name__}",
                        code="media_fetch_failed",
                    ) from exc
        raise Invalid("media.url redirects too many times", code="media_fetch_failed")


async def _open(
    client: httpx.AsyncClient, url: httpx.URL, addresses: list[str], timeout: float
) -> httpx.Response:
    """The response headers of ``GET url`` from the first of ``addresses`` that accepts a
    connection, in the resolver's order (as httpx would have tried them). Each address
    gets its share of ``timeout`` to connect, so one that drops packets (a broken IPv6
    route, say) leaves time for the next."""
    headers = {
        "Host": url.netloc.decode("ascii"),
        # A connection per hop: httpx pools connections by address, and one opened (and
        # its certificate verified) for one name must not carry the next hop's request
        # for another name that resolves to the same address.
        "Connection": "close",
    }
    extensions = {"sni_hostname": url.raw_host.decode("ascii")}
    limits = httpx.Timeout(timeout, connect=timeout / len(addresses))
    failure: httpx.ConnectError | httpx.ConnectTimeout | None = None
    for address in addresses:
        request = client.build_request(
            "GET",
            url.copy_with(host=address),
            headers=headers,
            extensions=extensions,
            timeout=limits,
        )
        try:
            return await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            failure = exc
    assert failure is not None  # addresses is never empty
    raise failure


async def _read(response: httpx.Response, url: httpx.URL, max_bytes: int) -> Fetched:
    if response.status_code != 200:
        raise Invalid(f"media.url answered HTTP {response.status_code}", code="media_fetch_failed")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    mimetype = response.headers.get("content-type", "").split(";")[0]
    # The file name comes from a URL (maybe a redirect's): "%00" would store a NUL.
    name = without_nul(unquote(url.path.rsplit("/", 1)[-1])) or None
    return Fetched(b"".join(chunks), mimetype.strip() or None, name)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"media is larger than {limit} bytes", code="media_too_large", details={"limit": limit}
    )
