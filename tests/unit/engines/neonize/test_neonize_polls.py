"""Polls through neonize with only the lowest FFI calls replaced: the library builds the
poll (``BuildPollVoteCreation``) and decrypts votes (``DecryptPollVote``); what goes in
and what comes out are the library's real protobufs.

Not tested here (it needs WhatsApp): that whatsmeow keeps the secret of a poll it sent
and that its decryption of a real vote succeeds; the fake answers what it would.
"""

from __future__ import annotations

import hashlib
from typing import Any

from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize_harness import Harness
from test_neonize_send import TO, connected, sent_message
from test_neonize_translation import CUSTOMER, CUSTOMER_LID, GROUP, inbound, message_ev

from zapgate.domain.messages import MessageType
from zapgate.domain.polls import Poll, option_hash
from zapgate.engines import base
from zapgate.engines.events import PollVoteReceived
from zapgate.engines.neonize import requests

SECRET = bytes(range(32))


def built_poll(name: str, options: list[str], count: int) -> e2e.Message:
    """What whatsmeow's BuildPollCreation answers: the poll and its message secret."""
    return e2e.Message(
        pollCreationMessage=e2e.PollCreationMessage(
            name=name,
            options=[e2e.PollCreationMessage.Option(optionName=o) for o in options],
            selectableOptionsCount=count,
        ),
        messageContextInfo=e2e.MessageContextInfo(messageSecret=SECRET),
    )


def builder(uuid: bytes, name: bytes, options: bytes, size: int, count: int) -> bytes:
    listed = list(npb.ArrayString.FromString(options[:size]).data)
    answer = npb.BuildMessageReturnFunction(Message=built_poll(name.decode(), listed, count))
    return answer.SerializePartialToString()


def test_a_single_choice_poll_is_built_by_the_library_and_sent() -> None:
    h = connected(BuildPollVoteCreation=builder)
    poll = Poll("Which size?", ("S", "M", "L"), multiple=False)
    requests.send(h.session, base.OutgoingMessage("3EB0MINE", TO, MessageType.POLL, poll=poll))
    ((_uuid, name, options, size, count),) = h.library.named("BuildPollVoteCreation")
    assert name == b"Which size?"
    assert list(npb.ArrayString.FromString(options[:size]).data) == ["S", "M", "L"]
    assert count == 1  # whatsmeow: one option per voter
    _, message = sent_message(h)
    created = message.pollCreationMessage
    assert created.name == "Which size?"
    assert [o.optionName for o in created.options] == ["S", "M", "L"]
    assert message.messageContextInfo.messageSecret == SECRET


def test_a_multiple_choice_poll_reply_quotes_the_original() -> None:
    h = connected(BuildPollVoteCreation=builder)
    poll = Poll("Days?", ("Mon", "Tue"), multiple=True)
    requests.send(
        h.session,
        base.OutgoingMessage(
            "3EB0MINE",
            TO,
            MessageType.POLL,
            poll=poll,
            reply_to=base.QuotedMessage("3EB0ORIG", text="when?"),
        ),
    )
    ((*_, count),) = h.library.named("BuildPollVoteCreation")
    assert count == 0  # whatsmeow: as many options as wanted
    _, message = sent_message(h)
    assert message.pollCreationMessage.contextInfo.stanzaID == "3EB0ORIG"


def test_an_incoming_poll_is_a_poll_message() -> None:
    h = Harness()
    for field, count, multiple in (
        ("pollCreationMessage", 0, True),
        ("pollCreationMessageV3", 1, False),
    ):
        h.events.clear()
        created = e2e.PollCreationMessage(
            name="Open on Sunday?",
            options=[e2e.PollCreationMessage.Option(optionName=o) for o in ("Yes", "No")],
            selectableOptionsCount=count,
        )
        h.push(message_ev(e2e.Message(**{field: created}), chat=GROUP))
        msg = inbound(h)
        assert msg.type is MessageType.POLL
        assert msg.poll == Poll("Open on Sunday?", ("Yes", "No"), multiple=multiple)
        assert msg.is_group


def complete(message: Any) -> Any:
    """``message`` with every required field the Go side always sets given its zero
    value: the library serializes the whole event again to decrypt the vote."""
    for path in message.FindInitializationErrors():
        *parents, name = path.split(".")
        target = message
        for part in parents:
            target = getattr(target, part)
        field = target.DESCRIPTOR.fields_by_name[name]
        if field.message_type is not None:
            getattr(target, name).SetInParent()
        else:
            setattr(target, name, field.default_value)
    return complete(message) if message.FindInitializationErrors() else message


def vote_ev(poll_id: str = "3EB0POLL") -> Any:
    update = e2e.PollUpdateMessage(
        pollCreationMessageKey=MessageKey(
            remoteJID="5511999990001@s.whatsapp.net", fromMe=True, ID=poll_id
        ),
        vote=e2e.PollEncValue(encPayload=b"\x01" * 32, encIV=b"\x02" * 12),
        senderTimestampMS=1_767_268_800_000,
    )
    return complete(
        message_ev(
            e2e.Message(pollUpdateMessage=update),
            sender=CUSTOMER_LID,
            alt=CUSTOMER,
            msg_id="3EB0VOTE",
        )
    )


def test_a_vote_is_decrypted_by_the_library_and_reported_by_option_hash() -> None:
    picked = [hashlib.sha256(b"M").digest(), hashlib.sha256(b"L").digest()]
    answer = npb.ReturnFunctionWithError(
        PollVoteMessage=e2e.PollVoteMessage(selectedOptions=picked)
    ).SerializePartialToString()
    h = Harness(DecryptPollVote=lambda uuid, data, size: answer)
    h.push(vote_ev())
    ((_uuid, data, size),) = h.library.named("DecryptPollVote")
    handed = npb.Message.FromString(data[:size])
    assert handed.Message.pollUpdateMessage.pollCreationMessageKey.ID == "3EB0POLL"
    (event,) = h.events
    assert isinstance(event, PollVoteReceived)
    assert event.poll_id == "3EB0POLL"
    assert event.option_hashes == (option_hash("M"), option_hash("L"))
    assert event.voter_phone == "5511999990001"
    assert event.voter_lid == "123456789012345@lid"
    assert event.chat_jid == "5511999990001@s.whatsapp.net"
    assert event.push_name == "Maria"


def test_a_vote_the_library_cannot_decrypt_is_dropped() -> None:
    answer = npb.ReturnFunctionWithError(Error="no secret found").SerializePartialToString()
    h = Harness(DecryptPollVote=lambda uuid, data, size: answer)
    h.push(vote_ev())
    assert h.library.named("DecryptPollVote")
    assert h.events == []
