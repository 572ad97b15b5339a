"""Recent webhook bodies: encoded once, oldest forgotten first."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from zapgate.domain.events import Event
from zapgate.webhooks.bodies import RecentBodies


def _event(event_id: int) -> Event:
    return Event(
        id=event_id,
        type="message.received",
        organization_id="org",
        connection_id=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        data={"n": event_id, "text": "olá"},
    )


def test_a_body_is_the_envelope_encoded_once() -> None:
    bodies = RecentBodies()
    bodies.remember([_event(1)])
    body = bodies.get(1)
    assert body is not None
    assert json.loads(body) == {
        "id": 1,
        "type": "message.received",
        "organization_id": "org",
        "connection_id": None,
        "created_at": "2026-01-01T00:00:00Z",
        "data": {"n": 1, "text": "olá"},
    }
    assert bodies.get(1) is body  # every endpoint shares the same bytes
    assert bodies.get(2) is None


def test_the_oldest_events_are_forgotten() -> None:
    bodies = RecentBodies(size=2)
    bodies.remember([_event(1), _event(2)])
    bodies.remember([_event(3)])
    assert [bodies.get(i) is not None for i in (1, 2, 3)] == [False, True, True]
