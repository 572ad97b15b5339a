"""``/chat/findChats`` and ``/chat/findMessages`` filter as Evolution's do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.conftest import eventually
from tests.integration.compat.helpers import (
    EVO,
    linked_instance,
)
from zapgate.util.clock import ManualClock

ANA = "5511988887777@s.whatsapp.net"
BIA = "5511977776666@s.whatsapp.net"


async def _incoming(
    client: httpx.AsyncClient, admin: dict[str, str], instance_id: str, phone: str, text: str
) -> None:
    sent = await client.post(
        f"/api/v1/simulator/connections/{instance_id}/incoming",
        headers=admin,
        json={"from": phone, "text": text},
    )
    assert sent.status_code in (200, 201), sent.text


async def _chats(
    client: httpx.AsyncClient, who: dict[str, str], body: dict[str, Any] | None = None
) -> list[str]:
    answer = await client.post(f"{EVO}/chat/findChats/loja", headers=who, json=body or {})
    assert answer.status_code == 200, answer.text
    return [c["remoteJid"] for c in answer.json()]


async def test_find_chats_filters_on_remote_jid(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    who, instance_id = await linked_instance(client, admin, clock)
    await _incoming(client, admin, instance_id, "5511988887777", "Oi")
    await _incoming(client, admin, instance_id, "5511977776666", "Olá")

    async def both() -> bool:
        return len(await _chats(client, who)) == 2

    await eventually(both, what="two chats")
    assert await _chats(client, who, {"where": {"remoteJid": ANA}}) == [ANA]
    # Evolution makes a JID of a bare number.
    assert await _chats(client, who, {"where": {"remoteJid": "5511977776666"}}) == [BIA]
    assert await _chats(client, who, {"where": {"remoteJid": "5511900000000@s.whatsapp.net"}}) == []
    assert await _chats(client, who, {"where": {"remoteJid": "nobody"}}) == []
    assert sorted(await _chats(client, who, {"where": {}})) == sorted([ANA, BIA])


async def test_find_messages_of_a_chat_not_there_yet_is_empty(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    who, _ = await linked_instance(client, admin, clock)
    for jid in (ANA, "123456789012345@lid"):
        found = await client.post(
            f"{EVO}/chat/findMessages/loja",
            headers=who,
            json={"where": {"key": {"remoteJid": jid}}, "page": 2},
        )
        assert found.status_code == 200, found.text
        assert found.json() == {
            "messages": {"total": 0, "pages": 0, "currentPage": 2, "records": []}
        }


async def test_find_messages_between_two_times(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    who, _ = await linked_instance(client, admin, clock)
    for text in ("um", "dois", "três"):
        sent = await client.post(
            f"{EVO}/message/sendText/loja", headers=who, json={"number": ANA, "text": text}
        )
        assert sent.status_code == 201, sent.text
        await clock.advance(60)

    async def find(span: dict[str, Any]) -> list[str]:
        where = {"key": {"remoteJid": ANA}, "messageTimestamp": span}
        answer = await client.post(
            f"{EVO}/chat/findMessages/loja", headers=who, json={"where": where}
        )
        assert answer.status_code == 200, answer.text
        return sorted(r["message"]["conversation"] for r in answer.json()["messages"]["records"])

    every = await find({})
    assert every == ["dois", "três", "um"]
    answer = await client.post(
        f"{EVO}/chat/findMessages/loja", headers=who, json={"where": {"key": {"remoteJid": ANA}}}
    )
    at = {
        r["message"]["conversation"]: r["messageTimestamp"]
        for r in answer.json()["messages"]["records"]
    }
    first, second = at["um"], at["dois"]
    # Evolution reads each bound with JavaScript's Date: ISO text, or epoch milliseconds.
    iso = datetime.fromtimestamp(first, UTC).isoformat().replace("+00:00", "Z")
    assert await find({"gte": iso, "lte": second * 1000}) == ["dois", "um"]
    assert await find({"gte": (first + 1) * 1000, "lte": (second + 1) * 1000}) == ["dois"]
    naive = datetime.fromtimestamp(second, UTC).replace(tzinfo=None).isoformat()
    assert await find({"gte": naive, "lte": "2999-01-01"}) == ["dois", "três"]
    # One bound alone does not filter, as in Evolution.
    assert await find({"gte": (second + 1) * 1000}) == every
    bad = await client.post(
        f"{EVO}/chat/findMessages/loja",
        headers=who,
        json={"where": {"key": {"remoteJid": ANA}, "messageTimestamp": {"gte": "ontem", "lte": 1}}},
    )
    assert bad.status_code == 400
    assert bad.json()["response"]["code"] == "validation_error"
