"""Webhook connections go to the address that was checked, on asyncio's loop and uvloop.

The receivers are real servers on loopback addresses (so most tests allow private
addresses); the DNS is scripted to answer differently on each lookup, as a rebinding
attacker's does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import uvloop

from tests.unit.netkit import LoopbackServer, ScriptedDns, fixed, tls_pair
from zapgate.webhooks.client import PostError, WebhookClient

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _both_loops(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())
    uvloop.run(test())


def test_a_connection_goes_to_the_address_resolved_for_it() -> None:
    async def check() -> None:
        first = await LoopbackServer(fixed(OK)).start("127.0.0.1")
        second = await LoopbackServer(fixed(OK)).start("127.0.0.2", first.port)
        dns = ScriptedDns({"hook.test": [["127.0.0.1"], ["127.0.0.2"]]})
        http = WebhookClient(user_agent="t", max_idle=1, allow_private=True, resolver=dns)
        url = f"http://hook.test:{first.port}/in"
        try:
            for _ in range(2):
                assert (await http.post(url, b"{}", {})).status == 200
            # One lookup, one connection, to the first answer; the second answer was
            # never asked for, let alone connected to.
            assert (dns.lookups, first.connections, second.connections) == (["hook.test"], 1, 0)
            assert [address for address, _ in first.requests] == ["127.0.0.1"] * 2
            assert f"\r\nHost: hook.test:{first.port}\r\n".encode() in first.requests[0][1]
            # A new connection looks the name up again, and goes where that answer says.
            await http.aclose()
            assert (await http.post(url, b"{}", {})).status == 200
            assert (dns.lookups, second.connections) == (["hook.test"] * 2, 1)
        finally:
            await http.aclose()
            await first.stop()
            await second.stop()

    _both_loops(check)


@pytest.mark.parametrize(
    "answer", [["127.0.0.1"], ["93.184.215.14", "169.254.169.254"], ["::ffff:10.0.0.1"]]
)
def test_a_private_answer_is_refused_before_connecting(answer: list[str]) -> None:
    async def check() -> None:
        server = await LoopbackServer(fixed(OK)).start("127.0.0.1")
        dns = ScriptedDns({"hook.test": [answer]})
        http = WebhookClient(user_agent="t", max_idle=1, allow_private=False, resolver=dns)
        try:
            with pytest.raises(PostError, match="private or loopback address"):
                await http.post(f"http://hook.test:{server.port}/", b"{}", {})
        finally:
            await http.aclose()
            await server.stop()
        assert server.connections == 0

    _both_loops(check)


def test_addresses_are_tried_in_order_and_none_is_an_error() -> None:
    async def check() -> None:
        server = await LoopbackServer(fixed(OK)).start("127.0.0.1")
        # Nothing listens on 127.0.0.3: refused, then the next address answers.
        dns = ScriptedDns({"hook.test": [["127.0.0.3", "127.0.0.1"]]})
        http = WebhookClient(user_agent="t", max_idle=1, allow_private=True, resolver=dns)
        try:
            assert (await http.post(f"http://hook.test:{server.port}/", b"{}", {})).status == 200
            with pytest.raises(PostError, match="does not resolve"):
                await http.post(f"http://gone.test:{server.port}/", b"{}", {})
        finally:
            await http.aclose()
            await server.stop()
        assert [address for address, _ in server.requests] == ["127.0.0.1"]

    _both_loops(check)


def test_tls_is_verified_against_the_name_not_the_address(tmp_path: Path) -> None:
    server_tls, client_tls = tls_pair(tmp_path, "hook.test")

    async def check() -> None:
        server = await LoopbackServer(fixed(OK)).start("127.0.0.1", tls=server_tls)
        # Both names resolve to the server's address; the certificate is for one of them.
        dns = ScriptedDns({"hook.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
        http = WebhookClient(
            user_agent="t", max_idle=1, allow_private=True, resolver=dns, tls=client_tls
        )
        try:
            assert (await http.post(f"https://hook.test:{server.port}/", b"{}", {})).status == 200
            with pytest.raises(PostError, match="certificate"):
                await http.post(f"https://other.test:{server.port}/", b"{}", {})
        finally:
            await http.aclose()
            await server.stop()
        assert len(server.requests) == 1

    _both_loops(check)
