"""``Idempotency-Key``: unique per organization; the same key again answers the message
it first named, and the same key with a different request is 409
``idempotency_key_reused``.

A key stands for its request's fingerprint (a hash of every field), kept in the
message's payload. A duplicate is found before anything is resolved, again inside the
group commit (a concurrent request may have won meanwhile), among the messages of one
group commit (the first one wins), and, when all that missed, by the unique key that
fails the losing INSERT (``MessageService.send`` then answers the winner).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Conflict
from zapgate.domain.messages import ContactCard, Location, MessageType
from zapgate.domain.polls import Poll
from zapgate.services.context import Principal
from zapgate.services.drafts import MessageDraft
from zapgate.services.sending.requests import MediaInput
from zapgate.store.tables.messages import MessageRow


def request_hash(values: dict[str, Any]) -> str:
    raw = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def send_fingerprint(
    *,
    to: str,
    kind: MessageType,
    connection_id: str | None,
    text: str | None,
    media: MediaInput | None,
    location: Location | None,
    contact: ContactCard | None,
    reaction_to: str | None,
    emoji: str | None,
    reply_to: str | None,
    send_at: datetime | None,
    template_id: str | None,
    variables: dict[str, Any] | None,
    mentions: list[str] | str | None = None,
    poll: Poll | None = None,
) -> str:
    """What an Idempotency-Key stands for: the send request as it was given."""
    extra = {"mentions": mentions} if mentions else {}
    return request_hash(
        {
            **extra,
            "to": to,
            "type": kind.value,
            "connection_id": connection_id,
            "text": text,
            "media": asdict(media) if media else None,
            "location": asdict(location) if location else None,
            "contact": asdict(contact) if contact else None,
            "reaction": [reaction_to, emoji],
            "reply_to": reply_to,
            "send_at": send_at,
            "template_id": template_id,
            "variables": variables,
            # Only a poll adds its key: the fingerprints of other sends stay as they were.
            **({"poll": poll.to_json()} if poll is not None else {}),
        }
    )


def _fingerprint_of(row: MessageRow | MessageDraft) -> Any:
    return (row.payload or {}).get("request_hash")


def key_reused() -> Conflict:
    return Conflict(
        "this Idempotency-Key was used for a different request",
        code="idempotency_key_reused",
    )


async def prior_message(
    s: AsyncSession, principal: Principal, key: str, fingerprint: str
) -> MessageRow | None:
    """The message this key already named (409 if for another request), or None."""
    row = await s.scalar(
        select(MessageRow).where(
            MessageRow.organization_id == principal.organization_id,
            MessageRow.idempotency_key == key,
        )
    )
    if row is not None and _fingerprint_of(row) != fingerprint:
        raise key_reused()
    return row


class BatchKeys:
    """The keys of one group commit: the same key twice in one batch, the first wins."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], MessageDraft] = {}

    def earlier(
        self, organization_id: str, row: MessageDraft, fingerprint: str
    ) -> MessageDraft | Conflict | None:
        """The batch's earlier message with ``row``'s key (or the conflict that answers
        a different request under it); None when ``row`` is the first."""
        key = row.idempotency_key
        if not key:
            return None
        first = self._first.setdefault((organization_id, key), row)
        if first is row:
            return None
        if _fingerprint_of(first) != fingerprint:
            return key_reused()
        return first
