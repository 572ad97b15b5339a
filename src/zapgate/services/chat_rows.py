"""Chat rows as every writer keeps them: the columns of a chat opened now, and its
``last_message`` preview kept in step with that message's status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.chats import ChatStatus
from zapgate.domain.ids import new_id
from zapgate.services.payloads import message_preview
from zapgate.store.tables.conversations import ChatRow
from zapgate.store.tables.messages import MessageRow


async def refresh_preview(s: AsyncSession, row: MessageRow) -> None:
    """Keep the chat's ``last_message`` status in step with ``row`` when it is that message
    (a status change after the chat moved on leaves the newer preview alone)."""
    if row.chat_id is None:
        return
    chat = await s.get(ChatRow, row.chat_id)
    if chat is not None and (chat.last_message or {}).get("id") == row.id:
        chat.last_message = message_preview(row)


def new_chat_values(
    organization_id: str,
    connection_id: str,
    contact_id: str | None,
    jid: str,
    name: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Every column of a chat opened now (pending, nothing unread, no last message)."""
    return {
        "id": new_id(),
        "organization_id": organization_id,
        "connection_id": connection_id,
        "contact_id": contact_id,
        "jid": jid,
        "lid": jid if jid.endswith("@lid") else None,
        "name": name,
        "is_group": jid.endswith("@g.us"),
        "status": ChatStatus.PENDING.value,
        "assignee_id": None,
        "unread_count": 0,
        "last_message": None,
        "last_message_at": now,
        "created_at": now,
        "updated_at": now,
    }
