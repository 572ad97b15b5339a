"""Edits, deletes for everyone and mentions through neonize, on its real protobuf types:
what we send is what the library's own builders make, and what a customer's phone sends
arrives as the engine events the rest of zapgate stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from neonize.builder import build_edit, build_revoke
from neonize.events import MessageEv
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize_harness import Harness
from test_neonize_send import connected, sent_message

from zapgate.domain.messages import MessageType
from zapgate.engines import base
from zapgate.engines.events import MessageEdited, MessageReceived, MessageRevoked
from zapgate.engines.neonize import changes, convert, requests

TO = "5511999990001@s.whatsapp.net"
ME = npb.JID(User="5511900000000", Server="s.whatsapp.net")
CUSTOMER = npb.JID(User="5511999990001", Server="s.whatsapp.net")
GROUP = npb.JID(User="120363000000000001", Server="g.us")
TS_MS = 1_767_268_800_000  # 2026-01-01 12:00:00 UTC


def without_time(message: e2e.Message) -> e2e.Message:
    copy = e2e.Message()
    copy.CopyFrom(message)
    copy.editedMessage.message.protocolMessage.ClearField("timestampMS")
    return copy


def test_an_edit_is_the_message_the_library_builds() -> None:
    ours = changes.edit_message(TO, "3EB0MINE", "novo texto")
    library = build_edit(convert.make_jid(TO), "3EB0MINE", e2e.Message(conversation="novo texto"))
    assert without_time(ours) == without_time(library)
    protocol = ours.editedMessage.message.protocolMessage
    assert protocol.type == e2e.ProtocolMessage.MESSAGE_EDIT
    assert (protocol.key.ID, protocol.key.fromMe, protocol.key.remoteJID) == ("3EB0MINE", True, TO)
    assert protocol.timestampMS > 0


def test_a_revoke_is_the_message_the_library_builds() -> None:
    ours = changes.revoke_message(TO, "3EB0MINE")
    assert ours == build_revoke(convert.make_jid(TO), ME, "3EB0MINE", ME)
    assert ours.protocolMessage.type == e2e.ProtocolMessage.REVOKE


def test_edit_and_revoke_go_out_through_send_message() -> None:
    h = connected()
    requests.edit(h.session, TO, "3EB0MINE", "@5511977776666 olá", ["5511977776666@s.whatsapp.net"])
    to, message = sent_message(h)
    assert (to.User, to.Server) == ("5511999990001", "s.whatsapp.net")
    edited = message.editedMessage.message.protocolMessage.editedMessage
    assert edited.extendedTextMessage.text == "@5511977776666 olá"
    assert list(edited.extendedTextMessage.contextInfo.mentionedJID) == [
        "5511977776666@s.whatsapp.net"
    ]
    requests.revoke(h.session, TO, "3EB0MINE")
    _, revoke = sent_message(h)
    assert (revoke.protocolMessage.type, revoke.protocolMessage.key.ID) == (
        e2e.ProtocolMessage.REVOKE,
        "3EB0MINE",
    )


def test_mentions_go_in_the_context_of_a_text_and_a_reply() -> None:
    h = connected()
    mention = ("5511977776666@s.whatsapp.net",)
    requests.send(
        h.session,
        base.OutgoingMessage(
            "3EB0A", TO, MessageType.TEXT, text="@5511977776666", mentions=mention
        ),
    )
    _, message = sent_message(h)
    assert list(message.extendedTextMessage.contextInfo.mentionedJID) == list(mention)
    requests.send(
        h.session,
        base.OutgoingMessage(
            "3EB0B",
            TO,
            MessageType.TEXT,
            text="sim",
            reply_to=base.QuotedMessage("3EB0ORIG", text="pode?"),
            mentions=mention,
        ),
    )
    _, reply = sent_message(h)
    context = reply.extendedTextMessage.contextInfo
    assert (context.stanzaID, list(context.mentionedJID)) == ("3EB0ORIG", list(mention))


def message_ev(content: e2e.Message, *, chat: npb.JID = CUSTOMER, from_me: bool = False) -> Any:
    source = npb.MessageSource(
        Chat=chat, Sender=CUSTOMER, IsFromMe=from_me, IsGroup=chat.Server == "g.us"
    )
    info = npb.MessageInfo(MessageSource=source, ID="3AEDITID", Timestamp=TS_MS, Type="text")
    return MessageEv(Info=info, Message=content)


def edit_protocol(text_message: e2e.Message) -> e2e.ProtocolMessage:
    return e2e.ProtocolMessage(
        key=MessageKey(fromMe=False, ID="3AORIGINAL", remoteJID=TO),
        type=e2e.ProtocolMessage.MESSAGE_EDIT,
        editedMessage=text_message,
        timestampMS=TS_MS,
    )


@pytest.mark.parametrize("wrapped", [True, False])
def test_a_customer_edit_arrives_as_message_edited(wrapped: bool) -> None:
    protocol = edit_protocol(e2e.Message(conversation="quero 3"))
    content = (
        e2e.Message(
            editedMessage=e2e.FutureProofMessage(message=e2e.Message(protocolMessage=protocol))
        )
        if wrapped
        else e2e.Message(protocolMessage=protocol)
    )
    h = Harness()
    h.push(message_ev(content))
    assert h.events == [
        MessageEdited(
            "s1",
            TO,
            "3AORIGINAL",
            "quero 3",
            datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
            sender_jid=TO,
            from_me=False,
        )
    ]


def test_an_edited_caption_and_a_revoke_in_a_group() -> None:
    h = Harness()
    caption = e2e.Message(imageMessage=e2e.ImageMessage(caption="nova legenda"))
    h.push(message_ev(e2e.Message(protocolMessage=edit_protocol(caption)), chat=GROUP))
    revoke = e2e.ProtocolMessage(
        key=MessageKey(fromMe=False, ID="3AORIGINAL", remoteJID="120363000000000001@g.us"),
        type=e2e.ProtocolMessage.REVOKE,
    )
    h.push(message_ev(e2e.Message(protocolMessage=revoke), chat=GROUP))
    edited, revoked = h.events
    assert isinstance(edited, MessageEdited)
    assert (edited.text, edited.chat_jid) == ("nova legenda", "120363000000000001@g.us")
    assert isinstance(revoked, MessageRevoked)
    assert (revoked.wa_message_id, revoked.sender_jid, revoked.from_me) == (
        "3AORIGINAL",
        TO,
        False,
    )


def test_our_own_revoke_from_the_phone_is_from_me_and_other_protocol_messages_are_dropped() -> None:
    h = Harness()
    revoke = e2e.ProtocolMessage(
        key=MessageKey(fromMe=True, ID="3EB0MINE", remoteJID=TO), type=e2e.ProtocolMessage.REVOKE
    )
    h.push(message_ev(e2e.Message(protocolMessage=revoke), from_me=True))
    ephemeral = e2e.ProtocolMessage(type=e2e.ProtocolMessage.EPHEMERAL_SETTING)
    h.push(message_ev(e2e.Message(protocolMessage=ephemeral)))
    (event,) = h.events
    assert isinstance(event, MessageRevoked)
    assert event.from_me


def test_incoming_mentions_are_carried() -> None:
    h = Harness()
    text = e2e.ExtendedTextMessage(
        text="@5511900000000 oi",
        contextInfo=e2e.ContextInfo(mentionedJID=["5511900000000@s.whatsapp.net", "1234@lid"]),
    )
    h.push(message_ev(e2e.Message(extendedTextMessage=text)))
    (event,) = h.events
    assert isinstance(event, MessageReceived)
    assert event.message.mentions == ("5511900000000@s.whatsapp.net", "1234@lid")
