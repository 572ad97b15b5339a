"""Webhook request bodies of recent events, encoded once for every endpoint.

The dispatcher's after-commit hook remembers the events it was handed, so the workers
it wakes need not read them back with their deliveries (one JSON decode of the event
data and one encode per endpoint, per delivery) and encode each body once between them.
An event not remembered (older, from another process, or from before a restart) is
read from the log as before; this is only a cache of committed events.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from zapgate.domain.events import Event

RECENT_EVENTS = 4096
"""Events kept: a few seconds of a busy server, enough for the claims that follow a
commit and for quick retries; older ones are read from the log."""


BodyFormatter = Callable[[bytes, str, Mapping[str, Any]], Awaitable[tuple[str, bytes]]]
"""The request of a webhook whose ``format`` is another product's: given zapgate's body,
the webhook's URL and its ``options``, the URL to POST to and the body (awaited: a
format may read stored media into the body). The composition root registers one per
format (``runtime/``), so this package knows none of them."""


def encode_body(event: Event) -> bytes:
    return json.dumps(event.envelope(), separators=(",", ":"), ensure_ascii=False).encode()


class RecentBodies:
    def __init__(self, size: int = RECENT_EVENTS) -> None:
        self._size = size
        self._items: dict[int, Event | bytes] = {}
        """By event id, oldest remembered first (dicts keep insertion order)."""

    def remember(self, events: Iterable[Event]) -> None:
        items = self._items
        for event in events:
            items[event.id] = event
        while len(items) > self._size:
            del items[next(iter(items))]

    def get(self, event_id: int) -> bytes | None:
        """The body of a remembered event (encoded on first use), else None."""
        found = self._items.get(event_id)
        if found is None or isinstance(found, bytes):
            return found
        body = self._items[event_id] = encode_body(found)
        return body
