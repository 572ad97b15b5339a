"""``sendPoll`` and ``sendSticker`` with Evolution API v2's field names, and a vote on
the poll arriving as Evolution's ``messages.update`` with ``pollUpdates``."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.conftest import Server, eventually
from tests.integration.compat.helpers import (
    EVO,
    linked_instance,
)
from tests.integration.messaging.kit import drive
from zapgate.compat.evolution.events import evolution_body
from zapgate.util.clock import ManualClock

CUSTOMER = "5511988887777"
WEBP = b"RIFF\x1a\0\0\0WEBPVP8L\x0d\0\0\0/\0\0\0\x10\x07\x10\x11\x11\x88\x88\xfe\x07\0"


async def test_send_poll_then_a_vote_reaches_evolution_shape(
    server: Server, client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    who, instance_id = await linked_instance(client, admin, clock)
    poll = await client.post(
        f"{EVO}/message/sendPoll/loja",
        headers=who,
        json={
            "number": CUSTOMER,
            "name": "Which size?",
            "selectableCount": 1,
            "values": ["S", "M"],
        },
    )
    assert poll.status_code == 201, poll.text
    sent = poll.json()
    assert sent["messageType"] == "pollCreationMessage"
    assert sent["message"]["pollCreationMessage"]["selectableOptionsCount"] == 1
    wa_id = sent["key"]["id"]

    async def on_network() -> bool:
        vote = await client.post(
            f"/api/v1/simulator/connections/{instance_id}/incoming",
            headers=admin,
            json={
                "from": CUSTOMER,
                "type": "poll_vote",
                "poll_message_id": wa_id,
                "options": ["M"],
            },
        )
        return vote.status_code == 200

    await drive(clock, on_network, what="poll sent and voted on")

    async def voted() -> list[dict[str, Any]]:
        page = await client.get(
            "/api/v1/events", headers=admin, params={"types": "message.poll_vote"}
        )
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    async def any_vote() -> bool:
        return bool(await voted())

    await eventually(any_vote, what="vote recorded")
    (event,) = await voted()
    _, body = evolution_body(json.dumps(event).encode(), "https://crm.example/h", {})
    data = json.loads(body)["data"]
    assert data["keyId"] == wa_id
    assert data["pollUpdates"] == [
        {"name": "S", "voters": []},
        {"name": "M", "voters": [f"{CUSTOMER}@s.whatsapp.net"]},
    ]

    multiple = await client.post(
        f"{EVO}/message/sendPoll/loja",
        headers=who,
        json={"number": CUSTOMER, "name": "Days?", "selectableCount": 0, "values": ["Mon", "Tue"]},
    )
    assert multiple.status_code == 201, multiple.text
    assert multiple.json()["message"]["pollCreationMessage"]["selectableOptionsCount"] == 0

    for body, code in [
        (
            {"number": CUSTOMER, "name": "?", "selectableCount": 1, "values": ["a"]},
            "invalid_poll_options",
        ),
        (
            {"number": CUSTOMER, "name": "?", "selectableCount": 1, "values": ["a", "a"]},
            "duplicate_poll_options",
        ),
        (
            {"number": CUSTOMER, "name": "?", "selectableCount": -1, "values": ["a", "b"]},
            "validation_error",
        ),
        ({"number": CUSTOMER, "selectableCount": 1, "values": ["a", "b"]}, "validation_error"),
    ]:
        refused = await client.post(f"{EVO}/message/sendPoll/loja", headers=who, json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["response"]["code"] == code, (body, refused.text)


async def test_send_sticker_by_base64_and_by_upload(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    who, _ = await linked_instance(client, admin, clock)
    sticker = await client.post(
        f"{EVO}/message/sendSticker/loja",
        headers=who,
        json={"number": CUSTOMER, "sticker": base64.b64encode(WEBP).decode()},
    )
    assert sticker.status_code == 201, sticker.text
    assert sticker.json()["messageType"] == "stickerMessage"
    assert sticker.json()["message"]["stickerMessage"]["mimetype"] == "image/webp"
    upload = await client.post(
        f"{EVO}/message/sendSticker/loja",
        headers=who,
        data={"number": CUSTOMER},
        files={"file": ("s.webp", WEBP, "image/webp")},
    )
    assert upload.status_code == 201, upload.text
    for body, code in [
        ({"number": CUSTOMER}, "missing_content"),
        (
            {"number": CUSTOMER, "sticker": base64.b64encode(b"%PDF-1.7 x").decode()},
            "invalid_sticker",
        ),
    ]:
        refused = await client.post(f"{EVO}/message/sendSticker/loja", headers=who, json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["response"]["code"] == code, (body, refused.text)
