"""Live updates for the panel: Server-Sent Events of small "what changed" signals.

Built on the live event streams (``events/stream.py``), opened through
``services/events.py`` (``EventService.open_signals``): a page opens its stream from the
event id it was rendered at, so nothing committed between the render and the stream's
connection is missed, and a reconnect resumes from ``Last-Event-ID``.

A signal names the parts of the page an event affects (``conn:<id>``, ``totals``,
``chat:<id>``...); the page re-fetches those parts through the normal, tenancy-checked
routes. Content never travels in the stream, so what a person sees always passed the
same checks as a page load, and a missed signal costs at most a refresh.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from zapgate.domain.events import Event
from zapgate.domain.streams import SlowConsumer, StreamStopped
from zapgate.util.clock import Clock

if TYPE_CHECKING:
    # The edges name the stream type; they get streams only from the events service.
    from zapgate.events.stream import Follower

# A comment line this often keeps proxies from closing an idle stream and lets the
# server notice a browser that went away.
HEARTBEAT_SECONDS = 15.0


def keys_for(event: Event) -> list[str]:
    data: dict[str, Any] = event.data or {}
    keys: list[str] = []
    if event.connection_id:
        keys.append(f"conn:{event.connection_id}")
    if event.type.startswith("connection."):
        keys.append("totals")
        if event.type in ("connection.created", "connection.deleted"):
            keys.append("cards")
    elif event.type.startswith("message."):
        keys += ["chats", "totals"]
        if data.get("chat_id"):
            keys.append(f"chat:{data['chat_id']}")
    elif event.type == "chat.updated":
        keys.append("chats")
        if data.get("id"):
            keys.append(f"chat:{data['id']}")
    elif event.type == "contact.updated" and data.get("id"):
        keys.append(f"contact:{data['id']}")
    elif event.type.startswith("webhook."):
        keys.append("webhooks")
    return keys


def signal(event: Event) -> str:
    body = json.dumps({"id": event.id, "type": event.type, "keys": keys_for(event)})
    return f"id: {event.id}\nevent: change\ndata: {body}\n\n"


async def stream(follower: Follower, clock: Clock) -> AsyncIterator[str]:
    """The follower's events as SSE signals; ends on shutdown or when the browser lags
    (it reconnects with ``Last-Event-ID`` and the log replays what it missed), and when
    the session ends (the reconnect is refused, and the page's next request goes to
    the login page)."""
    with follower:
        # Reconnect quickly after a drop.
        yield "retry: 2000\n\n"
        try:
            async for event in follower.heartbeats(clock, HEARTBEAT_SECONDS):
                yield signal(event) if event is not None else ": ping\n\n"
        except (SlowConsumer, StreamStopped):
            return
