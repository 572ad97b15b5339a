"""Directions and statuses are stored in rows and published in events, webhook bodies
and API answers: their spellings never change."""

from __future__ import annotations

from zapgate.domain.chats import ChatStatus
from zapgate.domain.deliveries import DeliveryStatus
from zapgate.domain.messages import SENT_STATUSES, Direction, MessageStatus


def test_directions_and_statuses_keep_their_spellings() -> None:
    assert [d.value for d in Direction] == ["in", "out"]
    assert [s.value for s in ChatStatus] == ["pending", "active", "closed"]
    assert [s.value for s in DeliveryStatus] == ["pending", "delivered", "failed"]


def test_sent_means_whatsapp_took_it() -> None:
    assert set(SENT_STATUSES) == {
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.READ,
        MessageStatus.PLAYED,
    }
