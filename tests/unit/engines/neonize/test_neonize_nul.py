"""neonize events holding NUL characters come out of the cleaning as if sent without them.

The worker translates them faithfully (NULs included) and sends them over the protocol;
the server's supervisor cleans every engine event with ``engines.clean.clean_text``.
Here each event goes the same way, worker translation, protocol frame and cleaning, and
must equal the translation of the same event written without the NULs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from neonize.events import GroupInfoEv, HistorySyncEv, MessageEv, PairStatusEv
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2 import (
    Conversation,
    HistorySync,
    HistorySyncMsg,
    Pushname,
)
from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo
from neonize_harness import Harness

from zapgate.engines.clean import clean_text
from zapgate.engines.events import EngineEvent, MessageReceived
from zapgate.engines.neonize import protocol

CUSTOMER = npb.JID(User="5511999990001", Server="s.whatsapp.net")
GROUP = npb.JID(User="120363000000000001", Server="g.us")


def _message(content: e2e.Message, n: str) -> MessageEv:
    source = npb.MessageSource(Chat=CUSTOMER, Sender=CUSTOMER, IsFromMe=False)
    info = npb.MessageInfo(
        MessageSource=source,
        ID="3EB0AAA",
        Pushname=f"Ma{n}ria",
        Timestamp=1_767_268_800_000,
        Type="text",
    )
    return MessageEv(Info=info, Message=content)


def _text(n: str) -> MessageEv:
    return _message(e2e.Message(conversation=f"o{n}i"), n)


def _reply(n: str) -> MessageEv:
    return _message(
        e2e.Message(
            extendedTextMessage=e2e.ExtendedTextMessage(
                text=f"s{n}im", contextInfo=e2e.ContextInfo(stanzaID="3EB0ORIG")
            )
        ),
        n,
    )


def _document(n: str) -> MessageEv:
    return _message(
        e2e.Message(
            documentMessage=e2e.DocumentMessage(
                mimetype="application/pdf", fileName=f"no{n}ta.pdf", caption=f"n{n}f"
            )
        ),
        n,
    )


def _image(n: str) -> MessageEv:
    return _message(
        e2e.Message(
            imageMessage=e2e.ImageMessage(
                mimetype="image/jpeg", caption=f"fo{n}to", directPath="/v/t62/x", mediaKey=b"k"
            )
        ),
        n,
    )


def _location(n: str) -> MessageEv:
    return _message(
        e2e.Message(
            locationMessage=e2e.LocationMessage(
                degreesLatitude=-23.5, degreesLongitude=-46.6, name=f"Lo{n}ja", address=f"Rua {n}A"
            )
        ),
        n,
    )


def _contact(n: str) -> MessageEv:
    vcard = f"BEGIN:VCARD\nFN:A{n}na\nTEL;waid=5511988887777:+55 11 98888-7777\nEND:VCARD"
    return _message(
        e2e.Message(contactMessage=e2e.ContactMessage(displayName=f"A{n}na", vcard=vcard)), n
    )


def _reaction(n: str) -> MessageEv:
    return _message(
        e2e.Message(
            reactionMessage=e2e.ReactionMessage(
                key=MessageKey(
                    remoteJID="5511999990001@s.whatsapp.net", fromMe=True, ID="3EB0MINE"
                ),
                text=f"{n}👍",
            )
        ),
        n,
    )


def _history(n: str) -> HistorySyncEv:
    web = WebMessageInfo(
        key=MessageKey(remoteJID="5511999990001@s.whatsapp.net", fromMe=False, ID="3EB0OLD"),
        message=e2e.Message(conversation=f"an{n}tiga"),
        messageTimestamp=1_767_268_800,
        pushName=f"Ma{n}ria",
    )
    data = HistorySync(
        syncType=HistorySync.RECENT,
        conversations=[
            Conversation(ID="5511999990001@s.whatsapp.net", messages=[HistorySyncMsg(message=web)])
        ],
        pushnames=[Pushname(ID="5511999990001@s.whatsapp.net", pushname=f"Ma{n}ria")],
    )
    return HistorySyncEv(Data=data)


def _paired(n: str) -> PairStatusEv:
    device = npb.JID(User="5511900000000", Server="s.whatsapp.net", Device=12)
    return PairStatusEv(
        ID=device, BusinessName=f"Lo{n}ja", Platform="android", Status=PairStatusEv.SUCCESS
    )


def _group_join(n: str) -> GroupInfoEv:
    return GroupInfoEv(JID=GROUP, Join=[CUSTOMER])


def _group_info(n: str) -> dict[str, Callable[..., bytes]]:
    """The library's answer when asked for the group (a join makes the worker ask)."""
    info = npb.GroupInfo(
        JID=GROUP,
        GroupName=npb.GroupName(Name=f"Cli{n}entes"),
        GroupTopic=npb.GroupTopic(Topic=f"a{n}visos"),
        Participants=[npb.GroupParticipant(JID=CUSTOMER, IsAdmin=True)],
    )
    reply = npb.GetGroupInfoReturnFunction(GroupInfo=info).SerializePartialToString()
    return {"GetGroupInfo": lambda uuid, jid, size: reply}


EVENTS: dict[str, Callable[[str], Any]] = {
    "text": _text,
    "reply": _reply,
    "document": _document,
    "image": _image,
    "location": _location,
    "contact": _contact,
    "reaction": _reaction,
    "history": _history,
    "paired": _paired,
    "group": _group_join,
}


def _translated(kind: str, n: str) -> list[EngineEvent]:
    h = Harness(**(_group_info(n) if kind == "group" else {}))
    h.push(EVENTS[kind](n))
    assert h.events, "nothing translated"
    return h.events


def _frame(event: EngineEvent) -> bytes:
    """What the worker writes on its socket for ``event``."""
    return protocol.pack({"kind": "event", "event": protocol.encode_event(event)})


def _through_the_server(frame: bytes) -> EngineEvent:
    """The worker's frame, read by the server, cleaned as the supervisor does."""
    decoded = protocol.decode_event(protocol.parse(frame[4:])["event"])
    return clean_text(decoded)


def _handle(event: EngineEvent) -> dict[str, Any] | None:
    if isinstance(event, MessageReceived) and event.message.media is not None:
        return event.message.media.handle
    return None


def _without_handle(event: EngineEvent) -> EngineEvent:
    if isinstance(event, MessageReceived) and event.message.media is not None:
        media = replace(event.message.media, handle={})
        return replace(event, message=replace(event.message, media=media))
    return event


@pytest.mark.parametrize("kind", EVENTS)
def test_cleaned_as_if_sent_without_nul(kind: str) -> None:
    sent = _translated(kind, "\x00")
    frames = [_frame(event) for event in sent]
    # As WhatsApp sent it (a group change also yields events that carry no text).
    assert any(b"\\u0000" in frame for frame in frames)
    cleaned = [_through_the_server(frame) for frame in frames]
    expected = _translated(kind, "")
    assert [_without_handle(e) for e in cleaned] == [_without_handle(e) for e in expected]
    # A media handle is opaque and never stored: kept as sent, the download needs it.
    assert [_handle(e) for e in cleaned] == [_handle(e) for e in sent]
