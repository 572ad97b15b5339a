"""What a connection's behaviour settings keep of its traffic, before anything stores it."""

from __future__ import annotations

from datetime import UTC, datetime

from zapgate.domain.behaviour import Behaviour, SyncHistory
from zapgate.domain.messages import MessageType, ReceiptType
from zapgate.engines.events import (
    CallReceived,
    HistorySynced,
    InboundMessage,
    MessageReceived,
    PollVoteReceived,
    ReceiptReceived,
)
from zapgate.sessions.traffic import keep_traffic, to_mark_read

AT = datetime(2026, 1, 1, tzinfo=UTC)
ANA = "5511977770001@s.whatsapp.net"
GROUP = "120363000000000001@g.us"


def msg(wa_id: str, chat: str, *, from_me: bool = False) -> InboundMessage:
    return InboundMessage(
        wa_id,
        chat,
        ANA,
        AT,
        MessageType.TEXT,
        text="oi",
        from_me=from_me,
        is_group=chat.endswith("@g.us"),
    )


DIRECT = MessageReceived("s", msg("1", ANA))
IN_GROUP = MessageReceived("s", msg("2", GROUP))
STATUS = MessageReceived("s", msg("3", "status@broadcast"))
GROUP_RECEIPT = ReceiptReceived("s", GROUP, ("9",), ReceiptType.READ, AT, ANA)
CALL = CallReceived("s", "C1", ANA, AT)
HISTORY = HistorySynced("s", (msg("4", ANA), msg("5", GROUP), msg("6", "status@broadcast")))
ALL = [DIRECT, IN_GROUP, STATUS, GROUP_RECEIPT, CALL, HISTORY]


def test_by_default_everything_is_kept() -> None:
    assert keep_traffic(ALL, Behaviour()) == ALL


def test_ignore_groups_drops_group_messages_receipts_and_history() -> None:
    kept = keep_traffic(ALL, Behaviour(ignore_groups=True))
    assert kept[:3] == [DIRECT, STATUS, CALL]
    (history,) = kept[3:]
    assert isinstance(history, HistorySynced)
    assert [m.wa_message_id for m in history.messages] == ["4", "6"]


def test_ignore_status_drops_status_broadcasts_only() -> None:
    kept = keep_traffic(ALL, Behaviour(ignore_status=True))
    assert kept[:4] == [DIRECT, IN_GROUP, GROUP_RECEIPT, CALL]
    (history,) = kept[4:]
    assert isinstance(history, HistorySynced)
    assert [m.wa_message_id for m in history.messages] == ["4", "5"]


def test_no_history_drops_history_syncs() -> None:
    assert keep_traffic(ALL, Behaviour(sync_history=SyncHistory.NONE)) == ALL[:-1]


def test_incoming_messages_are_read_by_chat_and_group_sender() -> None:
    mine = MessageReceived("s", msg("7", ANA, from_me=True))
    reads = to_mark_read([DIRECT, IN_GROUP, STATUS, mine, CALL])
    assert reads == {(ANA, None): ["1"], (GROUP, ANA): ["2"]}


def test_ignore_groups_drops_votes_in_groups_and_keeps_direct_ones() -> None:
    group_vote = PollVoteReceived("s", "3EB0P", GROUP, ANA, AT, option_hashes=("ab",))
    direct_vote = PollVoteReceived("s", "3EB0Q", ANA, ANA, AT, option_hashes=("ab",))
    votes = [group_vote, direct_vote]
    assert keep_traffic(votes, Behaviour()) == votes
    assert keep_traffic(votes, Behaviour(ignore_groups=True)) == [direct_vote]
    assert to_mark_read(votes) == {}  # a vote is no message to mark read
