"""What the conversation offers to do to a message: only ours, only while WhatsApp lets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from zapgate.web.views.message_actions import actions_for

SENT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def message(**extra: Any) -> dict[str, Any]:
    return {
        "direction": "out",
        "type": "text",
        "status": "read",
        "sent_at": "2026-01-01T12:00:00Z",
        "revoked_at": None,
        **extra,
    }


def test_a_sent_text_is_editable_for_15_minutes_and_deletable_for_two_days() -> None:
    assert actions_for(message(), SENT + timedelta(minutes=14)) == ("edit", "revoke")
    assert actions_for(message(), SENT + timedelta(minutes=16)) == ("revoke",)
    assert actions_for(message(), SENT + timedelta(hours=49)) == ()


def test_what_offers_nothing_or_less() -> None:
    later = SENT + timedelta(minutes=1)
    assert actions_for(message(direction="in", status="received"), later) == ()
    assert actions_for(message(revoked_at="2026-01-01T12:00:30Z"), later) == ()
    assert actions_for(message(type="image"), later) == ("revoke",)
    assert actions_for(message(type="reaction"), later) == ()
    assert actions_for(message(status="failed", sent_at=None), later) == ()
    assert actions_for(message(status="sending", sent_at=None), later) == ()
    assert actions_for(message(status="scheduled", sent_at=None), later) == ("edit", "revoke")
