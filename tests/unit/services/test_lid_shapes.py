"""Shapes give the phone JID as ``jid`` whenever the phone is known, and the LID beside it
(pure functions: poll voters, calls)."""

from __future__ import annotations

from datetime import UTC, datetime

from zapgate.engines.events import CallReceived, PollVoteReceived
from zapgate.services.calls import call_payload
from zapgate.services.inbound.polls import voter_of
from zapgate.store.tables.messages import MessageRow

AT = datetime(2026, 1, 1, tzinfo=UTC)
LID = "123456789012345@lid"


def test_a_voter_by_lid_with_the_phone_is_keyed_and_shown_by_phone() -> None:
    vote = PollVoteReceived(
        "s1", "3APOLL", LID, LID, AT, voter_phone="5511988887777", voter_lid=LID
    )
    voter = voter_of(vote)
    assert voter["key"] == voter["jid"] == "5511988887777@s.whatsapp.net"
    assert (voter["phone"], voter["lid"]) == ("5511988887777", LID)


def test_a_voter_by_lid_alone_keeps_the_lid() -> None:
    voter = voter_of(PollVoteReceived("s1", "3APOLL", LID, LID, AT))
    assert (voter["jid"], voter["phone"], voter["lid"]) == (LID, None, LID)


def test_a_call_by_lid_names_the_phone_the_stored_contact_knows() -> None:
    call = CallReceived("s1", "CALL1", LID, AT, caller_lid=LID)
    assert call_payload(call, None)["from"] == {"phone": None, "jid": LID, "lid": LID}
    row = MessageRow(
        id="m1", chat_id="c1", payload={"contact_phone": "5511988887777", "contact_lid": LID}
    )
    assert call_payload(call, row)["from"] == {
        "phone": "5511988887777",
        "jid": "5511988887777@s.whatsapp.net",
        "lid": LID,
    }
