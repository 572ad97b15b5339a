"""Each group-committed writer of the messaging path, given a batch that fails on one of
its items: every other item of that batch is written, and only the bad one fails."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Server
from tests.integration.messaging.kit import ready_connection
from zapgate.domain.messages import MessageType
from zapgate.domain.roles import Role
from zapgate.engines.events import InboundMessage, MessageReceived
from zapgate.services.context import Principal
from zapgate.services.inbound import recorder as inbound_recorder
from zapgate.services.sending import accepts
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import ChatRow
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import ManualClock


class Batches:
    """Which items each transaction saw, told apart by the per-transaction object the
    batch hands to its per-item step (kept alive so no id is reused)."""

    def __init__(self) -> None:
        self.seen: dict[int, list[str | None]] = {}
        self._alive: list[object] = []

    def saw(self, batch: object, text: str | None) -> None:
        if id(batch) not in self.seen:
            self._alive.append(batch)
            self.seen[id(batch)] = []
        self.seen[id(batch)].append(text)

    def groups(self) -> list[list[str | None]]:
        return list(self.seen.values())


async def _organization(server: Server, cid: str) -> str:
    async with server.runtime.db.read() as s:
        org = await s.scalar(select(ConnectionRow.organization_id).where(ConnectionRow.id == cid))
    assert org is not None
    return org


async def test_an_accept_batch_with_a_failing_message_writes_every_other_message(
    server: Server, admin: dict[str, str], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = await ready_connection(server, admin, clock)
    principal = Principal(organization_id=await _organization(server, cid), role=Role.ADMIN)
    service = server.runtime.messaging.messages
    stage = accepts.stage_accept
    batches = Batches()

    async def failing(s: Any, records: Any, who: Principal, row: Any) -> None:
        batches.saw(records, row.text)
        if row.text == "poison":
            raise RuntimeError("cannot accept this one")
        await stage(s, records, who, row)

    monkeypatch.setattr(accepts, "stage_accept", failing)
    texts = ["one", "two", "poison", "three"]
    # Plain texts to a number are routed in the batch: nothing to await before queueing,
    # so all four join one group commit.
    results = await asyncio.gather(
        *(
            service.send(principal, to=f"55119777{n:05d}", type=MessageType.TEXT, text=text)
            for n, text in enumerate(texts)
        ),
        return_exceptions=True,
    )

    assert batches.groups() == [["one", "two", "poison"], ["one"], ["two"], ["poison"], ["three"]]
    bad = results[2]
    assert isinstance(bad, RuntimeError)
    assert str(bad) == "cannot accept this one"
    good = [r for i, r in enumerate(results) if i != 2]
    assert all(isinstance(r, dict) for r in good)
    async with server.runtime.db.read() as s:
        stored = {m.id: m for m in (await s.scalars(select(MessageRow))).all()}
        chats = set((await s.scalars(select(ChatRow.jid))).all())
    assert sorted(m.text or "" for m in stored.values()) == ["one", "three", "two"]
    for accepted, text in zip(good, ["one", "two", "three"], strict=True):
        assert isinstance(accepted, dict)
        assert stored[accepted["id"]].text == text
        assert stored[accepted["id"]].connection_id == cid
    # The failed message's chat was created only in the transaction that rolled back.
    assert chats == {f"55119777{n:05d}@s.whatsapp.net" for n in (0, 1, 3)}


def _received(cid: str, clock: ManualClock, wa_id: str, phone: str, text: str) -> MessageReceived:
    sender = f"{phone}@s.whatsapp.net"
    return MessageReceived(
        cid,
        InboundMessage(
            wa_message_id=wa_id,
            chat_jid=sender,
            sender_jid=sender,
            timestamp=clock.now(),
            type=MessageType.TEXT,
            sender_phone=phone,
            push_name="Cliente",
            text=text,
        ),
    )


async def test_an_inbound_batch_with_a_failing_item_writes_every_other_item(
    server: Server, admin: dict[str, str], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = await ready_connection(server, admin, clock)
    org = await _organization(server, cid)
    recorder = server.runtime.messaging.recorder
    message = inbound_recorder.store_message
    batches = Batches()

    async def failing(s: Any, batch: Any, item: Any, work: Any, now: Any) -> bool:
        batches.saw(batch, work.message.text)
        if work.message.text == "poison":
            raise RuntimeError("cannot store this one")
        return await message(s, batch, item, work, now)

    monkeypatch.setattr(inbound_recorder, "store_message", failing)
    stored_before = recorder.stored
    # Two runners' calls at once: they share one transaction, and only the call that
    # holds the bad item hears of its failure.
    calm = [_received(cid, clock, f"3ACALM{n}", "5511966660001", f"a{n}") for n in (1, 2)]
    mixed = [
        _received(cid, clock, f"3AMIXED{n}", "5511966660002", text)
        for n, text in enumerate(["b1", "poison", "b2"])
    ]
    results = await asyncio.gather(
        recorder(org, cid, calm), recorder(org, cid, mixed), return_exceptions=True
    )

    assert batches.groups() == [
        ["a1", "a2", "b1", "poison"],
        ["a1"],
        ["a2"],
        ["b1"],
        ["poison"],
        ["b2"],
    ]
    assert results[0] is None
    assert isinstance(results[1], RuntimeError)
    assert str(results[1]) == "cannot store this one"
    async with server.runtime.db.read() as s:
        texts = sorted((await s.scalars(select(MessageRow.text))).all())
    assert texts == ["a1", "a2", "b1", "b2"]
    assert recorder.stored - stored_before == 4
