"""Instances: connections found by name, and instance tokens that act for one of them.

Integrations written for Evolution API authenticate an instance's routes with that
instance's own token. zapgate keeps only its SHA-256 (``connections.token_hash``), so
the token is shown once, when it is issued or rotated. A token grants the admin role
of the connection's organization, and the caller that holds it (``InstanceAccess``)
must be confined to its connection by whoever serves the request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from zapgate.domain.errors import Invalid, NotFound, Unauthorized
from zapgate.domain.phones import LID_SERVER, normalize_phone, normalize_recipient, phone_of_jid
from zapgate.domain.roles import Role
from zapgate.services.connections import ConnectionService
from zapgate.services.context import Principal
from zapgate.services.lookups import LookupService, NumberAnswer
from zapgate.services.sending.content import referenced
from zapgate.store.db import Database
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import ChatRow, ContactRow
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import Clock

__all__ = ["InstanceAccess", "InstanceService", "Recipient"]

MIN_TOKEN = 16
"""A chosen token shorter than this is refused: it is stored with a fast hash, which
is safe only for tokens nobody can guess."""
MAX_TOKEN = 200


@dataclass(frozen=True, slots=True)
class Recipient:
    jid: str
    """The chat's JID."""
    answer: NumberAnswer | None
    """Whether the phone is on WhatsApp; None when it was not asked (a group, a LID,
    not connected)."""


@dataclass(frozen=True, slots=True)
class InstanceAccess:
    principal: Principal
    connection_id: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_instance_token() -> str:
    # Evolution's own tokens are upper-case UUIDs; this is as easy to paste, with 160
    # random bits.
    return secrets.token_hex(20).upper()


