"""``clean_text``: engine events without NUL characters, and untouched when there is none."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from zapgate.domain.messages import ContactCard, Location, MessageType
from zapgate.engines.clean import clean_text
from zapgate.engines.events import (
    GroupInfo,
    GroupParticipant,
    InboundMessage,
    MediaRef,
    MessageReceived,
    Reaction,
)

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _message(n: str) -> MessageReceived:
    return MessageReceived(
        "s1",
        InboundMessage(
            wa_message_id="3EB0AAA",
            chat_jid="5511999990001@s.whatsapp.net",
            sender_jid="5511999990001@s.whatsapp.net",
            timestamp=WHEN,
            type=MessageType.DOCUMENT,
            push_name=f"An{n}a",
            text=None,
            caption=f"no{n}ta",
            media=MediaRef("application/pdf", 10, f"no{n}ta.pdf", "ab", {"message": f"x{n}"}),
            location=Location(1.5, 2.5, name=f"Lo{n}ja", address=None),
            contact=ContactCard(f"Bi{n}a", "5511900001111", f"FN:Bi{n}a"),
            reaction=Reaction("3EB0MINE", f"{n}❤"),
        ),
    )


def test_every_string_is_cleaned_and_nothing_else_changes() -> None:
    cleaned = clean_text(_message("\x00"))
    expected = _message("")
    assert expected.message.media is not None
    # The media handle is opaque (a download needs it as sent) and never stored.
    media = replace(expected.message.media, handle={"message": "x\x00"})
    assert cleaned == replace(expected, message=replace(expected.message, media=media))
    assert cleaned.message.type is MessageType.DOCUMENT
    assert cleaned.message.timestamp is WHEN


def test_tuples_and_lists_of_events() -> None:
    group = GroupInfo(
        "s1",
        "1203@g.us",
        "Fam\x00ília",
        participants=(GroupParticipant("a@s.whatsapp.net"), GroupParticipant("b\x00@lid")),
        topic="\x00",
    )
    (cleaned,) = clean_text([group])
    assert cleaned == GroupInfo(
        "s1",
        "1203@g.us",
        "Família",
        participants=(GroupParticipant("a@s.whatsapp.net"), GroupParticipant("b@lid")),
        topic="",
    )


def test_clean_events_are_returned_as_they_are() -> None:
    event = _message("")
    assert clean_text(event) is event
    events = [event]
    assert clean_text(events) is events
