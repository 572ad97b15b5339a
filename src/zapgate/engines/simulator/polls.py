"""A customer votes on a poll: checked as a phone would (the poll exists in this chat,
the options are its own, one option on a single-choice poll) and reported as WhatsApp
reports it, the options named by their SHA-256."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from zapgate.domain.errors import Invalid, NotFound
from zapgate.domain.phones import USER_SERVER, normalize_phone
from zapgate.domain.polls import option_hash
from zapgate.engines.events import PollVoteReceived
from zapgate.engines.simulator.network import Network
from zapgate.engines.simulator.qr import lid_for, phone_message_id
from zapgate.engines.simulator.state import LinkedAccount


def build_vote(
    network: Network,
    session_id: str,
    account: LinkedAccount,
    *,
    from_phone: str,
    poll_message_id: str,
    options: Sequence[str],
    push_name: str | None,
    now: datetime,
) -> tuple[PollVoteReceived, str]:
    """The vote event and the id of the vote's own message. An empty ``options``
    withdraws the voter's vote."""
    phone = normalize_phone(from_phone)
    if phone == account.phone:
        raise Invalid("a connection cannot vote through the simulator", code="invalid_sender")
    found = network.poll(session_id, poll_message_id)
    if found is None:
        raise NotFound(f"no poll {poll_message_id!r} on this connection", code="poll_not_found")
    chat, poll = found
    sender = f"{phone}@{USER_SERVER}"
    if chat.endswith("@g.us"):
        group = network.group(chat)
        if group is None or phone not in group.participants:
            raise Invalid(f"{phone} is not a member of the poll's group", code="not_a_participant")
    elif chat != sender:
        raise Invalid(f"the poll was not sent to {phone}", code="not_a_participant")
    unknown = [o for o in options if o not in poll.options]
    if unknown:
        raise Invalid(f"not an option of the poll: {unknown[0]!r}", code="invalid_poll_vote")
    if len(set(options)) != len(options):
        raise Invalid("an option is picked twice", code="invalid_poll_vote")
    if not poll.multiple and len(options) > 1:
        raise Invalid("the poll allows one option", code="invalid_poll_vote")
    vote = PollVoteReceived(
        session_id,
        poll_id=poll_message_id,
        chat_jid=chat,
        voter_jid=sender,
        timestamp=now,
        option_hashes=tuple(option_hash(o) for o in options),
        voter_phone=phone,
        voter_lid=lid_for(phone),
        push_name=push_name,
    )
    return vote, phone_message_id()
