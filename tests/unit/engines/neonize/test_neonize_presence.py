"""whatsmeow's chat presence (typing, recording, paused) through the real handlers,
on real neonize protobuf messages."""

from __future__ import annotations

import pytest
from neonize.events import ChatPresenceEv
from neonize.exc import SendPresenceError
from neonize.proto import Neonize_pb2 as npb
from neonize.utils.enum import Presence
from neonize_harness import Harness

from zapgate.domain.messages import ChatPresence
from zapgate.engines.events import ChatPresenceUpdate
from zapgate.engines.neonize.requests import own_presence

CUSTOMER = npb.JID(User="5511999990001", Server="s.whatsapp.net")
CUSTOMER_LID = npb.JID(User="123456789012345", Server="lid")
GROUP = npb.JID(User="120363000000000001", Server="g.us")
State = npb.ChatPresence.ChatPresence
Media = npb.ChatPresence.ChatPresenceMedia


def chat_presence(state: int, media: int, *, chat: npb.JID = CUSTOMER) -> ChatPresenceEv:
    source = npb.MessageSource(Chat=chat, Sender=CUSTOMER, IsGroup=chat.Server == "g.us")
    return ChatPresenceEv(MessageSource=source, State=state, Media=media)


def test_typing_recording_and_paused_in_a_chat() -> None:
    h = Harness()
    h.push(chat_presence(State.COMPOSING, Media.TEXT))
    h.push(chat_presence(State.COMPOSING, Media.AUDIO))
    h.push(chat_presence(State.PAUSED, Media.TEXT))
    assert h.events == [
        ChatPresenceUpdate(
            "s1",
            chat_jid="5511999990001@s.whatsapp.net",
            sender_jid="5511999990001@s.whatsapp.net",
            presence=p,
            sender_phone="5511999990001",
        )
        for p in (ChatPresence.TYPING, ChatPresence.RECORDING, ChatPresence.PAUSED)
    ]


def test_a_member_typing_in_a_group_by_lid_keeps_the_phone() -> None:
    h = Harness()
    source = npb.MessageSource(Chat=GROUP, Sender=CUSTOMER_LID, IsGroup=True)
    source.SenderAlt.CopyFrom(CUSTOMER)
    h.push(ChatPresenceEv(MessageSource=source, State=State.COMPOSING, Media=Media.TEXT))
    assert h.events == [
        ChatPresenceUpdate(
            "s1",
            chat_jid="120363000000000001@g.us",
            sender_jid="123456789012345@lid",
            presence=ChatPresence.TYPING,
            sender_phone="5511999990001",
            sender_lid="123456789012345@lid",
        )
    ]


def test_own_presence_goes_through_send_presence() -> None:
    h = Harness(SendPresence=lambda uuid, value: b"")
    h.session.connected = True
    own_presence(h.session, True)
    own_presence(h.session, False)
    assert h.library.named("SendPresence") == [
        (b"s1.1", Presence.AVAILABLE.value),
        (b"s1.1", Presence.UNAVAILABLE.value),
    ]


def test_own_presence_refused_by_whatsapp_raises() -> None:
    h = Harness(SendPresence=lambda uuid, value: b"not connected")
    h.session.connected = True
    with pytest.raises(SendPresenceError):
        own_presence(h.session, True)
