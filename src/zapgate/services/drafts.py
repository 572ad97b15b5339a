"""An outbound message between ``POST /messages`` and the commit that stores it.

A plain object with the columns of its ``messages`` row: building, filling and reading
an ORM object per accepted message cost about a twentieth of a send's CPU, for
attribute tracking that a row inserted once by one Core statement never needs. The
item-by-item replay of a failed batch turns a draft into an ORM row (:meth:`row`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from zapgate.domain.messages import Direction
from zapgate.store.tables.messages import MessageRow

COLUMNS: tuple[str, ...] = tuple(column.key for column in MessageRow.__table__.columns)


@dataclass(slots=True)
class MessageDraft:
    id: str
    organization_id: str
    connection_id: str | None
    wa_message_id: str
    chat_jid: str
    type: str
    status: str
    text: str | None
    media_id: str | None
    payload: dict[str, Any]
    quoted_wa_id: str | None
    idempotency_key: str | None
    template_id: str | None
    created_by: str | None
    next_attempt_at: datetime | None
    send_at: datetime | None
    created_at: datetime
    chat_id: str | None = None
    contact_id: str | None = None
    direction: str = Direction.OUT.value
    sender_jid: str | None = None
    attempts: int = 0
    error_code: str | None = None
    error_message: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    played_at: datetime | None = None
    failed_at: datetime | None = None
    edited_at: datetime | None = None
    revoked_at: datetime | None = None

    def values(self) -> dict[str, Any]:
        """The row's columns, for an INSERT."""
        return {key: getattr(self, key) for key in COLUMNS}

    def row(self) -> MessageRow:
        return MessageRow(**self.values())


def _check_columns() -> None:
    missing = set(COLUMNS) - {f.name for f in fields(MessageDraft)}
    if missing:
        raise RuntimeError(f"MessageDraft lacks columns of messages: {sorted(missing)}")


_check_columns()