class InstanceService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        connections: ConnectionService,
        lookups: LookupService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._connections = connections
        self._lookups = lookups

    async def chat_id(self, principal: Principal, connection_id: str, jid: str) -> str:
        """The id of the connection's chat with ``jid`` (a phone in any form, a group)."""
        target = await self.recipient(principal, connection_id, jid)
        async with self._db.read() as s:
            found = await s.scalar(
                select(ChatRow.id).where(
                    ChatRow.organization_id == principal.organization_id,
                    ChatRow.connection_id == connection_id,
                    ChatRow.jid == target,
                )
            )
        if found is None:
            raise NotFound(f"no chat with {jid} on this instance", code="chat_not_found")
        return str(found)

    async def message_id(self, principal: Principal, connection_id: str, wa_message_id: str) -> str:
        """The zapgate id of the connection's message with this WhatsApp id."""
        async with self._db.read() as s:
            found = await s.scalar(
                select(MessageRow.id).where(
                    MessageRow.organization_id == principal.organization_id,
                    MessageRow.connection_id == connection_id,
                    MessageRow.wa_message_id == wa_message_id,
                )
            )
        if found is None:
            raise NotFound("message not found", code="message_not_found")
        return str(found)

    async def quotable(self, principal: Principal, chat_jid: str, ref: str) -> bool:
        """Whether ``ref`` (a WhatsApp or zapgate id) is a message of the chat
        ``chat_jid``, which a reply there may quote."""
        async with self._db.read() as s:
            try:
                await referenced(s, principal, ref, chat_jid, "reply_to")
            except Invalid:
                return False
        return True

    async def recipient(self, principal: Principal, connection_id: str, number: str) -> str:
        """The chat JID for a number in any form: a phone (typed, or as a JID), a group
        JID, or a LID the organization's contacts know. A Brazilian mobile number is
        asked of WhatsApp, which knows whether it carries the ninth digit."""
        return (await self.resolve(principal, connection_id, number, check=False)).jid

    async def resolve(
        self, principal: Principal, connection_id: str, number: str, *, check: bool
    ) -> Recipient:
        """:meth:`recipient`, with WhatsApp's answer for the phone (from its contact's
        cache when fresh) when ``check`` is set and the connection is ready. Groups and
        LIDs are not checked."""
        value = number.strip()
        if value.endswith("@" + LID_SERVER):
            async with self._db.read() as s:
                phone = await s.scalar(
                    select(ContactRow.phone).where(
                        ContactRow.organization_id == principal.organization_id,
                        ContactRow.lid == value,
                        ContactRow.phone.is_not(None),
                    )
                )
            if phone is None:
                raise Invalid(f"no known contact has the LID {value}", code="unknown_lid")
            return Recipient(normalize_recipient(phone), None)
        if "@" in value:
            # A JID is WhatsApp's own answer already: used as given.
            jid = normalize_recipient(value)
            typed = phone_of_jid(jid)
            if not check or typed is None:
                return Recipient(jid, None)
            return Recipient(jid, await self._lookups.cached_check(principal, connection_id, typed))
        phone = normalize_phone(value)
        brazilian = phone.startswith("55") and len(phone) in (12, 13)
        if not (check or brazilian):
            return Recipient(normalize_recipient(phone), None)
        answer = await self._lookups.cached_check(principal, connection_id, phone)
        if answer is not None and answer.on_whatsapp and answer.jid:
            return Recipient(answer.jid, answer)
        # Not connected: the outbox checks the number before it sends.
        return Recipient(normalize_recipient(phone), answer)

    async def by_name(self, principal: Principal, name: str) -> ConnectionRow:
        """The organization's connection called exactly ``name`` (the oldest, should
        two share it)."""
        async with self._db.read() as s:
            row = await s.scalar(
                select(ConnectionRow)
                .where(
                    ConnectionRow.organization_id == principal.organization_id,
                    ConnectionRow.name == name.strip(),
                )
                .order_by(ConnectionRow.id)
                .limit(1)
            )
        if row is None:
            raise NotFound(f'the "{name}" instance does not exist', code="connection_not_found")
        return row

    async def start_settled(
        self, principal: Principal, connection_id: str, *, timeout: float
    ) -> ConnectionRow:
        """Start the connection and wait (up to ``timeout`` clock seconds) until it
        leaves ``initializing``, so a QR code or the resumed state can be answered."""
        await self._connections.start(principal, connection_id)
        await self._connections.commands.run(connection_id, "wait_settled", {"timeout": timeout})
        return await self._connections.get(principal, connection_id)

    async def issue(
        self, principal: Principal, connection_id: str, *, token: str | None = None
    ) -> str:
        """Give the connection a new token (the old one stops working) and return it."""
        principal.require(Role.ADMIN)
        if token is not None and not MIN_TOKEN <= len(token.strip()) <= MAX_TOKEN:
            raise Invalid(
                f"token must have {MIN_TOKEN} to {MAX_TOKEN} characters", code="invalid_token"
            )
        value = token.strip() if token is not None else new_instance_token()
        digest = hash_token(value)
        async with self._db.write() as s:
            taken = await s.scalar(
                select(ConnectionRow.id).where(
                    ConnectionRow.token_hash == digest, ConnectionRow.id != connection_id
                )
            )
            if taken is not None:
                raise Invalid("this token is already in use", code="token_in_use")
            result = await s.execute(
                update(ConnectionRow)
                .where(
                    ConnectionRow.id == connection_id,
                    ConnectionRow.organization_id == principal.organization_id,
                )
                .values(token_hash=digest, updated_at=self._clock.now())
            )
            if getattr(result, "rowcount", 0) != 1:
                raise NotFound("connection not found", code="connection_not_found")
        return value

    async def authenticate(self, token: str) -> InstanceAccess:
        async with self._db.read() as s:
            row = (
                await s.execute(
                    select(ConnectionRow.id, ConnectionRow.organization_id).where(
                        ConnectionRow.token_hash == hash_token(token.strip())
                    )
                )
            ).first()
        if row is None:
            raise Unauthorized("the key is not valid", code="invalid_api_key")
        return InstanceAccess(
            principal=Principal(organization_id=row.organization_id, role=Role.ADMIN),
            connection_id=row.id,
        )
