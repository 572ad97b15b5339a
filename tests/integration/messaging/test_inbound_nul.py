"""WhatsApp text holding NUL characters (U+0000) is stored with them removed, nothing lost.

Anyone can send a NUL in a message, a name, a caption or a file name, and PostgreSQL
cannot store one: such a message failed its insert and was dropped without a trace
(the rest of its batch stored). Here the messages go through the simulator API, so
they enter like a real engine's events, through the supervisor.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.conftest import Server
from tests.integration.api.helpers import API, status_of
from tests.integration.messaging.kit import CUSTOMER, drive, ready_connection
from zapgate.util.clock import ManualClock

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
OTHER = "5511966665555"


async def incoming(server: Server, headers: dict[str, str], cid: str, **body: Any) -> str:
    response = await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=headers,
        json={"from": CUSTOMER, **body},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["wa_message_id"])


async def stored_messages(server: Server, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for chat in (await server.http.get(f"{API}/chats", headers=headers)).json()["items"]:
        page = await server.http.get(f"{API}/chats/{chat['id']}/messages", headers=headers)
        out.update((m["wa_message_id"], m) for m in page.json()["items"])
    return out


async def test_a_batch_with_nul_characters_is_stored_whole(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    http = server.http
    cid = await ready_connection(server, admin, clock)
    # Stopped, the number's messages wait on the network and arrive together after the
    # next start: one batch for the recorder.
    assert (await http.post(f"{API}/connections/{cid}/stop", headers=admin)).status_code < 300
    ids = {"before": await incoming(server, admin, cid, text="before")}
    ids["text"] = await incoming(server, admin, cid, text="o\x00i", push_name="An\x00a")
    ids["image"] = await incoming(
        server,
        admin,
        cid,
        type="image",
        caption="fo\x00to",
        media={
            "base64": base64.b64encode(PNG).decode(),
            "mimetype": "image/png",
            "filename": "fo\x00to.png",
        },
    )
    ids["location"] = await incoming(
        server, admin, cid, location={"latitude": 1.5, "longitude": 2.5, "name": "Pra\x00ça"}
    )
    ids["contact"] = await incoming(
        server, admin, cid, contact={"name": "Bi\x00a", "phone": "5511900001111"}
    )
    ids["reaction"] = await incoming(
        server, admin, cid, reaction={"message_id": ids["before"], "emoji": "\x00❤"}
    )
    ids["group"] = await incoming(
        server, admin, cid, **{"from": OTHER}, text="to all\x00", group="Fam\x00ília"
    )
    ids["after"] = await incoming(server, admin, cid, text="after")
    assert (await http.post(f"{API}/connections/{cid}/start", headers=admin)).status_code == 202

    found: dict[str, dict[str, Any]] = {}

    async def all_stored() -> bool:
        found.update(await stored_messages(server, admin))
        ready = (await status_of(http, admin, cid))["state"] == "ready"
        return ready and set(ids.values()) <= set(found)

    await drive(clock, all_stored, what="every held message stored")
    stored = {name: found[wa_id] for name, wa_id in ids.items()}
    assert stored["before"]["text"] == "before"
    assert stored["after"]["text"] == "after"
    assert stored["text"]["text"] == "oi"
    assert stored["image"]["media"]["caption"] == "foto"
    assert stored["image"]["media"]["filename"] == "foto.png"
    download = await http.get(f"{API}/media/{stored['image']['media']['media_id']}", headers=admin)
    assert download.content == PNG
    assert "filename*=UTF-8''foto.png" in download.headers["content-disposition"]
    assert stored["location"]["location"]["name"] == "Praça"
    assert stored["contact"]["contact"]["name"] == "Bia"
    assert stored["reaction"]["reaction"]["emoji"] == "❤"
    assert stored["group"]["text"] == "to all"

    contacts = (await http.get(f"{API}/contacts", headers=admin)).json()["items"]
    assert {c["phone"]: c["push_name"] for c in contacts}[CUSTOMER] == "Ana"
    chats = (await http.get(f"{API}/chats", headers=admin)).json()["items"]
    assert [c["name"] for c in chats if c["is_group"]] == ["Família"]
    groups = (await http.get(f"{API}/connections/{cid}/groups", headers=admin)).json()
    assert [g["name"] for g in groups] == ["Família"]
    # Nothing anywhere still holds a NUL: not the event log either.
    events = (await http.get(f"{API}/events", headers=admin, params={"limit": 200})).json()
    assert "\\u0000" not in str(events)
    assert "\x00" not in str(events)
