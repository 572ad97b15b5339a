"""The shared inbox: chats, their messages, assignment, read state, typing.

Agents see the chats assigned to them and the unassigned ones; managers and above see
every chat of the organization (``Principal.sees_all_chats``; the rule is in
``visibility.py``). A chat an agent may not see answers 404, like a chat of another
organization.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.chats import ChatStatus
from zapgate.domain.errors import Conflict, DomainError, EngineError, Invalid, NotFound
from zapgate.domain.events import EventType
from zapgate.domain.ids import is_id
from zapgate.domain.messages import ChatPresence, Direction
from zapgate.domain.roles import Role
from zapgate.events.log import append_event
from zapgate.services.commands import Commands
from zapgate.services.context import Principal
from zapgate.services.payloads import chat_payload, message_payload
from zapgate.services.visibility import chat_for, visible_chats
from zapgate.store.db import Database
from zapgate.store.pagination import Page, check_limit, decode_cursor, encode_cursor
from zapgate.store.search import contains_text
from zapgate.store.tables.accounts import UserRow
from zapgate.store.tables.conversations import ChatRow, ContactRow
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

_UNSET: Any = object()


def _chat_status(value: str) -> ChatStatus:
    try:
        return ChatStatus(value)
    except ValueError:
        raise Invalid(
            f"status must be one of {', '.join(ChatStatus)}", code="invalid_status"
        ) from None


class InboxService:
    def __init__(self, db: Database, clock: Clock, commands: Commands) -> None:
        self._db = db
        self._clock = clock
        self._commands = commands

    # ------------------------------------------------------------ chats

    async def chats(
        self,
        principal: Principal,
        *,
        connection_id: str | None = None,
        status: str | None = None,
        assignee_id: str | None = None,
        unread: bool | None = None,
        q: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[dict[str, Any]]:
        """Newest activity first; the cursor is the last chat's ``(last_message_at, id)``."""
        check_limit(limit)
        wanted = _chat_status(status) if status is not None else None
        query = (
            select(ChatRow)
            .where(visible_chats(principal))
            .order_by(ChatRow.last_message_at.desc(), ChatRow.id.desc())
            .limit(limit + 1)
        )
        if connection_id:
            query = query.where(ChatRow.connection_id == connection_id)
        if wanted is not None:
            query = query.where(ChatRow.status == wanted.value)
        if assignee_id == "none":
            query = query.where(ChatRow.assignee_id.is_(None))
        elif assignee_id:
            query = query.where(ChatRow.assignee_id == assignee_id)
        if unread is True:
            query = query.where(ChatRow.unread_count > 0)
        elif unread is False:
            query = query.where(ChatRow.unread_count == 0)
        if q and q.strip():
            text = q.strip()
            contact_match = select(ContactRow.id).where(
                ContactRow.organization_id == principal.organization_id,
                contains_text(text, ContactRow.name, ContactRow.push_name, ContactRow.phone),
            )
            query = query.where(
                or_(
                    contains_text(text, ChatRow.name, ChatRow.jid),
                    ChatRow.contact_id.in_(contact_match),
                )
            )
        if cursor:
            at, last_id = decode_cursor(cursor, 2)
            try:
                when = datetime.fromisoformat(str(at))
            except ValueError as exc:
                raise Invalid("cursor is not valid", code="invalid_cursor") from exc
            query = query.where(
                or_(
                    ChatRow.last_message_at < when,
                    and_(ChatRow.last_message_at == when, ChatRow.id < str(last_id)),
                )
            )
        async with self._db.read() as s:
            rows = list((await s.scalars(query)).all())
        more = len(rows) > limit
        items = rows[:limit]
        next_cursor = None
        if more and items:
            last = items[-1]
            assert last.last_message_at is not None
            next_cursor = encode_cursor(last.last_message_at.isoformat(), last.id)
        return Page([chat_payload(r) for r in items], next_cursor)

    async def chat(self, principal: Principal, chat_id: str) -> dict[str, Any]:
        async with self._db.read() as s:
            return chat_payload(await chat_for(s, principal, chat_id))

    async def update_chat(
        self,
        principal: Principal,
        chat_id: str,
        *,
        status: str | None = None,
        assignee_id: str | None = _UNSET,
    ) -> dict[str, Any]:
        principal.require(Role.AGENT)
        new_status = _chat_status(status) if status is not None else None
        now = self._clock.now()
        async with self._db.write(in_loop=True) as s:
            row = await chat_for(s, principal, chat_id)
            if assignee_id is not _UNSET and assignee_id != row.assignee_id:
                await self._check_assignee(s, principal, assignee_id)
                row.assignee_id = assignee_id
            if new_status is not None:
                row.status = new_status.value
            row.updated_at = now
            await s.flush()
            payload = chat_payload(row)
            await append_event(
                s,
                organization_id=row.organization_id,
                connection_id=row.connection_id,
                type=EventType.CHAT_UPDATED,
                data=payload,
                created_at=now,
            )
        return payload

    async def _check_assignee(
        self, s: AsyncSession, principal: Principal, assignee_id: str | None
    ) -> None:
        # Agents may take a chat or let it go; handing chats to others is for managers.
        if not principal.sees_all_chats and assignee_id not in (None, principal.user_id):
            raise NotFound("user not found", code="user_not_found")
        if assignee_id is None:
            return
        user = await s.get(UserRow, assignee_id) if is_id(assignee_id) else None
        if user is None or user.organization_id != principal.organization_id:
            raise Invalid("assignee_id is not a user of this organization", code="invalid_assignee")

    async def assignee_name(self, principal: Principal, chat: dict[str, Any]) -> str | None:
        """Who a visible chat is assigned to, as people call them (the name, else the
        e-mail's local part), for anyone who may see the chat: an agent sees who took it."""
        assignee_id = chat.get("assignee_id")
        if not assignee_id or not is_id(str(assignee_id)):
            return None
        async with self._db.read() as s:
            user = await s.get(UserRow, str(assignee_id))
        if user is None or user.organization_id != principal.organization_id:
            return None
        return user.name or user.email.split("@", 1)[0]

    async def mark_read(self, principal: Principal, chat_id: str) -> dict[str, Any]:
        """Zero the unread count and send read receipts for what the customer sent.

        Messages are stamped ``read_at`` only once their receipts went out: while the
        connection is not ready (or the engine refuses), they stay pending and the next
        read of the chat sends them.
        """
        principal.require(Role.AGENT)
        async with self._db.read() as s:
            chat = await chat_for(s, principal, chat_id)
            unread = (
                await s.execute(
                    select(MessageRow.id, MessageRow.wa_message_id, MessageRow.sender_jid)
                    .where(
                        MessageRow.chat_id == chat.id,
                        MessageRow.direction == Direction.IN.value,
                        MessageRow.read_at.is_(None),
                    )
                    .order_by(MessageRow.id.desc())
                    .limit(max(chat.unread_count, 1) + 50)
                )
            ).all()
        receipted = (
            [r[0] for r in unread] if unread and await self._send_receipts(chat, unread) else []
        )
        now = self._clock.now()
        async with self._db.write() as s:
            row = await chat_for(s, principal, chat_id)
            if receipted:
                await s.execute(
                    update(MessageRow)
                    .where(MessageRow.id.in_(receipted), MessageRow.read_at.is_(None))
                    .values(read_at=now)
                    .execution_options(synchronize_session=False)
                )
            changed = row.unread_count != 0
            row.unread_count = 0
            row.updated_at = now
            await s.flush()
            payload = chat_payload(row)
            if changed:
                await append_event(
                    s,
                    organization_id=row.organization_id,
                    connection_id=row.connection_id,
                    type=EventType.CHAT_UPDATED,
                    data=payload,
                    created_at=now,
                )
        return payload

    async def _send_receipts(
        self, chat: ChatRow, unread: Sequence[tuple[str, str, str | None]]
    ) -> bool:
        """Read receipts for ``unread`` (newest first), per sender in groups; False when
        they could not go now."""
        if not await self._commands.is_ready(chat.connection_id):
            return False
        assert chat.connection_id is not None
        by_sender: dict[str | None, list[str]] = {}
        for _, wa_id, sender in unread:
            by_sender.setdefault(sender if chat.is_group else None, []).append(wa_id)
        try:
            for sender, ids in by_sender.items():
                await self._commands.engine_call(
                    chat.connection_id, "mark_read", chat.jid, ids, sender
                )
        except (EngineError, DomainError) as exc:
            # DomainError: the node running the connection did not answer (cluster).
            log.warning(
                "read receipts not sent; the next read of the chat sends them",
                extra={"chat_id": chat.id, "code": exc.code},
            )
            return False
        return True

    async def presence(self, principal: Principal, chat_id: str, presence: ChatPresence) -> None:
        principal.require(Role.AGENT)
        chat = await self._chat_row(principal, chat_id)
        if chat.connection_id is None or not await self._commands.is_ready(chat.connection_id):
            raise Conflict("the chat's connection is not ready", code="connection_not_ready")
        await self._commands.engine_call(
            chat.connection_id, "send_presence", chat.jid, ChatPresence(presence)
        )

    async def _chat_row(self, principal: Principal, chat_id: str) -> ChatRow:
        async with self._db.read() as s:
            return await chat_for(s, principal, chat_id)

    # ------------------------------------------------------------ messages

    async def messages(
        self, principal: Principal, chat_id: str, *, before: str | None = None, limit: int = 50
    ) -> Page[dict[str, Any]]:
        """Newest first; ``before`` (a message id, or the returned cursor) pages back."""
        check_limit(limit)
        query = (
            select(MessageRow)
            .where(MessageRow.chat_id == chat_id)
            .order_by(MessageRow.id.desc())
            .limit(limit + 1)
        )
        if before:
            if not is_id(before):
                raise Invalid("before must be a message id", code="invalid_cursor")
            query = query.where(MessageRow.id < before)
        async with self._db.read() as s:
            await chat_for(s, principal, chat_id)
            rows = list((await s.scalars(query)).all())
        more = len(rows) > limit
        items = rows[:limit]
        return Page([message_payload(r) for r in items], items[-1].id if more and items else None)
