"""Which chats a caller may see, as one rule for every service that shows chat content.

Agents see the chats assigned to them and the unassigned ones; managers and above see
every chat of the organization (``Principal.sees_all_chats``). What an agent may not see
(a chat, its messages, the files they carry) answers 404, like something of another
organization; an agent writes only where it may read (403 ``chat_assigned_elsewhere``).
"""

from __future__ import annotations

from sqlalchemy import and_, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from zapgate.domain.errors import Forbidden, NotFound
from zapgate.domain.ids import is_id
from zapgate.services.context import Principal
from zapgate.store.tables.conversations import ChatRow
from zapgate.store.tables.messages import MessageRow


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


async def message_for(s: AsyncSession, principal: Principal, message_id: str) -> MessageRow:
    """A message the caller may see: of its organization and, for an agent, of a chat
    assigned to it or to no one (else 404, as for a message that does not exist)."""
    row = await s.get(MessageRow, message_id) if is_id(message_id) else None
    if row is None or row.organization_id != principal.organization_id:
        raise NotFound("message not found", code="message_not_found")
    if not principal.sees_all_chats:
        try:
            await chat_for(s, principal, row.chat_id or "")
        except NotFound:
            raise NotFound("message not found", code="message_not_found") from None
    return row


async def check_may_write(
    s: AsyncSession, principal: Principal, chat_jid: str, connection_id: str | None
) -> None:
    """Sending to ``chat_jid`` (on ``connection_id``, or on any connection) writes in a
    chat the caller may see, or opens a new one: else 403. Replies and reactions are in
    the same chat, so they are covered."""
    if principal.sees_all_chats:
        return
    hidden = select(ChatRow.id).where(
        ChatRow.organization_id == principal.organization_id,
        ChatRow.jid == chat_jid,
        not_(visible_chats(principal)),
    )
    if connection_id is not None:
        hidden = hidden.where(ChatRow.connection_id == connection_id)
    if await s.scalar(hidden.limit(1)) is not None:
        raise Forbidden(
            "this conversation is assigned to another agent", code="chat_assigned_elsewhere"
        )
