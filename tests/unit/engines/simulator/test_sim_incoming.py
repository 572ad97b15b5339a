"""Customers writing in: text, contacts with LIDs, groups, media, other message kinds."""

from __future__ import annotations

import hashlib

import pytest
from simkit import CUSTOMER, PHONE, Sim

from zapgate.domain.errors import Conflict, EngineError, Invalid
from zapgate.domain.messages import ContactCard, Location, MessageType
from zapgate.domain.phones import user_jid
from zapgate.engines.base import OutgoingMessage, new_wa_message_id
from zapgate.engines.events import (
    ContactInfo,
    GroupInfo,
    MediaRef,
    MessageReceived,
    Reaction,
    ReceiptReceived,
)
from zapgate.engines.simulator import SimMedia
from zapgate.engines.simulator.qr import lid_for


async def test_text_from_a_customer(sim: Sim) -> None:
    await sim.link()
    wa_id = await sim.engine.incoming(
        "s1", from_phone="+55 11 98888-0002", text="Oi!", push_name="Ana", quoted_id="3EB0AB"
    )
    [contact] = sim.of(ContactInfo)
    assert contact == ContactInfo("s1", user_jid(CUSTOMER), CUSTOMER, lid_for(CUSTOMER), "Ana")
    [received] = sim.of(MessageReceived)
    message = received.message
    assert message.wa_message_id == wa_id
    assert wa_id.startswith("3A")
    assert (message.chat_jid, message.sender_jid, message.sender_phone) == (
        user_jid(CUSTOMER),
        user_jid(CUSTOMER),
        CUSTOMER,
    )
    assert message.sender_lid is not None
    assert message.sender_lid.endswith("@lid")
    assert (message.type, message.text, message.push_name, message.is_group) == (
        MessageType.TEXT,
        "Oi!",
        "Ana",
        False,
    )
    assert message.quoted_id == "3EB0AB"
    assert message.from_me is False
    assert message.timestamp == sim.clock.now()


async def test_contact_info_only_when_news(sim: Sim) -> None:
    await sim.link()
    await sim.engine.incoming("s1", from_phone=CUSTOMER, text="1", push_name="Ana")
    await sim.engine.incoming("s1", from_phone=CUSTOMER, text="2", push_name="Ana")
    await sim.engine.incoming("s1", from_phone=CUSTOMER, text="3")
    await sim.engine.incoming("s1", from_phone=CUSTOMER, text="4", push_name="Ana Maria")
    assert [c.push_name for c in sim.of(ContactInfo)] == ["Ana", "Ana Maria"]
    assert len(sim.of(MessageReceived)) == 4


async def test_lids_are_stable_and_distinct() -> None:
    assert lid_for(CUSTOMER) == lid_for(CUSTOMER)
    assert lid_for(CUSTOMER) != lid_for(PHONE)
    digits = lid_for(CUSTOMER).removesuffix("@lid")
    assert digits.isdigit()
    assert len(digits) == 14


async def test_group_messages_create_and_grow_the_group(sim: Sim) -> None:
    await sim.link()
    other = "5511977770003"
    await sim.engine.incoming("s1", from_phone=CUSTOMER, text="hi all", group="Family")
    [info] = sim.of(GroupInfo)
    assert info.name == "Family"
    assert info.jid.endswith("@g.us")
    assert [p.phone for p in info.participants] == [CUSTOMER, PHONE]
    assert info.participants[0].is_super_admin
    [received] = sim.of(MessageReceived)
    assert received.message.is_group
    assert received.message.chat_jid == info.jid
    assert received.message.sender_jid == user_jid(CUSTOMER)

    await sim.engine.incoming("s1", from_phone=CUSTOMER, text="again", group=info.jid)
    assert len(sim.of(GroupInfo)) == 1
    await sim.engine.incoming(
        "s1", from_phone=other, text="me too", group=info.jid, group_name="Family 2026"
    )
    latest = sim.of(GroupInfo)[-1]
    assert latest.name == "Family 2026"
    assert [p.phone for p in latest.participants] == [CUSTOMER, PHONE, other]
    assert await sim.engine.get_groups("s1") == [latest]


async def test_groups_are_listed_per_member(sim: Sim) -> None:
    await sim.link("s1", PHONE)
    await sim.link("s2", "5511966660004")
    await sim.engine.incoming("s1", from_phone=CUSTOMER, text="x", group="Only s1")
    assert [g.name for g in await sim.engine.get_groups("s1")] == ["Only s1"]
    assert await sim.engine.get_groups("s2") == []


async def test_sending_to_a_group_gets_receipts_from_a_member(sim: Sim) -> None:
    sim.engine.update_settings(auto_receipts=True, receipt_delay_ms=10, read_delay_ms=10)
    await sim.link()
    await sim.engine.incoming("s1", from_phone=CUSTOMER, text="x", group="Team")
    jid = sim.of(GroupInfo)[0].jid
    message = OutgoingMessage(new_wa_message_id(), jid, MessageType.TEXT, "hello team")
    await sim.engine.send("s1", message)
    await sim.clock.advance(1)
    delivered = sim.of(ReceiptReceived)[0]
    assert (delivered.chat_jid, delivered.sender_jid) == (jid, user_jid(CUSTOMER))
    assert sim.engine.outbox("s1")[0].to_jid == jid


