"""Which chats a caller may see, as one rule for every service that shows chat content.

Agents see the chats assigned to them and the unassigned ones; managers and above see
every chat of the organization (``Principal.sees_all_chats``). What an agent may not see
(a chat, its messages, the files they carry) answers 404, like something of another
organization.
"""

from __future__ import annotations

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from zapgate.domain.errors import NotFound
from zapgate.domain.ids import is_id
from zapgate.services.context import Principal
from zapgate.store.tables.conversations import ChatRow


def visible_chats(principal: Principal) -> ColumnElement[bool]:
    """The rule as a condition on ``chats`` rows."""
    clause: ColumnElement[bool] = ChatRow.organization_id == principal.organization_id
    if not principal.sees_all_chats:
        clause = and_(
            clause, or_(ChatRow.assignee_id.is_(None), ChatRow.assignee_id == principal.user_id)
        )
    return clause


async def chat_for(s: AsyncSession, principal: Principal, chat_id: str) -> ChatRow:
    """A chat of the caller's organization that the caller may see (else 404)."""
    row = await s.get(ChatRow, chat_id) if is_id(chat_id) else None
    if row is None or row.organization_id != principal.organization_id:
        raise NotFound("chat not found", code="chat_not_found")
    if not principal.sees_all_chats and row.assignee_id not in (None, principal.user_id):
        raise NotFound("chat not found", code="chat_not_found")
    return row
