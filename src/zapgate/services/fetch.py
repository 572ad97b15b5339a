"""Fetching ``media.url`` for a send, without becoming an SSRF proxy.

The server fetches the URL on behalf of an API client, so the URL could aim at the
server's own network (``127.0.0.1:5432``, the cloud metadata service at
``169.254.169.254``, an office printer). Every address the host resolves to must be
public unless ``ZAPGATE_MEDIA_FETCH_ALLOW_PRIVATE`` says otherwise; redirects are
followed by hand so each hop is checked the same way; the body is read in chunks and
abandoned past the size limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import unquote

import httpx

from zapgate.domain.errors import Invalid, PayloadTooLarge

MAX_REDIRECTS = 3


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    mimetype: str | None
    filename: str | None


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


class MediaFetcher:
    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout = timeout
        self._allow_private = allow_private
        self._transport = transport

    async def _check_host(self, url: httpx.URL) -> None:
        if url.scheme not in ("http", "https"):
            raise Invalid("media.url must be an http(s) URL", code="invalid_url")
        host = url.host
        if not host:
            raise Invalid("media.url has no host", code="invalid_url")
        if self._allow_private:
            return
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise Invalid(f"media.url host {host!r} does not resolve", code="invalid_url") from exc
        addresses = {str(info[4][0]) for info in infos}
        if not addresses or not all(_public(a) for a in addresses):
            raise Invalid(
                "media.url points at a private, loopback or link-local address",
                code="url_not_allowed",
            )

    async def fetch(self, raw_url: str, *, max_bytes: int) -> Fetched:
        try:
            url = httpx.URL(raw_url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise Invalid("media.url is not a valid URL", code="invalid_url") from exc
        async with httpx.AsyncClient(
            timeout=self._timeout, follow_redirects=False, transport=self._transport
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                await self._check_host(url)
                try:
                    async with client.stream("GET", url) as response:
                        if response.is_redirect and "location" in response.headers:
                            url = url.join(response.headers["location"])
                            continue
                        if response.status_code != 200:
                            raise Invalid(
                                f"media.url answered HTTP {response.status_code}",
                                code="media_fetch_failed",
                            )
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
                        name = unquote(url.path.rsplit("/", 1)[-1]) or None
                        return Fetched(b"".join(chunks), mimetype.strip() or None, name)
                except httpx.HTTPError as exc:
                    raise Invalid(
                        f"media.url could not be fetched: {type(exc).__name__}",
                        code="media_fetch_failed",
                    ) from exc
        raise Invalid("media.url redirects too many times", code="media_fetch_failed")


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"media is larger than {limit} bytes", code="media_too_large", details={"limit": limit}
    )
