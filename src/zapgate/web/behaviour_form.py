"""The behaviour settings form of the connection detail page: what it shows, what it
was sent, and which field a refusal is about (shown beside it, the form kept)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zapgate.util.urls import userinfo

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.connections import ConnectionRow

FLAGS = ("reject_calls", "ignore_groups", "always_online", "auto_read", "ignore_status")
HISTORY = ("none", "recent", "full")
FIELD_OF = {
    "invalid_proxy_url": "proxy_url",
    "invalid_reject_call_message": "reject_call_message",
    "invalid_sync_history": "sync_history",
}


@dataclass
class BehaviourForm:
    flags: dict[str, bool] = field(default_factory=dict)
    reject_call_message: str = ""
    sync_history: str = "recent"
    proxy_current: str | None = None
    """The stored proxy, masked: the only form the page ever shows."""
    proxy_url: str = ""
    """A new proxy typed in; empty keeps the stored one."""
    proxy_clear: bool = False
    proxy_withheld: bool = False
    """The refused proxy carried credentials: not sent back, typed again."""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, row: ConnectionRow) -> BehaviourForm:
        return cls(
            flags={name: bool(getattr(row, name)) for name in FLAGS},
            reject_call_message=row.reject_call_message or "",
            sync_history=row.sync_history,
            proxy_current=row.proxy_url,
        )

    def refused(self, code: str, text: str) -> BehaviourForm:
        if self.proxy_url and userinfo(self.proxy_url) is not None:
            self.proxy_url, self.proxy_withheld = "", True
        self.errors[FIELD_OF.get(code, "form")] = text
        return self
