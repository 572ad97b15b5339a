"""A connection's behaviour settings through the API on the simulator: stored and
answered (the proxy's password masked), refused when wrong, and what each one does."""

from __future__ import annotations

from typing import Any

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API, create_connection, link, wait_state
from tests.integration.messaging.kit import drive, ready_connection, simulator
from zapgate.util.clock import ManualClock

ANA = "5511977770001"


def code(response: Any) -> str:
    return str(response.json()["error"]["code"])


async def patch(server: Server, h: dict[str, str], cid: str, **body: Any) -> Any:
    return await server.http.patch(f"{API}/connections/{cid}", headers=h, json=body)


async def activity(server: Server, h: dict[str, str], cid: str) -> dict[str, Any]:
    response = await server.http.get(f"{API}/simulator/connections/{cid}/activity", headers=h)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def incoming(server: Server, h: dict[str, str], cid: str, **body: Any) -> str:
    response = await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming", headers=h, json={"from": ANA, **body}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["wa_message_id"])


async def stored_texts(server: Server, h: dict[str, str]) -> list[str]:
    chats = (await server.http.get(f"{API}/chats", headers=h)).json()["items"]
    texts: list[str] = []
    for chat in chats:
        items = (await server.http.get(f"{API}/chats/{chat['id']}/messages", headers=h)).json()
        texts += [m["text"] for m in items["items"] if m["text"]]
    return sorted(texts)


async def test_settings_are_stored_answered_and_the_proxy_password_masked(
    server: Server, admin: dict[str, str]
) -> None:
    cid = (await create_connection(server.http, admin))["id"]
    fresh = (await server.http.get(f"{API}/connections/{cid}", headers=admin)).json()
    assert {k: fresh[k] for k in ("reject_calls", "sync_history", "proxy_url")} == {
        "reject_calls": False,
        "sync_history": "recent",
        "proxy_url": None,
    }
    response = await patch(
        server,
        admin,
        cid,
        reject_calls=True,
        reject_call_message="Não atendemos ligações",
        always_online=True,
        auto_read=True,
        ignore_groups=True,
        ignore_status=True,
        sync_history="full",
        proxy_url="socks5://joao:s3cr%40t@proxy.example:1080",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["proxy_url"] == "socks5://joao:***@proxy.example:1080"
    assert body["reject_call_message"] == "Não atendemos ligações"
    assert all(
        body[k]
        for k in ("reject_calls", "always_online", "auto_read", "ignore_groups", "ignore_status")
    )
    again = (await server.http.get(f"{API}/connections/{cid}", headers=admin)).json()
    assert again == body
    events = (
        await server.http.get(
            f"{API}/events", headers=admin, params={"types": "connection.updated"}
        )
    ).json()["items"]
    assert "s3cr" not in str(events)
    cleared = await patch(server, admin, cid, proxy_url=None, reject_call_message="")
    assert (cleared.json()["proxy_url"], cleared.json()["reject_call_message"]) == (None, None)


async def test_wrong_settings_are_422_with_their_codes(
    server: Server, admin: dict[str, str]
) -> None:
    cid = (await create_connection(server.http, admin))["id"]
    for url in (
        "ftp://proxy.example:21",
        "http://",
        "socks5://h:1080/path",
        "http://h:99999",
        "http://:pw@h:8080",
        "proxy.example:8080",
    ):
        response = await patch(server, admin, cid, proxy_url=url)
        assert response.status_code == 422, (url, response.text)
        assert code(response) == "invalid_proxy_url", url
    for body in ({"reject_calls": "yes"}, {"auto_read": 1}, {"sync_history": "some"}):
        response = await patch(server, admin, cid, **body)
        assert response.status_code == 422, body
        assert code(response) == "validation_error", body
    unchanged = (await server.http.get(f"{API}/connections/{cid}", headers=admin)).json()
    assert unchanged["proxy_url"] is None


async def test_ignore_groups_drops_group_traffic_and_keeps_the_rest(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    assert (await patch(server, admin, cid, ignore_groups=True)).status_code == 200
    await incoming(server, admin, cid, text="no grupo", group="Vizinhos")
    await incoming(server, admin, cid, text="direto")

    async def stored() -> bool:
        return "direto" in await stored_texts(server, admin)

    await eventually(stored, what="the direct message stored")
    assert await stored_texts(server, admin) == ["direto"]
    groups_events = (
        await server.http.get(f"{API}/events", headers=admin, params={"types": "message.received"})
    ).json()["items"]
    assert [e["data"]["text"] for e in groups_events] == ["direto"]

    assert (await patch(server, admin, cid, ignore_groups=False)).status_code == 200
    await incoming(server, admin, cid, text="no grupo de novo", group="Vizinhos")

    async def group_stored() -> bool:
        return "no grupo de novo" in await stored_texts(server, admin)

    await eventually(group_stored, what="the group message stored once no longer ignored")


async def test_auto_read_sends_read_receipts_for_incoming_messages(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    first = await incoming(server, admin, cid, text="sem leitura")

    async def stored() -> bool:
        return "sem leitura" in await stored_texts(server, admin)

    await eventually(stored, what="the first message stored before auto_read is on")
    assert (await patch(server, admin, cid, auto_read=True)).status_code == 200
    second = await incoming(server, admin, cid, text="lida")

    async def read() -> bool:
        return bool((await activity(server, admin, cid))["reads"])

    await eventually(read, what="a read receipt")
    reads = (await activity(server, admin, cid))["reads"]
    assert [r["message_ids"] for r in reads] == [[second]]
    assert first not in str(reads)
    assert reads[0]["chat_jid"] == f"{ANA}@s.whatsapp.net"


async def test_always_online_announces_presence_on_connect_and_on_change(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = (await create_connection(server.http, admin))["id"]
    assert (await patch(server, admin, cid, always_online=True)).status_code == 200
    await link(server.http, admin, cid, clock)
    assert (await activity(server, admin, cid))["online"] == [True]
    assert (await patch(server, admin, cid, always_online=False)).status_code == 200
    assert (await activity(server, admin, cid))["online"] == [True, False]


async def test_a_dead_proxy_fails_the_connection_with_a_proxy_message_and_recovers(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    dead = await server.http.patch(
        f"{API}/simulator/settings",
        headers=admin,
        json={"dead_proxies": ["http://user:pw@10.9.9.9:3128"]},
    )
    assert dead.status_code == 200, dead.text
    moved = await patch(server, admin, cid, proxy_url="http://other:secret@10.9.9.9:3128")
    assert moved.status_code == 200, moved.text
    status = await wait_state(server.http, admin, cid, "reconnecting")
    assert "proxy http://10.9.9.9:3128 failed" in status["error_message"]
    assert "secret" not in status["error_message"]

    fixed = await patch(server, admin, cid, proxy_url="socks5://10.9.9.8:1080")
    assert fixed.status_code == 200

    async def ready() -> bool:
        state = (await server.http.get(f"{API}/connections/{cid}/status", headers=admin)).json()
        return bool(state["state"] == "ready")

    await drive(clock, ready, what="ready through a working proxy")
    assert simulator(server).phase(cid) is not None
