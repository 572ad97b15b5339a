"""Sending every message type end to end through the simulator, with receipts."""

from __future__ import annotations

import base64

from tests.conftest import Server
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import (
    CUSTOMER,
    message,
    ready_connection,
    send,
    simulator,
    wait_status,
)
from zapgate.util.clock import ManualClock

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_text_goes_out_and_receipts_move_it_forward(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    accepted = await send(server.http, admin, {"to": "+55 11 98888-7777", "text": "Olá"})
    assert accepted["status"] == "queued"
    assert accepted["ack"] == 1
    assert accepted["wa_message_id"].startswith("3EB0")
    assert accepted["connection_id"] == cid
    assert accepted["to"] == f"{CUSTOMER}@s.whatsapp.net"
    for key in (
        "id",
        "chat_id",
        "type",
        "created_at",
        "send_at",
        "sent_at",
        "delivered_at",
        "read_at",
        "error_code",
        "error_message",
    ):
        assert key in accepted
    sent = await wait_status(server, admin, clock, accepted["id"], "sent", "delivered", "read")
    assert sent["wa_message_id"] == accepted["wa_message_id"]
    outbox = simulator(server).outbox(cid)
    assert [e.wa_message_id for e in outbox] == [accepted["wa_message_id"]]
    assert outbox[0].text == "Olá"
    done = await wait_status(server, admin, clock, accepted["id"], "read")
    assert done["ack"] == 4
    assert done["delivered_at"] is not None
    assert done["read_at"] is not None


async def test_every_type_goes_out(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    upload = await server.http.post(
        f"{API}/media", headers=admin, files={"file": ("photo.png", PNG, "image/png")}
    )
    assert upload.status_code == 201, upload.text
    media_id = upload.json()["id"]
    first = await send(server.http, admin, {"to": CUSTOMER, "text": "first"})
    audio = base64.b64encode(b"OggS" + b"\x01" * 40).decode()
    bodies = [
        {"type": "image", "media": {"media_id": media_id, "caption": "look"}},
        {
            "type": "video",
            "media": {
                "base64": base64.b64encode(b"\0\0\0\x18ftypmp42").decode(),
                "mimetype": "video/mp4",
            },
        },
        {"type": "audio", "media": {"base64": audio, "mimetype": "audio/mpeg"}},
        {"type": "voice", "media": {"base64": audio, "mimetype": "audio/ogg; codecs=opus"}},
        {
            "type": "document",
            "media": {"base64": base64.b64encode(b"%PDF-1.4").decode(), "filename": "invoice.pdf"},
        },
        {"type": "location", "location": {"latitude": -23.5, "longitude": -46.6, "name": "Loja"}},
        {"type": "contact", "contact": {"name": "Ana", "phone": "+55 11 97777-0001"}},
        {"type": "reaction", "reaction": {"message_id": first["id"], "emoji": "👍"}},
        {"type": "text", "text": "a reply", "reply_to": first["wa_message_id"]},
    ]
    accepted = [await send(server.http, admin, {"to": CUSTOMER, **b}) for b in bodies]
    # Every type ends where WhatsApp takes it: read, played for voice notes, and
    # reactions (which get no receipts) sent; each milestone on the way is stamped.
    for body, item in zip(bodies, accepted, strict=True):
        final = {"reaction": "sent", "voice": "played"}.get(str(body["type"]), "read")
        done = await wait_status(server, admin, clock, item["id"], final)
        assert done["sent_at"] is not None, body["type"]
        if final != "sent":
            assert done["delivered_at"] is not None, body["type"]
            assert done["read_at"] is not None, body["type"]
    outbox = {e.wa_message_id: e for e in simulator(server).outbox(cid)}
    assert len(outbox) == len(bodies) + 1
    image = outbox[accepted[0]["wa_message_id"]]
    assert image.type == "image"
    assert image.media is not None
    assert image.media["caption"] == "look"
    assert image.media["size"] == len(PNG)
    assert outbox[accepted[3]["wa_message_id"]].type == "voice"
    assert outbox[accepted[4]["wa_message_id"]].media["filename"] == "invoice.pdf"
    assert outbox[accepted[5]["wa_message_id"]].location["name"] == "Loja"
    assert outbox[accepted[6]["wa_message_id"]].contact["phone"] == "5511977770001"
    reaction = outbox[accepted[7]["wa_message_id"]].reaction
    assert reaction is not None
    assert reaction["target_id"] == first["wa_message_id"]
    assert outbox[accepted[8]["wa_message_id"]].reply_to == first["wa_message_id"]
    voice = await wait_status(server, admin, clock, accepted[3]["id"], "played")
    assert voice["ack"] == 5
    # The chat lists the conversation; reactions do not become its last message.
    chat = (await server.http.get(f"{API}/chats/{first['chat_id']}", headers=admin)).json()
    assert chat["last_message"]["text"] == "a reply"
    stats = (await server.http.get(f"{API}/connections/{cid}/stats", headers=admin)).json()
    assert stats["messages_sent"] == len(bodies) + 1
    org = (await server.http.get(f"{API}/stats", headers=admin)).json()
    assert org["messages"]["sent_today"] == len(bodies) + 1
    assert len(org["series"]) == 30


async def test_manual_receipts_never_move_back(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    simulator(server).update_settings(auto_receipts=False)
    accepted = await send(server.http, admin, {"to": CUSTOMER, "text": "hi"})
    await wait_status(server, admin, clock, accepted["id"], "sent")
    for kind in ("read", "delivered"):
        response = await server.http.post(
            f"{API}/simulator/connections/{cid}/receipt",
            headers=admin,
            json={"wa_message_id": accepted["wa_message_id"], "type": kind},
        )
        assert response.status_code == 204
    done = await wait_status(server, admin, clock, accepted["id"], "read")
    await clock.advance(1)
    assert (await message(server.http, admin, accepted["id"]))["status"] == "read"
    assert done["delivered_at"] is not None  # read implies delivered
    # The chat's preview follows the receipts of its last message.
    chat = (await server.http.get(f"{API}/chats/{accepted['chat_id']}", headers=admin)).json()
    assert chat["last_message"]["id"] == accepted["id"]
    assert chat["last_message"]["status"] == "read"
