"""Sending: latency, de-duplication by message id, failures, receipts, numbers, reads."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from simkit import CUSTOMER, PHONE, Sim, build

from zapgate.domain.errors import EngineError, Invalid, NotFound, SessionNotRunning
from zapgate.domain.messages import ChatPresence, Location, MessageType, ReceiptType
from zapgate.domain.phones import user_jid
from zapgate.engines.base import (
    OutgoingMedia,
    OutgoingMessage,
    QuotedMessage,
    SessionSpec,
    new_wa_message_id,
)
from zapgate.engines.events import Reaction, ReceiptReceived
from zapgate.engines.simulator import NOT_ON_WHATSAPP_SUFFIX, SimulatorEngine
from zapgate.util.clock import ManualClock


def text(to: str = CUSTOMER, body: str = "hello", wa_id: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(wa_id or new_wa_message_id(), user_jid(to), MessageType.TEXT, body)


def receipts(sim: Sim) -> list[tuple[str, ReceiptType]]:
    return [(r.message_ids[0], r.type) for r in sim.of(ReceiptReceived)]


async def test_send_records_the_message_in_the_outbox(sim: Sim) -> None:
    await sim.link()
    message = OutgoingMessage(
        new_wa_message_id(),
        user_jid(CUSTOMER),
        MessageType.TEXT,
        "hi",
        reply_to=QuotedMessage("3A0000000000000000AB"),
    )
    result = await sim.engine.send("s1", message)
    assert result.wa_message_id == message.wa_message_id
    assert result.timestamp == sim.clock.now()
    [entry] = sim.engine.outbox("s1")
    assert (entry.wa_message_id, entry.to_jid, entry.type, entry.text, entry.attempts) == (
        message.wa_message_id,
        f"{CUSTOMER}@s.whatsapp.net",
        "text",
        "hi",
        1,
    )
    assert entry.reply_to == "3A0000000000000000AB"


async def test_media_location_and_reaction_are_described_in_the_outbox(sim: Sim) -> None:
    await sim.link()
    image = OutgoingMessage(
        new_wa_message_id(),
        user_jid(CUSTOMER),
        MessageType.IMAGE,
        media=OutgoingMedia(b"\x89PNG....", "image/png", "a.png", caption="look"),
    )
    place = OutgoingMessage(
        new_wa_message_id(),
        user_jid(CUSTOMER),
        MessageType.LOCATION,
        location=Location(-23.5, -46.6, "Shop"),
    )
    like = OutgoingMessage(
        new_wa_message_id(),
        user_jid(CUSTOMER),
        MessageType.REACTION,
        reaction=Reaction(image.wa_message_id, "👍"),
    )
    for message in (image, place, like):
        await sim.engine.send("s1", message)
    first, second, third = sim.engine.outbox("s1")
    assert first.media is not None
    assert (first.media["mimetype"], first.media["size"], first.media["caption"]) == (
        "image/png",
        8,
        "look",
    )
    assert "data" not in first.media
    assert second.location == {
        "latitude": -23.5,
        "longitude": -46.6,
        "name": "Shop",
        "address": None,
    }
    assert third.reaction is not None
    assert third.reaction["target_id"] == image.wa_message_id


async def test_latency_is_clock_time(tmp_path: Path) -> None:
    clock = ManualClock()
    engine = build(tmp_path, clock, latency_ms=250, auto_receipts=False)
    await engine.start(lambda event: None)
    try:
        await engine.open_session(SessionSpec("s1", "org1", resume=False))
        await clock.advance(0)
        await engine.scan("s1", PHONE)
        await clock.advance(1)
        task = asyncio.ensure_future(engine.send("s1", text()))
        await clock.advance(0.249)
        assert not task.done()
        await clock.advance(0.001)
        assert task.done()
        assert len(engine.outbox("s1")) == 1
    finally:
        await engine.close()


async def test_the_recipient_deduplicates_by_message_id(sim: Sim) -> None:
    await sim.link()
    message = text(body="once")
    first = await sim.engine.send("s1", message)
    await sim.clock.advance(5)
    again = await sim.engine.send("s1", message)
    await sim.engine.send("s1", text(body="other"))
    thrice = await sim.engine.send("s1", message)
    entries = sim.engine.outbox("s1")
    assert [e.text for e in entries] == ["once", "other"]
    assert entries[0].attempts == 3
    assert entries[1].attempts == 1
    # The network keeps the first copy: same id, the original timestamp.
    assert first == again == thrice


async def test_not_on_whatsapp_is_permanent(sim: Sim) -> None:
    await sim.link()
    nobody = "55119876" + NOT_ON_WHATSAPP_SUFFIX
    with pytest.raises(EngineError) as caught:
        await sim.engine.send("s1", text(nobody))
    assert (caught.value.code, caught.value.permanent) == ("not_on_whatsapp", True)
    assert sim.engine.outbox("s1") == []
    await sim.engine.set_on_whatsapp(nobody, True)
    await sim.engine.send("s1", text(nobody))
    await sim.engine.set_on_whatsapp(CUSTOMER, False)
    with pytest.raises(EngineError) as caught:
        await sim.engine.send("s1", text(CUSTOMER))
    assert (caught.value.code, caught.value.permanent) == ("not_on_whatsapp", True)
    await sim.engine.set_on_whatsapp(CUSTOMER, None)
    assert sim.engine.is_on_whatsapp(CUSTOMER)


async def test_check_numbers_follows_the_rule_and_overrides(sim: Sim) -> None:
    await sim.link()
    await sim.engine.set_on_whatsapp("5511977770001", False)
    checks = await sim.engine.check_numbers(
        "s1", ["+55 11 98888-0002", "5511999990000", "5511977770001", "garbage"]
    )
    assert [(c.phone, c.on_whatsapp, c.jid) for c in checks] == [
        (CUSTOMER, True, f"{CUSTOMER}@s.whatsapp.net"),
        ("5511999990000", False, None),
        ("5511977770001", False, None),
        ("garbage", False, None),
    ]


async def test_invalid_recipient_is_permanent(sim: Sim) -> None:
    await sim.link()
    bad = OutgoingMessage(new_wa_message_id(), "123", MessageType.TEXT, "x")
    with pytest.raises(EngineError) as caught:
        await sim.engine.send("s1", bad)
    assert (caught.value.code, caught.value.permanent) == ("invalid_jid", True)
    unknown_group = OutgoingMessage(
        new_wa_message_id(), "120363000000000001@g.us", MessageType.TEXT, "x"
    )
    with pytest.raises(EngineError) as caught:
        await sim.engine.send("s1", unknown_group)
    assert caught.value.code == "not_in_group"


async def test_send_before_connected_raises_session_not_running(sim: Sim) -> None:
    with pytest.raises(SessionNotRunning):
        await sim.engine.send("s1", text())
    await sim.open()
    with pytest.raises(SessionNotRunning):
        await sim.engine.send("s1", text())
    await sim.engine.scan("s1", PHONE)
    with pytest.raises(SessionNotRunning):  # still syncing
        await sim.engine.send("s1", text())


async def test_failure_rate_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    async def outcomes(seed: int, directory: Path) -> list[bool]:
        clock = ManualClock()
        engine = SimulatorEngine(data_dir=directory, clock=clock, seed=seed)
        engine.update_settings(latency_ms=0, failure_rate=0.3, auto_receipts=False)
        await engine.start(lambda event: None)
        await engine.open_session(SessionSpec("s1", "org1", resume=False))
        await clock.advance(0)
        await engine.scan("s1", PHONE)
        await clock.advance(1)
        results = []
        codes: set[tuple[str, bool]] = set()
        for _ in range(200):
            try:
                await engine.send("s1", text())
                results.append(True)
            except EngineError as exc:
                results.append(False)
                codes.add((exc.code, exc.permanent))
        await engine.close()
        assert codes == {("network_error", False)}
        return results

    first = await outcomes(42, tmp_path / "a")
    assert first == await outcomes(42, tmp_path / "b")
    assert first != await outcomes(43, tmp_path / "c")
    assert 30 <= first.count(False) <= 90


async def test_a_failed_send_does_not_reach_the_recipient(sim: Sim) -> None:
    await sim.link()
    sim.engine.update_settings(failure_rate=1.0)
    message = text()
    with pytest.raises(EngineError) as caught:
        await sim.engine.send("s1", message)
    assert caught.value.code == "network_error"
    assert sim.engine.outbox("s1") == []
    sim.engine.update_settings(failure_rate=0.0)
    await sim.engine.send("s1", message)
    assert [e.attempts for e in sim.engine.outbox("s1")] == [1]


async def test_auto_receipts_delivered_then_read_with_their_delays(sim: Sim) -> None:
    sim.engine.update_settings(auto_receipts=True, receipt_delay_ms=300, read_delay_ms=1_000)
    await sim.link()
    message = text()
    await sim.engine.send("s1", message)
    await sim.clock.advance(0.299)
    assert receipts(sim) == []
    await sim.clock.advance(0.001)
    assert receipts(sim) == [(message.wa_message_id, ReceiptType.DELIVERED)]
    await sim.clock.advance(0.999)
    assert len(receipts(sim)) == 1
    await sim.clock.advance(0.001)
    assert receipts(sim)[1] == (message.wa_message_id, ReceiptType.READ)
    await sim.clock.advance(60)
    assert len(receipts(sim)) == 2
    receipt = sim.of(ReceiptReceived)[0]
    assert receipt.chat_jid == receipt.sender_jid == user_jid(CUSTOMER)
    assert receipt.timestamp == sim.clock.now() - timedelta(seconds=61)


async def test_voice_notes_are_played_after_read(sim: Sim) -> None:
    sim.engine.update_settings(
        auto_receipts=True, receipt_delay_ms=100, read_delay_ms=100, played_delay_ms=100
    )
    await sim.link()
    voice = OutgoingMessage(
        new_wa_message_id(),
        user_jid(CUSTOMER),
        MessageType.VOICE,
        media=OutgoingMedia(b"OggS....", "audio/ogg; codecs=opus"),
    )
    await sim.engine.send("s1", voice)
    await sim.clock.advance(0.31)
    assert [t for _, t in receipts(sim)] == [
        ReceiptType.DELIVERED,
        ReceiptType.READ,
        ReceiptType.PLAYED,
    ]


async def test_duplicates_and_reactions_get_no_new_receipts(sim: Sim) -> None:
    sim.engine.update_settings(auto_receipts=True, receipt_delay_ms=10, read_delay_ms=10)
    await sim.link()
    message = text()
    await sim.engine.send("s1", message)
    await sim.engine.send("s1", message)
    await sim.engine.send(
        "s1",
        OutgoingMessage(
            new_wa_message_id(),
            user_jid(CUSTOMER),
            MessageType.REACTION,
            reaction=Reaction(message.wa_message_id, "❤"),
        ),
    )
    await sim.clock.advance(1)
    assert receipts(sim) == [
        (message.wa_message_id, ReceiptType.DELIVERED),
        (message.wa_message_id, ReceiptType.READ),
    ]


async def test_turning_auto_receipts_off_stops_pending_ones(sim: Sim) -> None:
    sim.engine.update_settings(auto_receipts=True, receipt_delay_ms=100, read_delay_ms=100)
    await sim.link()
    await sim.engine.send("s1", text())
    await sim.clock.advance(0.1)
    sim.engine.update_settings(auto_receipts=False)
    await sim.clock.advance(1)
    assert [t for _, t in receipts(sim)] == [ReceiptType.DELIVERED]


async def test_receipt_on_demand(sim: Sim) -> None:
    await sim.link()
    message = text()
    await sim.engine.send("s1", message)
    await sim.engine.receipt("s1", message.wa_message_id, "read")
    await sim.engine.receipt("s1", message.wa_message_id, ReceiptType.PLAYED)
    assert receipts(sim) == [
        (message.wa_message_id, ReceiptType.READ),
        (message.wa_message_id, ReceiptType.PLAYED),
    ]
    with pytest.raises(NotFound) as missing:
        await sim.engine.receipt("s1", "3EB0UNKNOWN", "read")
    assert missing.value.code == "message_not_found"
    with pytest.raises(Invalid) as refused:
        await sim.engine.receipt("s1", message.wa_message_id, "seen")
    assert refused.value.code == "invalid_receipt"


async def test_receipts_for_a_closed_session_arrive_after_it_reconnects(sim: Sim) -> None:
    sim.engine.update_settings(auto_receipts=True, receipt_delay_ms=1_000, read_delay_ms=1_000)
    jid = await sim.link()
    message = text()
    await sim.engine.send("s1", message)
    await sim.engine.close_session("s1")
    await sim.clock.advance(5)
    assert receipts(sim) == []
    assert sim.engine.held_events("s1") == 2
    await sim.open(resume=True, jid=jid)
    assert sim.kinds()[-3:] == ["Connected", "ReceiptReceived", "ReceiptReceived"]
    assert sim.engine.held_events("s1") == 0


async def test_mark_read_and_presence_are_recorded(sim: Sim) -> None:
    await sim.link()
    chat = user_jid(CUSTOMER)
    await sim.engine.mark_read("s1", chat, ["3A01", "3A02"], chat)
    await sim.engine.send_presence("s1", chat, ChatPresence.TYPING)
    await sim.engine.send_presence("s1", chat, ChatPresence.PAUSED)
    [read] = sim.engine.reads("s1")
    assert (read.chat_jid, read.message_ids, read.sender_jid) == (chat, ("3A01", "3A02"), chat)
    assert [p.presence for p in sim.engine.presences("s1")] == [
        ChatPresence.TYPING,
        ChatPresence.PAUSED,
    ]