async def test_a_bad_group_jid_is_refused(sim: Sim) -> None:
    await sim.link()
    with pytest.raises(Invalid) as caught:
        await sim.engine.incoming("s1", from_phone=CUSTOMER, text="x", group="nonsense@g.us")
    assert caught.value.code == "invalid_jid"


async def test_media_round_trip(sim: Sim) -> None:
    await sim.link()
    data = bytes(range(256)) * 40
    await sim.engine.incoming(
        "s1",
        from_phone=CUSTOMER,
        media=SimMedia(data, "image/jpeg", "photo.jpg"),
        caption="look",
    )
    message = sim.of(MessageReceived)[0].message
    assert message.type is MessageType.IMAGE
    assert message.caption == "look"
    assert message.media is not None
    assert (message.media.mimetype, message.media.size, message.media.filename) == (
        "image/jpeg",
        len(data),
        "photo.jpg",
    )
    assert message.media.sha256 == hashlib.sha256(data).hexdigest()
    assert await sim.engine.download_media("s1", message.media) == data


async def test_media_survives_a_restart(sim: Sim) -> None:
    jid = await sim.link()
    pdf = SimMedia(b"%PDF-1.7", "application/pdf")
    await sim.engine.incoming("s1", from_phone=CUSTOMER, media=pdf)
    ref = sim.of(MessageReceived)[0].message.media
    assert ref is not None
    assert sim.of(MessageReceived)[0].message.type is MessageType.DOCUMENT
    await sim.restart()
    await sim.open(resume=True, jid=jid)
    assert await sim.engine.download_media("s1", ref) == b"%PDF-1.7"


async def test_unknown_media_is_a_permanent_error(sim: Sim) -> None:
    await sim.link()
    for handle in ({}, {"simulator": "0" * 32}, {"simulator": "../../etc/passwd"}):
        with pytest.raises(EngineError) as caught:
            await sim.engine.download_media("s1", MediaRef("image/png", handle=handle))
        assert (caught.value.code, caught.value.permanent) == ("media_not_found", True)


@pytest.mark.parametrize(
    ("mimetype", "kind"),
    [
        ("audio/ogg; codecs=opus", MessageType.VOICE),
        ("audio/mpeg", MessageType.AUDIO),
        ("video/mp4", MessageType.VIDEO),
        ("image/webp", MessageType.STICKER),
        ("application/zip", MessageType.DOCUMENT),
    ],
)
async def test_media_type_follows_the_mimetype(sim: Sim, mimetype: str, kind: MessageType) -> None:
    await sim.link()
    await sim.engine.incoming("s1", from_phone=CUSTOMER, media=SimMedia(b"x", mimetype))
    assert sim.of(MessageReceived)[0].message.type is kind


async def test_location_contact_and_reaction(sim: Sim) -> None:
    await sim.link()
    place = Location(-23.55, -46.63, "Paulista")
    card = ContactCard("Bob", "5511955550005")
    like = Reaction("3EB0FF", "👍")
    await sim.engine.incoming("s1", from_phone=CUSTOMER, location=place)
    await sim.engine.incoming("s1", from_phone=CUSTOMER, contact=card)
    await sim.engine.incoming("s1", from_phone=CUSTOMER, reaction=like, type="reaction")
    kinds = [
        (m.message.type, m.message.location, m.message.contact, m.message.reaction)
        for m in sim.of(MessageReceived)
    ]
    assert kinds == [
        (MessageType.LOCATION, place, None, None),
        (MessageType.CONTACT, None, card, None),
        (MessageType.REACTION, None, None, like),
    ]


async def test_incoming_validation(sim: Sim) -> None:
    with pytest.raises(Conflict) as caught:
        await sim.engine.incoming("s1", from_phone=CUSTOMER, text="x")
    assert caught.value.code == "not_linked"
    await sim.link()
    for kwargs, code in (
        ({"from_phone": CUSTOMER}, "missing_content"),
        ({"from_phone": CUSTOMER, "text": "   "}, "missing_content"),
        ({"from_phone": CUSTOMER, "type": "image", "text": "no media"}, "missing_content"),
        ({"from_phone": CUSTOMER, "type": "gif", "text": "x"}, "invalid_type"),
        ({"from_phone": "12", "text": "x"}, "invalid_phone"),
        ({"from_phone": PHONE, "text": "to myself"}, "invalid_sender"),
    ):
        with pytest.raises(Invalid) as caught:
            await sim.engine.incoming("s1", **kwargs)  # type: ignore[arg-type]
        assert caught.value.code == code, kwargs
    assert sim.of(MessageReceived) == []


async def test_a_chosen_message_id_is_kept(sim: Sim) -> None:
    await sim.link()
    wa_id = await sim.engine.incoming("s1", from_phone=CUSTOMER, text="x", wa_message_id="3AXY")
    assert wa_id == "3AXY"
    assert sim.of(MessageReceived)[0].message.wa_message_id == "3AXY"
