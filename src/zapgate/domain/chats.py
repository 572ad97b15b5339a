"""Chat vocabulary: where a conversation stands in the shared inbox."""

from __future__ import annotations

from enum import StrEnum


class ChatStatus(StrEnum):
    PENDING = "pending"
    """Waiting for an agent: every new chat, and a closed one the customer wrote to again."""
    ACTIVE = "active"
    """An agent has taken it on."""
    CLOSED = "closed"
    """Done; the customer's next message reopens it as pending."""
