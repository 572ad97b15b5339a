"""The SVG chart's geometry and the live-signal keys."""

from __future__ import annotations

from datetime import UTC, date, datetime

from zapgate.domain.events import Event
from zapgate.web.chart import HEIGHT, Day, daily_chart
from zapgate.web.live import keys_for, signal
from zapgate.web.session import WebKeys


def test_chart_scales_bars_to_the_largest_day() -> None:
    days = [Day(date(2026, 1, d), sent=d, received=2 * d) for d in range(1, 8)]
    chart = daily_chart(days)
    assert not chart.empty
    assert len(chart.bars) == 14
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.kind == "received"
    assert tallest.value == 14
    assert all(0 <= b.y <= HEIGHT and b.height >= 0 for b in chart.bars)
    assert chart.ticks[-1][1] >= 14


def test_empty_chart() -> None:
    chart = daily_chart([Day(date(2026, 1, 1), 0, 0)])
    assert chart.empty
    assert [b.height for b in chart.bars] == [0, 0]


def _event(type_: str, data: dict[str, object], connection_id: str | None = "c1") -> Event:
    return Event(7, type_, "org", connection_id, datetime(2026, 1, 1, tzinfo=UTC), dict(data))


def test_keys_name_the_parts_an_event_changes() -> None:
    assert keys_for(_event("connection.status", {})) == ["conn:c1", "totals"]
    assert "cards" in keys_for(_event("connection.created", {}))
    assert keys_for(_event("message.received", {"chat_id": "h1"})) == [
        "conn:c1",
        "chats",
        "totals",
        "chat:h1",
    ]
    assert keys_for(_event("chat.updated", {"id": "h1"})) == ["conn:c1", "chats", "chat:h1"]
    assert keys_for(_event("contact.updated", {"id": "k1"}, None)) == ["contact:k1"]


def test_signal_carries_no_content() -> None:
    text = signal(_event("message.received", {"chat_id": "h1", "text": "secret <b>"}))
    assert text.startswith("id: 7\nevent: change\ndata: ")
    assert "secret" not in text


def test_csrf_tokens_are_bound_to_their_anchor() -> None:
    keys = WebKeys("k" * 40)
    token = keys.csrf_for("s:session-a")
    assert keys.valid("s:session-a", token)
    assert not keys.valid("s:session-b", token)
    assert not keys.valid(None, token)
    assert not keys.valid("s:session-a", None)
    assert WebKeys("other" * 10).csrf_for("s:session-a") != token
