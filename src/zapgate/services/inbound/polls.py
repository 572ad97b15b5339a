"""Votes on polls: each one replaces the voter's earlier vote on the stored poll, whose
tally is recounted, and is published as ``message.poll_vote``.

A vote on a poll this connection never stored (sent before zapgate, or history not
imported) has nothing to count against and is dropped: the engine gives option hashes,
and only the poll's options turn them into names.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.events import EventType
from zapgate.domain.messages import MessageType
from zapgate.domain.phones import LID_SERVER, USER_SERVER
from zapgate.domain.polls import chosen_options, with_vote
from zapgate.domain.times import iso_utc
from zapgate.engines.events import PollVoteReceived
from zapgate.events.log import stage_event
from zapgate.services.inbound.work import Item
from zapgate.services.payloads import message_payload
from zapgate.store.tables.messages import MessageRow

log = logging.getLogger(__name__)


async def apply_poll_vote(
    s: AsyncSession, item: Item, work: PollVoteReceived, now: datetime
) -> None:
    row = await s.scalar(
        select(MessageRow).where(
            MessageRow.connection_id == item.connection_id,
            MessageRow.wa_message_id == work.poll_id,
            MessageRow.type == MessageType.POLL.value,
        )
    )
    if row is None:
        log.info(
            "vote on an unknown poll dropped",
            extra={"connection_id": item.connection_id, "poll_id": work.poll_id},
        )
        return
    extra = dict(row.payload or {})
    poll = extra.get("poll")
    if not isinstance(poll, dict):
        return
    options = chosen_options(poll, work.options, work.option_hashes)
    voter = voter_of(work)
    updated, before = with_vote(poll, voter, options)
    extra["poll"] = updated
    row.payload = extra  # a new dict: the JSON column sees the change
    data: dict[str, Any] = message_payload(row)
    data["vote"] = {
        "voter": {k: voter[k] for k in ("jid", "phone", "lid", "name")},
        "options": options,
        "previous_options": before,
        "voted_at": voter["voted_at"],
    }
    stage_event(
        s,
        organization_id=row.organization_id,
        connection_id=row.connection_id,
        type=EventType.MESSAGE_POLL_VOTE,
        data=data,
        created_at=now,
    )


def voter_of(work: PollVoteReceived) -> dict[str, Any]:
    """Who voted, keyed by phone when known: the same person may vote once addressed by
    phone and change the vote addressed by LID."""
    phone = work.voter_phone
    if phone is None and work.voter_jid.endswith("@" + USER_SERVER):
        phone = work.voter_jid.split("@", 1)[0].split(":", 1)[0]
    lid = work.voter_lid
    if lid is None and work.voter_jid.endswith("@" + LID_SERVER):
        lid = work.voter_jid
    key = f"{phone}@{USER_SERVER}" if phone else work.voter_jid
    return {
        "key": key,
        "jid": key,  # the phone JID when known, as every shape gives it
        "phone": phone,
        "lid": lid,
        "name": work.push_name,
        "from_me": work.from_me,
        "voted_at": iso_utc(work.timestamp),
    }
