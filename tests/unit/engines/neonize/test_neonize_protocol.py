"""The worker protocol: frames, versions and every engine event round-tripped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from zapgate.domain.behaviour import Behaviour, SyncHistory
from zapgate.domain.errors import EngineError
from zapgate.domain.groups import ParticipantAction
from zapgate.domain.messages import ChatPresence, Location, MessageType, ReceiptType
from zapgate.domain.polls import Poll
from zapgate.engines import base
from zapgate.engines.events import (
    CallReceived,
    ChatPresenceUpdate,
    ClientOutdated,
    Connected,
    ConnectFailure,
    ContactInfo,
    Disconnected,
    EngineEvent,
    EngineFault,
    GroupChanged,
    GroupInfo,
    GroupMember,
    GroupParticipant,
    GroupParticipantsChanged,
    HistorySynced,
    InboundMessage,
    KeepAlive,
    LinkTimedOut,
    LoggedOut,
    MediaRef,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    Paired,
    PollVoteReceived,
    PresenceUpdate,
    QrIssued,
    Reaction,
    ReceiptReceived,
    StreamReplaced,
    TemporaryBan,
)
from zapgate.engines.group_types import GroupField
from zapgate.engines.neonize import protocol
from zapgate.engines.neonize.worker import whatsmeow_postgres_url

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MSG = InboundMessage(
    "3EB0A",
    "1@s.whatsapp.net",
    "1@s.whatsapp.net",
    NOW,
    MessageType.IMAGE,
    media=MediaRef("image/jpeg", 10, handle={"field": "imageMessage", "message": "AA=="}),
    location=Location(1.5, 2.0),
    reaction=Reaction("X", "👍"),
    mentions=("5511@s.whatsapp.net", "9@lid"),
)
EVENTS: list[EngineEvent] = [
    QrIssued("s", "2@x", NOW, 1, 6),
    LinkTimedOut("s", "qr_timeout"),
    Paired("s", "1:2@s.whatsapp.net", "1"),
    Connected("s", "1:2@s.whatsapp.net", "1", push_name="Loja"),
    Disconnected("s", "lookup failed", retryable=True),
    LoggedOut("s", "gone"),
    StreamReplaced("s"),
    TemporaryBan("s", "x", 10.0),
    ClientOutdated("s"),
    ConnectFailure("s", "r", code=1, permanent=True),
    KeepAlive("s", ok=False),
    MessageReceived("s", MSG),
    MessageEdited("s", "c@s.whatsapp.net", "3A1", "novo", NOW, "c@s.whatsapp.net"),
    MessageRevoked("s", "g@g.us", "3A2", NOW, "c@s.whatsapp.net", from_me=True),
    ReceiptReceived("s", "c", ("a", "b"), ReceiptType.PLAYED, NOW),
    MessageReceived(
        "s",
        InboundMessage(
            "3EB0P",
            "1@s.whatsapp.net",
            "1@s.whatsapp.net",
            NOW,
            MessageType.POLL,
            poll=Poll("Q?", ("a", "b"), multiple=True),
        ),
    ),
    PollVoteReceived(
        "s",
        "3EB0P",
        "1@s.whatsapp.net",
        "1@s.whatsapp.net",
        NOW,
        option_hashes=("ab" * 32,),
        voter_phone="1",
        voter_lid="2@lid",
    ),
    ContactInfo("s", "j", phone="1"),
    GroupInfo("s", "g@g.us", "G", (GroupParticipant("j", is_admin=True),)),
    GroupChanged("s", "g@g.us", GroupField.SUBJECT, "New", GroupMember("j"), NOW),
    GroupParticipantsChanged(
        "s",
        "g@g.us",
        ParticipantAction.PROMOTE,
        (GroupMember("j", phone="1", lid="2@lid"),),
        None,
        NOW,
    ),
    CallReceived(
        "s",
        "C1",
        "5511@s.whatsapp.net",
        NOW,
        caller_phone="5511",
        caller_lid="9@lid",
        is_video=True,
        rejected=True,
    ),
    HistorySynced("s", (MSG,)),
    PresenceUpdate("s", "j", available=True, last_seen=NOW),
    ChatPresenceUpdate(
        "s", "g@g.us", "5511@s.whatsapp.net", ChatPresence.RECORDING, "5511", "9@lid"
    ),
    EngineFault("s", "c", "m"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_a_frame(event: EngineEvent) -> None:
    data = protocol.pack({"kind": "event", "event": protocol.encode_event(event)})
    size = protocol.unpack_length(data[:4])
    frame = protocol.parse(data[4 : 4 + size])
    assert protocol.decode_event(frame["event"]) == event


def test_all_event_types_are_covered() -> None:
    assert {type(e).__name__ for e in EVENTS} == set(protocol.EVENT_TYPES)


def test_a_session_spec_carries_its_behaviour() -> None:
    spec = base.SessionSpec(
        "s",
        "o",
        resume=False,
        behaviour=Behaviour(
            reject_calls=True, sync_history=SyncHistory.FULL, proxy_url="socks5://u:p@h:1080"
        ),
    )
    assert protocol.decode_dataclass(base.SessionSpec, protocol.to_json(spec)) == spec


def test_outgoing_media_bytes_survive() -> None:
    msg = base.OutgoingMessage(
        "1",
        "j",
        MessageType.VOICE,
        media=base.OutgoingMedia(b"\x00\xff", "audio/ogg"),
        reply_to=base.QuotedMessage("q"),
    )
    assert protocol.decode_dataclass(base.OutgoingMessage, protocol.to_json(msg)) == msg


def test_an_outgoing_poll_survives() -> None:
    msg = base.OutgoingMessage("1", "j", MessageType.POLL, poll=Poll("Q?", ("a", "b", "c")))
    assert protocol.decode_dataclass(base.OutgoingMessage, protocol.to_json(msg)) == msg


def test_other_versions_and_garbage_are_refused() -> None:
    with pytest.raises(protocol.ProtocolError, match="version"):
        protocol.parse(b'{"v": 2, "kind": "event"}')
    with pytest.raises(protocol.ProtocolError):
        protocol.parse(b"not json")
    with pytest.raises(protocol.ProtocolError):
        protocol.unpack_length((protocol.MAX_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(protocol.ProtocolError, match="unknown event"):
        protocol.decode_event({"name": "Nope"})


def test_errors_cross_the_wire_with_their_code() -> None:
    err = protocol.error_from_payload(
        protocol.error_payload(EngineError("media_too_large", "big", permanent=True))
    )
    assert (err.code, err.message, err.permanent) == ("media_too_large", "big", True)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+asyncpg://u:p@localhost/zap", "postgres://u:p@localhost/zap?sslmode=disable"),
        (
            "postgresql+asyncpg://u:p@db.example/zap?ssl=require",
            "postgres://u:p@db.example/zap?sslmode=require",
        ),
        ("postgresql+asyncpg://u:p@db.example:5432/zap", "postgres://u:p@db.example:5432/zap"),
    ],
)
def test_postgres_url_for_whatsmeow(url: str, expected: str) -> None:
    assert whatsmeow_postgres_url(url) == expected
