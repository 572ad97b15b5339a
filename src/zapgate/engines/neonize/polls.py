"""Polls on a neonize session: sending one through the library's own builder, and the
votes that arrive as ``pollUpdateMessage``.

A vote is encrypted for the poll's author: whatsmeow keeps the secret of every poll it
sent or received (the ``messageSecret`` of the poll message) and decrypts a vote with
``decrypt_poll_vote``, which answers the SHA-256 of each option picked. Those hashes go
up as they are; the services turn them into option names against the stored poll. A
vote whose secret the library does not hold (a poll from before this device was
linked) cannot be read and is dropped with a warning.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from zapgate.domain.errors import EngineError
from zapgate.engines import base
from zapgate.engines.events import PollVoteReceived
from zapgate.engines.neonize import convert, lids
from zapgate.engines.neonize.content import POLL_FIELDS, unwrap
from zapgate.engines.neonize.gate import HANDLER_GATE_TIMEOUT
from zapgate.engines.neonize.outgoing import reply_context

if TYPE_CHECKING:
    from zapgate.engines.neonize.session import WorkerSession

log = logging.getLogger(__name__)


def poll_message(client: Any, msg: base.OutgoingMessage) -> Any:
    """The poll's ``Message`` built by the library (it adds the message secret votes are
    encrypted with); call it holding the library gate."""
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
    from neonize.utils.enum import VoteType

    poll = msg.poll
    if poll is None:
        raise EngineError("invalid_message", "poll missing", permanent=True)
    # whatsmeow's selectable count: 1 for a single choice, 0 for "as many as wanted".
    count = VoteType.MULTIPLE if poll.multiple else VoteType.SINGLE
    message = client.build_poll_vote_creation(poll.question, list(poll.options), count)
    context = reply_context(msg.reply_to, e2e, msg.mentions)
    if context is not None:
        for field in POLL_FIELDS:
            if message.HasField(field):
                getattr(message, field).contextInfo.MergeFrom(context)
    return message


def vote_update(ev: Any) -> Any | None:
    """The ``pollUpdateMessage`` of a neonize ``Message`` event, if it is a vote."""
    content = unwrap(ev.Message)
    return content.pollUpdateMessage if content.HasField("pollUpdateMessage") else None


def poll_vote_event(session_id: str, ev: Any, update: Any, vote: Any) -> PollVoteReceived:
    """A decrypted vote (a waE2E ``PollVoteMessage``) as an engine event."""
    info = ev.Info
    src = info.MessageSource
    phone, lid = convert.phone_and_lid(src.Sender, src.SenderAlt)
    return PollVoteReceived(
        session_id,
        poll_id=update.pollCreationMessageKey.ID,
        chat_jid=convert.jid_str(src.Chat),
        voter_jid=convert.jid_str(src.Sender),
        timestamp=convert.timestamp_of(info.Timestamp),
        option_hashes=tuple(bytes(option).hex() for option in vote.selectedOptions),
        voter_phone=phone,
        voter_lid=lid,
        push_name=info.Pushname or None,
        from_me=src.IsFromMe,
    )


def on_message(session: WorkerSession, ev: Any) -> None:
    """A neonize ``Message`` event: a vote is decrypted first, anything else translated."""
    update = vote_update(ev)
    if update is None:
        session.emit(lids.with_stored_phone(session, convert.message_event(session.session_id, ev)))
        return
    try:
        with session.gate.hold(HANDLER_GATE_TIMEOUT):
            vote = session.client.decrypt_poll_vote(ev)
    except Exception as exc:
        log.warning(
            "could not decrypt a poll vote on %s: %s",
            update.pollCreationMessageKey.ID,
            exc,
            extra={"session_id": session.session_id},
        )
        return
    session.emit(poll_vote_event(session.session_id, ev, update, vote))
