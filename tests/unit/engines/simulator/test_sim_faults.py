"""Faults: drops, logout from the phone, bans, silence, the network going down, close()."""

from __future__ import annotations

import asyncio

import pytest
from simkit import CUSTOMER, PHONE, Sim

from zapgate.domain.errors import Conflict, EngineError, Invalid, SessionNotRunning
from zapgate.domain.messages import MessageType
from zapgate.domain.phones import user_jid
from zapgate.engines.base import OutgoingMessage, new_wa_message_id
from zapgate.engines.events import (
    Connected,
    Disconnected,
    LoggedOut,
    MessageReceived,
    QrIssued,
    TemporaryBan,
)
from zapgate.engines.simulator.lifecycle import DIAL_FAILURE


def text() -> OutgoingMessage:
    return OutgoingMessage(new_wa_message_id(), user_jid(CUSTOMER), MessageType.TEXT, "x")


async def test_drop_disconnects_retryably_and_resume_reconnects(sim: Sim) -> None:
    jid = await sim.link()
    await sim.engine.drop("s1")
    [dropped] = sim.of(Disconnected)
    assert dropped.retryable is True
    assert await sim.engine.ping("s1") is False
    with pytest.raises(SessionNotRunning):
        await sim.engine.send("s1", text())
    await sim.open(resume=True, jid=jid)
    assert sim.kinds()[-1] == "Connected"
    assert await sim.engine.ping("s1") is True


async def test_drop_of_a_session_that_is_not_running_is_a_conflict(sim: Sim) -> None:
    with pytest.raises(Conflict) as caught:
        await sim.engine.drop("s1")
    assert caught.value.code == "not_running"


async def test_logout_from_phone_forgets_the_device(sim: Sim) -> None:
    jid = await sim.link()
    await sim.engine.logout_from_phone("s1")
    assert sim.kinds()[-1] == "LoggedOut"
    assert sim.engine.linked_account("s1") is None
    await sim.open(resume=True, jid=jid)
    assert len(sim.of(LoggedOut)) == 2
    with pytest.raises(Conflict) as caught:
        await sim.engine.logout_from_phone("s1")
    assert caught.value.code == "not_linked"


async def test_logout_from_phone_while_closed_shows_on_next_resume(sim: Sim) -> None:
    jid = await sim.link()
    await sim.engine.close_session("s1")
    await sim.engine.logout_from_phone("s1")
    assert sim.of(LoggedOut) == []
    await sim.open(resume=True, jid=jid)
    assert len(sim.of(LoggedOut)) == 1


async def test_resume_with_another_jid_is_logged_out(sim: Sim) -> None:
    await sim.link()
    await sim.engine.close_session("s1")
    await sim.open(resume=True, jid=f"{PHONE}:9@s.whatsapp.net")
    assert sim.kinds()[-1] == "LoggedOut"


async def test_ban_ends_the_session_and_refuses_until_it_expires(sim: Sim) -> None:
    jid = await sim.link()
    await sim.engine.ban("s1", 3600)
    assert sim.of(TemporaryBan) == [TemporaryBan("s1", "101", 3600.0)]
    assert sim.engine.phase("s1") is None
    await sim.clock.advance(600)
    await sim.open(resume=True, jid=jid)
    second = sim.of(TemporaryBan)[-1]
    assert second.expires_in == pytest.approx(3000)
    assert sim.engine.phase("s1") is None
    await sim.clock.advance(3000)
    await sim.open(resume=True, jid=jid)
    assert sim.kinds()[-1] == "Connected"
    # The credentials survived the ban.
    assert sim.engine.linked_account("s1") is not None


async def test_ban_needs_a_linked_device_and_positive_seconds(sim: Sim) -> None:
    with pytest.raises(Conflict) as caught:
        await sim.engine.ban("s1", 60)
    assert caught.value.code == "not_linked"
    await sim.link()
    with pytest.raises(Invalid) as refused:
        await sim.engine.ban("s1", 0)
    assert refused.value.code == "invalid_ban"


