"""Edits and deletes for everyone on the simulated network: ours, checked against what we
sent and kept across a restart, and the customer's, as the events WhatsApp delivers."""

from __future__ import annotations

import pytest
from simkit import CUSTOMER, Sim

from zapgate.domain.errors import EngineError, Invalid
from zapgate.domain.messages import MessageType
from zapgate.domain.phones import user_jid
from zapgate.engines.base import OutgoingMessage, new_wa_message_id
from zapgate.engines.events import MessageEdited, MessageReceived, MessageRevoked

TO = user_jid(CUSTOMER)


async def test_our_edit_and_revoke_change_what_we_sent_and_survive_a_restart(sim: Sim) -> None:
    await sim.link()
    wa_id = new_wa_message_id()
    mention = (user_jid("5511977776666"),)
    await sim.engine.send(
        "s1", OutgoingMessage(wa_id, TO, MessageType.TEXT, "oi", mentions=mention)
    )
    await sim.engine.edit_message("s1", TO, wa_id, "olá")
    await sim.engine.revoke_message("s1", TO, wa_id)
    with pytest.raises(EngineError) as again:
        await sim.engine.edit_message("s1", TO, wa_id, "de novo")
    assert again.value.code == "message_revoked"
    with pytest.raises(EngineError) as unknown:
        await sim.engine.revoke_message("s1", TO, "3EB0NEVERSENT")
    assert unknown.value.code == "message_not_found"
    with pytest.raises(EngineError) as elsewhere:
        await sim.engine.edit_message("s1", user_jid("5511977776666"), wa_id, "x")
    assert elsewhere.value.code == "message_not_found"
    await sim.restart()
    [entry] = sim.engine.outbox("s1")
    assert (entry.text, entry.edits, entry.revoked, entry.mentions) == (
        "oi",
        ["olá"],
        True,
        list(mention),
    )


async def test_the_customer_edits_and_revokes_with_mentions(sim: Sim) -> None:
    await sim.link()
    wa_id = await sim.engine.incoming(
        "s1", from_phone=CUSTOMER, text="oi", mentions=("5511999990001",)
    )
    await sim.engine.incoming("s1", from_phone=CUSTOMER, type="edit", message_id=wa_id, text="olá")
    await sim.engine.incoming(
        "s1", from_phone=CUSTOMER, type="revoke", message_id=wa_id, group="Loja"
    )
    [received] = sim.of(MessageReceived)
    assert received.message.mentions == ("5511999990001@s.whatsapp.net",)
    [edited] = sim.of(MessageEdited)
    assert (edited.chat_jid, edited.wa_message_id, edited.text, edited.sender_jid) == (
        TO,
        wa_id,
        "olá",
        TO,
    )
    [revoked] = sim.of(MessageRevoked)
    assert revoked.chat_jid.endswith("@g.us")
    with pytest.raises(Invalid) as missing:
        await sim.engine.incoming("s1", from_phone=CUSTOMER, type="edit", message_id=wa_id)
    assert missing.value.code == "missing_content"
