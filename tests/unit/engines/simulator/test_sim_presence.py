"""Customers' presence played by the simulator, the number's own presence, and
Brazilian numbers found with or without the ninth digit."""

from __future__ import annotations

import pytest
from simkit import CUSTOMER, Sim

from zapgate.domain.errors import Conflict, EngineError, Invalid
from zapgate.domain.messages import ChatPresence
from zapgate.engines.events import ChatPresenceUpdate, PresenceUpdate
from zapgate.engines.simulator.network import brazilian_alternative

JID = f"{CUSTOMER}@s.whatsapp.net"


async def test_a_customer_types_in_a_chat_and_in_a_group(sim: Sim) -> None:
    await sim.link()
    await sim.engine.presence("s1", from_phone=CUSTOMER, presence="recording")
    await sim.engine.presence("s1", from_phone=CUSTOMER, presence="typing", group="1@g.us")
    assert sim.of(ChatPresenceUpdate) == [
        ChatPresenceUpdate("s1", JID, JID, ChatPresence.RECORDING, sender_phone=CUSTOMER),
        ChatPresenceUpdate("s1", "1@g.us", JID, ChatPresence.TYPING, sender_phone=CUSTOMER),
    ]


async def test_a_customer_goes_offline_with_a_last_seen(sim: Sim) -> None:
    await sim.link()
    await sim.engine.presence("s1", from_phone=CUSTOMER, presence="available")
    await sim.engine.presence("s1", from_phone=CUSTOMER, presence="unavailable")
    assert sim.of(PresenceUpdate) == [
        PresenceUpdate("s1", JID, available=True),
        PresenceUpdate("s1", JID, available=False, last_seen=sim.clock.now()),
    ]


async def test_presence_needs_a_connected_session_and_a_known_kind(sim: Sim) -> None:
    with pytest.raises(Conflict):
        await sim.engine.presence("s1", from_phone=CUSTOMER, presence="typing")
    await sim.link()
    with pytest.raises(Invalid) as wrong:
        await sim.engine.presence("s1", from_phone=CUSTOMER, presence="dancing")
    assert wrong.value.code == "invalid_presence"


async def test_own_presence_is_recorded_when_connected(sim: Sim) -> None:
    with pytest.raises(EngineError):
        await sim.engine.set_presence("s1", True)
    await sim.link()
    before = sim.engine.online("s1")
    await sim.engine.set_presence("s1", False)
    await sim.engine.set_presence("s1", True)
    assert sim.engine.online("s1") == [*before, False, True]


def test_brazilian_alternative_adds_or_drops_the_ninth_digit() -> None:
    assert brazilian_alternative("5511988887777") == "551188887777"
    assert brazilian_alternative("551188887777") == "5511988887777"
    assert brazilian_alternative("551133334444") is None  # a landline
    assert brazilian_alternative("14155550100") is None


async def test_a_number_is_found_in_the_form_whatsapp_knows(sim: Sim) -> None:
    await sim.link()
    await sim.engine.set_on_whatsapp("5511988887777", False)
    await sim.engine.set_on_whatsapp("551188887777", True)
    (with_nine,) = await sim.engine.check_numbers("s1", ["5511988887777"])
    assert (with_nine.on_whatsapp, with_nine.jid) == (True, "551188887777@s.whatsapp.net")
    await sim.engine.set_on_whatsapp("551188887777", None)
    (gone,) = await sim.engine.check_numbers("s1", ["5511988887777"])
    assert (gone.on_whatsapp, gone.jid) == (False, None)
