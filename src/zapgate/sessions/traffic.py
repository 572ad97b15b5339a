"""What a connection's behaviour settings do to its traffic before anything stores it.

Group and status traffic a connection ignores never reaches the listeners (so it is
neither stored nor sent to webhooks), and history a connection does not want is dropped
here too: one place for every engine, instead of a filter in each.
"""

from __future__ import annotations

from collections.abc import Sequence

from zapgate.domain.behaviour import STATUS_BROADCAST, Behaviour, SyncHistory
from zapgate.domain.messages import MessageType
from zapgate.domain.phones import is_group_jid
from zapgate.engines.events import (
    ChatPresenceUpdate,
    EngineEvent,
    HistorySynced,
    InboundMessage,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    PollVoteReceived,
    ReceiptReceived,
)
from zapgate.sessions.proxies import open_proxy
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.secretbox import SecretBox


def behaviour_of(row: ConnectionRow, box: SecretBox | None = None) -> Behaviour:
    """The settings ``row`` holds, its proxy opened with ``box``."""
    proxy = open_proxy(row, box)
    return Behaviour(
        reject_calls=row.reject_calls,
        always_online=row.always_online,
        auto_read=row.auto_read,
        ignore_groups=row.ignore_groups,
        ignore_status=row.ignore_status,
        sync_history=SyncHistory(row.sync_history),
        proxy_url=proxy.url,
        proxy_problem=proxy.problem,
    )


def _ignored_chat(chat_jid: str, behaviour: Behaviour) -> bool:
    if chat_jid == STATUS_BROADCAST:
        return behaviour.ignore_status
    return behaviour.ignore_groups and is_group_jid(chat_jid)


def _kept(message: InboundMessage, behaviour: Behaviour) -> bool:
    return not _ignored_chat(message.chat_jid, behaviour)


def keep_traffic(events: Sequence[EngineEvent], behaviour: Behaviour) -> list[EngineEvent]:
    """``events`` without what ``behaviour`` says to ignore."""
    kept: list[EngineEvent] = []
    for event in events:
        if isinstance(event, MessageReceived):
            if _kept(event.message, behaviour):
                kept.append(event)
        elif isinstance(
            event,
            ReceiptReceived
            | MessageEdited
            | MessageRevoked
            | PollVoteReceived
            | ChatPresenceUpdate,
        ):
            if not _ignored_chat(event.chat_jid, behaviour):
                kept.append(event)
        elif isinstance(event, HistorySynced):
            if behaviour.sync_history is SyncHistory.NONE:
                continue
            messages = tuple(m for m in event.messages if _kept(m, behaviour))
            if messages:
                kept.append(HistorySynced(event.session_id, messages))
        else:
            kept.append(event)
    return kept


def to_mark_read(events: Sequence[EngineEvent]) -> dict[tuple[str, str | None], list[str]]:
    """The incoming messages of ``events`` to acknowledge as read, by (chat, sender)."""
    reads: dict[tuple[str, str | None], list[str]] = {}
    for event in events:
        if not isinstance(event, MessageReceived):
            continue
        msg = event.message
        # Reactions carry no read receipt on WhatsApp; status posts are not chats.
        if msg.from_me or msg.type is MessageType.REACTION or msg.chat_jid == STATUS_BROADCAST:
            continue
        sender = msg.sender_jid if msg.is_group else None
        reads.setdefault((msg.chat_jid, sender), []).append(msg.wa_message_id)
    return reads
