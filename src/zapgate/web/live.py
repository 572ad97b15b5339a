"""Live updates for the panel: Server-Sent Events of small "what changed" signals.

A signal names the parts of the page an event affects (``conn:<id>``, ``totals``,
``chat:<id>``...); the page re-fetches those parts through the normal, tenancy-checked
routes. Content never travels in the stream, so what a person sees always passed the
same checks as a page load, and a missed signal costs at most a refresh.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from zapgate.domain.events import Event
from zapgate.events.bus import Subscription

# A comment line this often keeps proxies from closing an idle stream and lets the
# server notice a browser that went away.
HEARTBEAT_SECONDS = 15.0


def closing_signal(app: FastAPI) -> asyncio.Event:
    """Set when the server shuts down, so open streams end instead of holding it up."""
    signal: asyncio.Event | None = getattr(app.state, "web_closing", None)
    if signal is None:
        signal = asyncio.Event()
        app.state.web_closing = signal
    return signal


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


async def _next(sub: Subscription, closing: asyncio.Event) -> Event | None:
    """The next event, or None on a heartbeat timeout or shutdown."""
    getter = asyncio.ensure_future(sub.get())
    closer = asyncio.ensure_future(closing.wait())
    try:
        done, _ = await asyncio.wait(
            {getter, closer}, timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (getter, closer):
            if not task.done():
                task.cancel()
    if getter in done:
        return getter.result()
    return None


async def stream(sub: Subscription, closing: asyncio.Event) -> AsyncIterator[str]:
    try:
        # Reconnect quickly; the page refreshes its live parts after a reconnect.
        yield "retry: 2000\n\n"
        while not closing.is_set() and not sub.overflowed:
            event = await _next(sub, closing)
            yield signal(event) if event is not None else ": ping\n\n"
    finally:
        sub.close()