async def test_silence_keeps_connected_but_answers_nothing(sim: Sim) -> None:
    await sim.link()
    await sim.engine.silence("s1")
    assert await sim.engine.ping("s1") is False
    before = len(sim.events)
    await sim.engine.incoming("s1", from_phone=CUSTOMER, text="anyone?")
    assert len(sim.events) == before
    send = asyncio.ensure_future(sim.engine.send("s1", text()))
    await sim.clock.advance(29.9)
    assert not send.done()
    await sim.clock.advance(0.1)
    with pytest.raises(EngineError) as caught:
        await send
    assert (caught.value.code, caught.value.permanent) == ("timeout", False)
    assert sim.engine.outbox("s1") == []
    # Answering again delivers what was held.
    await sim.engine.silence("s1", False)
    assert await sim.engine.ping("s1") is True
    assert sim.of(MessageReceived)[0].message.text == "anyone?"


async def test_closing_a_silenced_session_wakes_its_waiting_calls(sim: Sim) -> None:
    jid = await sim.link()
    await sim.engine.silence("s1")
    checks = asyncio.ensure_future(sim.engine.check_numbers("s1", [CUSTOMER]))
    await sim.clock.advance(1)
    await sim.engine.close_session("s1")
    await sim.clock.advance(0)
    with pytest.raises(SessionNotRunning):
        await checks
    await sim.engine.incoming("s1", from_phone=CUSTOMER, text="held")
    await sim.open(resume=True, jid=jid)
    assert await sim.engine.ping("s1") is True
    assert sim.kinds()[-3:] == ["Connected", "ContactInfo", "MessageReceived"]


async def test_network_down_drops_sessions_and_dialing_fails(sim: Sim) -> None:
    jid = await sim.link()
    await sim.open("s2")
    await sim.engine.set_network(False)
    assert len(sim.of(Disconnected)) == 1
    assert len(sim.of(Disconnected, "s2")) == 1
    assert sim.engine.network_up is False
    for _ in range(3):
        await sim.open(resume=True, jid=jid)
        assert sim.of(Disconnected)[-1] == Disconnected("s1", DIAL_FAILURE, retryable=True)
        assert sim.engine.phase("s1") is None
    await sim.open("s2")
    assert sim.kinds("s2")[-1] == "Disconnected"
    assert len(sim.of(QrIssued, "s2")) == 1
    await sim.engine.set_network(True)
    await sim.open(resume=True, jid=jid)
    assert sim.kinds()[-1] == "Connected"


async def test_close_session_emits_nothing_and_keeps_the_device(sim: Sim) -> None:
    await sim.link()
    before = len(sim.events)
    await sim.engine.close_session("s1")
    await sim.engine.close_session("s1")
    assert len(sim.events) == before
    assert sim.engine.linked_account("s1") is not None


async def test_close_cancels_every_timer(sim: Sim) -> None:
    sim.engine.update_settings(auto_receipts=True, receipt_delay_ms=10_000)
    await sim.link("s1")
    await sim.engine.send("s1", text())
    await sim.open("s2")
    await sim.open("s3")
    await sim.engine.request_pairing_code("s3", PHONE)
    await sim.clock.advance(0)
    assert sim.engine.background_tasks >= 3
    assert sim.clock.pending >= 3
    await sim.engine.close()
    assert sim.engine.background_tasks == 0
    assert sim.clock.pending == 0
    before = len(sim.events)
    await sim.clock.advance(1_000)
    assert len(sim.events) == before


async def test_a_failing_sink_does_not_stop_the_engine(sim: Sim) -> None:
    seen: list[object] = []

    def sink(event: object) -> None:
        seen.append(event)
        raise RuntimeError("consumer bug")

    await sim.engine.close()
    await sim.engine.start(sink)
    await sim.open()
    await sim.engine.scan("s1", PHONE)
    await sim.clock.advance(1)
    assert [type(e).__name__ for e in seen] == ["QrIssued", "Paired", "Connected"]
    assert isinstance(seen[-1], Connected)
