"""Editing and deleting for everyone, ours and the customer's, end to end on the simulator."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, eventually, login
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import (
    CUSTOMER,
    message,
    ready_connection,
    send,
    simulator,
    wait_status,
)
from zapgate.domain.times import iso_utc
from zapgate.util.clock import ManualClock


async def change(
    server: Server, headers: dict[str, str], mid: str, what: str, status: int = 200, **body: Any
) -> dict[str, Any]:
    response = await server.http.post(f"{API}/messages/{mid}/{what}", headers=headers, json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def code(answer: dict[str, Any]) -> str:
    return str(answer["error"]["code"])


async def events_of(server: Server, headers: dict[str, str], kind: str) -> list[dict[str, Any]]:
    page = await server.http.get(f"{API}/events", headers=headers, params={"types": kind})
    assert page.status_code == 200, page.text
    return list(page.json()["items"])


async def incoming(server: Server, headers: dict[str, str], cid: str, **body: Any) -> str:
    response = await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=headers,
        json={"from": CUSTOMER, **body},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["wa_message_id"])


async def stored(server: Server, headers: dict[str, str], wa_id: str) -> dict[str, Any]:
    """The message with WhatsApp id ``wa_id``, once it is stored."""
    found: dict[str, Any] = {}

    async def there() -> bool:
        chats = (await server.http.get(f"{API}/chats", headers=headers)).json()["items"]
        for chat in chats:
            page = await server.http.get(f"{API}/chats/{chat['id']}/messages", headers=headers)
            for item in page.json()["items"]:
                if item["wa_message_id"] == wa_id:
                    found.update(item)
                    return True
        return False

    await eventually(there, what=f"message {wa_id} stored")
    return found


async def test_a_sent_text_is_edited_then_deleted_for_everyone(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    accepted = await send(server.http, admin, {"to": CUSTOMER, "text": "Preço: R$ 10"})
    assert (accepted["edited_at"], accepted["revoked_at"], accepted["edits"]) == (None, None, None)
    await wait_status(server, admin, clock, accepted["id"], "sent", "delivered", "read")

    edited = await change(server, admin, accepted["id"], "edit", text="Preço: R$ 12")
    assert edited["text"] == "Preço: R$ 12"
    assert edited["edited_at"] == iso_utc(clock.now())
    assert [e["text"] for e in edited["edits"]] == ["Preço: R$ 10"]
    entry = simulator(server).outbox(cid)[0]
    assert (entry.text, entry.edits, entry.revoked) == ("Preço: R$ 10", ["Preço: R$ 12"], False)
    again = await change(server, admin, accepted["id"], "edit", 422, text="Preço: R$ 12")
    assert code(again) == "text_unchanged"

    revoked = await change(server, admin, accepted["id"], "revoke")
    assert revoked["revoked_at"] == iso_utc(clock.now())
    assert revoked["text"] == "Preço: R$ 12"  # kept: nothing is lost
    assert simulator(server).outbox(cid)[0].revoked
    assert (await message(server.http, admin, accepted["id"]))["revoked_at"] is not None
    late = await change(server, admin, accepted["id"], "edit", 409, text="other")
    assert code(late) == "message_revoked"
    twice = await change(server, admin, accepted["id"], "revoke", 409)
    assert code(twice) == "message_revoked"

    (edit_event,) = await events_of(server, admin, "message.edited")
    assert edit_event["data"]["id"] == accepted["id"]
    assert edit_event["data"]["text"] == "Preço: R$ 12"
    (revoke_event,) = await events_of(server, admin, "message.revoked")
    assert revoke_event["data"]["revoked_at"] is not None
    chat = (await server.http.get(f"{API}/chats/{accepted['chat_id']}", headers=admin)).json()
    assert chat["last_message"]["revoked"] is True
    assert chat["last_message"]["text"] is None


async def test_whatsapp_time_limits(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    await ready_connection(server, admin, clock)
    accepted = await send(server.http, admin, {"to": CUSTOMER, "text": "oi"})
    await wait_status(server, admin, clock, accepted["id"], "sent", "delivered", "read")
    await clock.advance(timedelta(minutes=16).total_seconds())
    late = await change(server, admin, accepted["id"], "edit", 409, text="olá")
    assert code(late) == "edit_window_expired"
    assert late["error"]["details"]["limit_seconds"] == 15 * 60
    await clock.advance(timedelta(hours=48).total_seconds())
    admin = await login(server.http, ADMIN_EMAIL, ADMIN_PASSWORD)  # the old token expired
    too_late = await change(server, admin, accepted["id"], "revoke", 409)
    assert code(too_late) == "revoke_window_expired"
    assert (await message(server.http, admin, accepted["id"]))["text"] == "oi"


async def test_only_our_own_sent_text_can_be_changed(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    theirs = await stored(server, admin, await incoming(server, admin, cid, text="oi"))
    assert code(await change(server, admin, theirs["id"], "edit", 409, text="x")) == (
        "not_own_message"
    )
    assert code(await change(server, admin, theirs["id"], "revoke", 409)) == "not_own_message"

    place = await send(
        server.http,
        admin,
        {"to": CUSTOMER, "type": "location", "location": {"latitude": 1, "longitude": 2}},
    )
    assert code(await change(server, admin, place["id"], "edit", 422, text="x")) == "not_editable"
    text = await send(server.http, admin, {"to": CUSTOMER, "text": "oi"})
    blank = await change(server, admin, text["id"], "edit", 422, text="   ")
    assert code(blank) == "missing_content"
    missing = await change(server, admin, "01HZZZZZZZZZZZZZZZZZZZZZZZ", "edit", 404, text="x")
    assert code(missing) == "message_not_found"


async def test_a_message_still_queued_is_edited_before_it_leaves_or_canceled(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    later = iso_utc(clock.now() + timedelta(minutes=5))
    first = await send(server.http, admin, {"to": CUSTOMER, "text": "v1", "send_at": later})
    second = await send(server.http, admin, {"to": CUSTOMER, "text": "bye", "send_at": later})
    assert first["status"] == "scheduled"

    edited = await change(server, admin, first["id"], "edit", text="v2")
    assert (edited["text"], edited["edited_at"], edited["status"]) == ("v2", None, "scheduled")
    assert [e["text"] for e in edited["edits"]] == ["v1"]
    revoked = await change(server, admin, second["id"], "revoke")
    assert revoked["status"] == "canceled"
    assert revoked["revoked_at"] is not None

    await wait_status(server, admin, clock, first["id"], "sent", "delivered", "read")
    assert [e.text for e in simulator(server).outbox(cid)] == ["v2"]
    assert (await message(server.http, admin, second["id"]))["status"] == "canceled"
    assert len(await events_of(server, admin, "message.revoked")) == 1


async def test_concurrent_edits_of_a_queued_message_keep_every_replaced_text(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    await ready_connection(server, admin, clock)
    later = iso_utc(clock.now() + timedelta(minutes=5))
    queued = await send(server.http, admin, {"to": CUSTOMER, "text": "v1", "send_at": later})
    answers = await asyncio.gather(
        *(
            server.http.post(
                f"{API}/messages/{queued['id']}/edit", headers=admin, json={"text": text}
            )
            for text in ("v2", "v3")
        )
    )
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    final = await message(server.http, admin, queued["id"])
    replaced = [e["text"] for e in final["edits"]]
    # Each edit replaced the text the other left: nothing typed is lost from the history.
    assert sorted([*replaced, final["text"]]) == ["v1", "v2", "v3"]
    assert replaced[0] == "v1"


async def test_a_change_needs_a_ready_connection(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    accepted = await send(server.http, admin, {"to": CUSTOMER, "text": "oi"})
    await wait_status(server, admin, clock, accepted["id"], "sent", "delivered", "read")
    await simulator(server).drop(cid)

    async def not_ready() -> bool:
        status = (await server.http.get(f"{API}/connections/{cid}/status", headers=admin)).json()
        return bool(status["state"] != "ready")

    await eventually(not_ready, what="connection dropped")
    answer = await change(server, admin, accepted["id"], "edit", 409, text="olá")
    assert code(answer) == "connection_not_ready"


async def test_the_customer_edits_and_deletes_their_message(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    wa_id = await incoming(server, admin, cid, text="quero 2 camisas")
    original = await stored(server, admin, wa_id)
    await incoming(server, admin, cid, type="edit", message_id=wa_id, text="quero 3 camisas")

    async def edited() -> bool:
        return bool((await message(server.http, admin, original["id"]))["edited_at"])

    await eventually(edited, what="edit stored")
    now = await message(server.http, admin, original["id"])
    assert now["text"] == "quero 3 camisas"
    assert [e["text"] for e in now["edits"]] == ["quero 2 camisas"]
    (event,) = await events_of(server, admin, "message.edited")
    assert event["data"]["text"] == "quero 3 camisas"

    # Someone else's change of that message, and a change of an unknown one: ignored.
    await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=admin,
        json={"from": "5511977776666", "type": "revoke", "message_id": wa_id},
    )
    await incoming(server, admin, cid, type="edit", message_id="3AUNKNOWN", text="x")
    await incoming(server, admin, cid, type="revoke", message_id=wa_id)

    async def revoked() -> bool:
        return bool((await message(server.http, admin, original["id"]))["revoked_at"])

    await eventually(revoked, what="revoke stored")
    assert len(await events_of(server, admin, "message.revoked")) == 1
    assert len(await events_of(server, admin, "message.edited")) == 1
    bad = await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=admin,
        json={"from": CUSTOMER, "type": "edit", "text": "no id"},
    )
    assert bad.status_code == 422
    assert code(bad.json()) == "missing_content"


async def test_mentions_of_phones_and_of_everyone_in_a_group(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    one = await send(
        server.http,
        admin,
        {"to": CUSTOMER, "text": "@5511977776666 veja", "mentions": ["+55 11 97777-6666"]},
    )
    assert one["mentions"] == [{"phone": "5511977776666", "jid": "5511977776666@s.whatsapp.net"}]
    await wait_status(server, admin, clock, one["id"], "sent", "delivered", "read")
    assert simulator(server).outbox(cid)[0].mentions == ["5511977776666@s.whatsapp.net"]

    group_wa_id = await incoming(
        server, admin, cid, text="oi grupo", group="Loja", mentions=["5511999990001"]
    )
    in_group = await stored(server, admin, group_wa_id)
    assert in_group["mentions"] == [
        {"phone": "5511999990001", "jid": "5511999990001@s.whatsapp.net"}
    ]
    everyone = await send(
        server.http, admin, {"to": in_group["chat_jid"], "text": "todos", "mentions": "all"}
    )
    assert {m["phone"] for m in everyone["mentions"]} == {CUSTOMER, "5511999990001"}

    refused = [
        ({"to": CUSTOMER, "text": "x", "mentions": "all"}, "mentions_all_outside_group"),
        (
            {
                "to": CUSTOMER,
                "type": "location",
                "location": {"latitude": 1, "longitude": 2},
                "mentions": [CUSTOMER],
            },
            "mentions_not_supported",
        ),
        ({"to": CUSTOMER, "text": "x", "mentions": ["12"]}, "invalid_phone"),
        (
            {"to": "120363999999999999@g.us", "text": "x", "mentions": "all"},
            "group_unknown",
        ),
    ]
    for body, expected in refused:
        answer = await send(server.http, admin, body, 422)
        assert code(answer) == expected, body
