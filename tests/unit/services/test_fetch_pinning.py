"""media.url fetches connect to the address that was checked, and end on time.

The servers are real (loopback addresses, so those tests allow private addresses); the
DNS is scripted to answer differently on each lookup, as a rebinding attacker's does.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.unit.netkit import LoopbackServer, ScriptedDns, fixed, tls_pair
from zapgate.domain.errors import Invalid
from zapgate.services.fetch import MediaFetcher

PUBLIC = "93.184.215.14"
OK = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 6\r\n\r\n"


@pytest.fixture
async def servers() -> AsyncIterator[tuple[LoopbackServer, LoopbackServer]]:
    """Two servers on one port: 127.0.0.1 (the address checked) and 127.0.0.2 (the
    rebound one), each answering with its own name."""
    first = await LoopbackServer(fixed(OK + b"first!")).start("127.0.0.1")
    second = await LoopbackServer(fixed(OK + b"second")).start("127.0.0.2", first.port)
    yield first, second
    await first.stop()
    await second.stop()


async def test_the_request_goes_to_the_address_resolved_once(
    servers: tuple[LoopbackServer, LoopbackServer],
) -> None:
    first, second = servers
    dns = ScriptedDns({"media.test": [["127.0.0.1"], ["127.0.0.2"]]})
    fetcher = MediaFetcher(timeout=5, allow_private=True, resolver=dns)
    fetched = await fetcher.fetch(f"http://media.test:{first.port}/pic.png", max_bytes=100)
    assert (fetched.data, fetched.mimetype, fetched.filename) == (b"first!", "image/png", "pic.png")
    assert dns.lookups == ["media.test"]
    assert second.connections == 0
    [(address, request)] = first.requests
    assert address == "127.0.0.1"
    assert f"\r\nhost: media.test:{first.port}\r\n".encode() in request.lower()


async def test_each_redirect_hop_is_resolved_and_pinned(
    servers: tuple[LoopbackServer, LoopbackServer],
) -> None:
    first, second = servers
    first.reply = fixed(
        f"HTTP/1.1 302 Found\r\nLocation: http://cdn.test:{first.port}/b.png\r\n"
        "Content-Length: 0\r\n\r\n".encode()
    )
    dns = ScriptedDns({"media.test": [["127.0.0.1"]], "cdn.test": [["127.0.0.2"], ["127.0.0.1"]]})
    fetcher = MediaFetcher(timeout=5, allow_private=True, resolver=dns)
    fetched = await fetcher.fetch(f"http://media.test:{first.port}/a.png", max_bytes=100)
    assert (fetched.data, fetched.filename) == (b"second", "b.png")
    assert dns.lookups == ["media.test", "cdn.test"]
    [(address, request)] = second.requests
    assert address == "127.0.0.2"
    assert f"\r\nhost: cdn.test:{first.port}\r\n".encode() in request.lower()


async def test_a_rebinding_name_is_fetched_from_its_checked_public_address() -> None:
    """Private addresses refused: the name first resolves to a public address, then to
    127.0.0.1. The request must go to the public one; no local server can stand for a
    public address, so httpx's own stand-in transport records where it would go."""
    seen: list[httpx.Request] = []

    def network(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"public")

    dns = ScriptedDns({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    fetcher = MediaFetcher(
        timeout=5, allow_private=False, resolver=dns, transport=httpx.MockTransport(network)
    )
    fetched = await fetcher.fetch("https://rebind.test/x.jpg", max_bytes=100)
    assert fetched.data == b"public"
    assert dns.lookups == ["rebind.test"]
    [request] = seen
    assert request.url.host == PUBLIC
    assert request.headers["host"] == "rebind.test"
    assert request.extensions["sni_hostname"] == "rebind.test"


@pytest.mark.parametrize("answer", [["127.0.0.1"], [PUBLIC, "169.254.169.254"], ["::1"]])
async def test_a_private_answer_is_refused_before_connecting(
    servers: tuple[LoopbackServer, LoopbackServer], answer: list[str]
) -> None:
    first, _ = servers
    dns = ScriptedDns({"media.test": [answer]})
    fetcher = MediaFetcher(timeout=5, allow_private=False, resolver=dns)
    with pytest.raises(Invalid) as refused:
        await fetcher.fetch(f"http://media.test:{first.port}/x", max_bytes=100)
    assert refused.value.code == "url_not_allowed"
    assert first.connections == 0


async def test_tls_is_verified_against_the_name_not_the_address(tmp_path: Path) -> None:
    server_tls, client_tls = tls_pair(tmp_path, "media.test")
    server = await LoopbackServer(fixed(OK + b"secure")).start("127.0.0.1", tls=server_tls)
    # Both names resolve to the address the certificate's server listens on; only the
    # name the certificate is for may be fetched.
    dns = ScriptedDns({"media.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    fetcher = MediaFetcher(
        timeout=5,
        allow_private=True,
        resolver=dns,
        transport=httpx.AsyncHTTPTransport(verify=client_tls),
    )
    try:
        fetched = await fetcher.fetch(f"https://media.test:{server.port}/s.png", max_bytes=100)
        assert fetched.data == b"secure"
        with pytest.raises(Invalid) as refused:
            await fetcher.fetch(f"https://other.test:{server.port}/s.png", max_bytes=100)
        assert refused.value.code == "media_fetch_failed"
    finally:
        await server.stop()
    assert len(server.requests) == 1


async def test_the_whole_fetch_has_one_deadline() -> None:
    """A server trickling a byte every 20 ms never trips a per-read timeout; the fetch
    must still end at its overall timeout, as a 4xx domain error."""
    release = asyncio.Event()

    async def trickle(_request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            writer.write(b"x")
            await writer.drain()
            try:
                await asyncio.wait_for(release.wait(), 0.02)
            except TimeoutError:
                continue
            return

    server = await LoopbackServer(trickle).start("127.0.0.1")
    fetcher = MediaFetcher(timeout=0.25, allow_private=True)  # the system's resolver
    try:
        with pytest.raises(Invalid) as late:
            await fetcher.fetch(f"http://127.0.0.1:{server.port}/x", max_bytes=1000)
    finally:
        release.set()
        await server.stop()
    assert late.value.code == "media_fetch_timeout"
    assert late.value.status == 422  # (without the deadline the 2 s trickle succeeds)


async def test_an_address_that_never_answers_leaves_time_for_the_next() -> None:
    """The first address drops connection attempts (a listener whose backlog is full, as
    a broken route looks); the second answers within what is left of the deadline."""
    silent = socket.socket()
    silent.bind(("127.0.0.3", 0))
    silent.listen(0)
    port = silent.getsockname()[1]
    filler = socket.create_connection(("127.0.0.3", port))  # fills the backlog
    server = await LoopbackServer(fixed(OK + b"second")).start("127.0.0.1", port)
    dns = ScriptedDns({"media.test": [["127.0.0.3", "127.0.0.1"]]})
    fetcher = MediaFetcher(timeout=2.0, allow_private=True, resolver=dns)
    try:
        fetched = await fetcher.fetch(f"http://media.test:{port}/pic.png", max_bytes=100)
    finally:
        await server.stop()
        filler.close()
        silent.close()
    assert fetched.data == b"second"
