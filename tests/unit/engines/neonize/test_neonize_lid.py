"""Chats WhatsApp addresses by LID, translated from the library's real protobufs: the LID
and, when WhatsApp gives it alongside (``SenderAlt``, ``RecipientAlt``), the phone."""

from __future__ import annotations

from neonize.events import MessageEv
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.Neonize_pb2 import GetJIDFromStoreReturnFunction
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize_harness import Harness

from zapgate.engines.events import InboundMessage, MessageReceived
from zapgate.services.inbound.work import party_jid, party_lid

PHONE = npb.JID(User="5511988887777", Server="s.whatsapp.net")
LID = npb.JID(User="123456789012345", Server="lid")
ME = npb.JID(User="5511999990001", Server="s.whatsapp.net")
GROUP = npb.JID(User="120363000000000001", Server="g.us")
TS_MS = 1_767_268_800_000


def _lid_ev(source: npb.MessageSource, msg_id: str = "3EB0LID") -> MessageEv:
    info = npb.MessageInfo(
        MessageSource=source, ID=msg_id, Pushname="Maria", Timestamp=TS_MS, Type="text"
    )
    return MessageEv(Info=info, Message=e2e.Message(conversation="oi"))


def _translated(source: npb.MessageSource, h: Harness | None = None) -> InboundMessage:
    h = h or Harness()
    h.push(_lid_ev(source))
    assert len(h.events) == 1, h.events
    event = h.events[0]
    assert isinstance(event, MessageReceived)
    return event.message


def test_a_lid_addressed_message_with_the_alt_phone_gives_both() -> None:
    msg = _translated(
        npb.MessageSource(
            Chat=LID, Sender=LID, SenderAlt=PHONE, IsFromMe=False, AddressingMode=npb.LID
        )
    )
    assert msg.chat_jid == "123456789012345@lid"
    assert msg.sender_jid == "123456789012345@lid"
    assert msg.sender_lid == "123456789012345@lid"
    assert msg.sender_phone == "5511988887777"
    assert not msg.is_group
    # The pipeline files it under the phone, with the LID beside it.
    assert party_jid(msg) == "5511988887777@s.whatsapp.net"
    assert party_lid(msg) == "123456789012345@lid"


def _store(answer: npb.JID | None, error: str = "") -> Harness:
    """A session whose library's LID store answers ``answer`` (or fails with ``error``)."""
    full = None
    if answer is not None:  # what the library returns: every field of the JID set
        full = npb.JID(
            User=answer.User,
            Server=answer.Server,
            Device=0,
            RawAgent=0,
            Integrator=0,
            IsEmpty=False,
        )
    reply = GetJIDFromStoreReturnFunction(Jid=full, Error=error).SerializePartialToString()
    return Harness(GetPNFromLID=lambda uuid, data, size: reply)


def test_a_lid_addressed_message_without_the_alt_gives_the_lid_alone() -> None:
    h = _store(None, error="no mapping for that LID")
    msg = _translated(npb.MessageSource(Chat=LID, Sender=LID, AddressingMode=npb.LID), h)
    assert (msg.sender_phone, msg.sender_lid) == (None, "123456789012345@lid")
    assert party_jid(msg) == "123456789012345@lid"
    ((_uuid, data, size),) = h.library.named("GetPNFromLID")
    asked = npb.JID.FromString(data[:size])
    assert (asked.User, asked.Server) == ("123456789012345", "lid")


def test_without_the_alt_the_phone_comes_from_the_libraries_lid_store() -> None:
    h = _store(PHONE)
    msg = _translated(npb.MessageSource(Chat=LID, Sender=LID, AddressingMode=npb.LID), h)
    assert (msg.sender_phone, msg.sender_lid) == ("5511988887777", "123456789012345@lid")
    assert party_jid(msg) == "5511988887777@s.whatsapp.net"
    own = _translated(npb.MessageSource(Chat=LID, Sender=ME, IsFromMe=True), _store(PHONE))
    assert own.chat_phone == "5511988887777"


def test_the_lid_store_is_not_asked_when_the_event_gives_the_phone() -> None:
    h = _store(npb.JID(User="5500000000000", Server="s.whatsapp.net"))
    msg = _translated(npb.MessageSource(Chat=LID, Sender=LID, SenderAlt=PHONE), h)
    assert msg.sender_phone == "5511988887777"
    assert h.library.named("GetPNFromLID") == []


def test_a_phone_addressed_message_with_the_alt_lid_gives_both() -> None:
    msg = _translated(
        npb.MessageSource(Chat=PHONE, Sender=PHONE, SenderAlt=LID, AddressingMode=npb.PN)
    )
    assert (msg.sender_phone, msg.sender_lid) == ("5511988887777", "123456789012345@lid")
    assert party_jid(msg) == "5511988887777@s.whatsapp.net"


def test_our_own_message_in_a_lid_chat_names_the_phone_from_recipient_alt() -> None:
    msg = _translated(
        npb.MessageSource(
            Chat=LID, Sender=ME, RecipientAlt=PHONE, IsFromMe=True, AddressingMode=npb.LID
        )
    )
    assert msg.from_me
    assert msg.chat_jid == "123456789012345@lid"
    assert msg.chat_phone == "5511988887777"
    assert party_jid(msg) == "5511988887777@s.whatsapp.net"
    assert party_lid(msg) == "123456789012345@lid"
    # Without RecipientAlt the LID is all there is.
    bare = _translated(npb.MessageSource(Chat=LID, Sender=ME, IsFromMe=True))
    assert bare.chat_phone is None
    assert party_jid(bare) == "123456789012345@lid"


def test_a_group_member_by_lid_with_the_alt_phone() -> None:
    msg = _translated(
        npb.MessageSource(
            Chat=GROUP, Sender=LID, SenderAlt=PHONE, IsGroup=True, AddressingMode=npb.LID
        )
    )
    assert msg.is_group
    assert msg.chat_jid == "120363000000000001@g.us"
    assert (msg.sender_phone, msg.sender_lid) == ("5511988887777", "123456789012345@lid")
    assert msg.chat_phone is None
    assert party_jid(msg) == "5511988887777@s.whatsapp.net"
