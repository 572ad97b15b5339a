"""A connection's behaviour settings: validated changes to its row, what the engine is
handed, and how they are answered (the proxy's password masked)."""

from __future__ import annotations

from typing import Any

from zapgate.domain.behaviour import SyncHistory, check_proxy_url, mask_proxy_url
from zapgate.domain.errors import Invalid
from zapgate.sessions.proxies import store_proxy
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.secretbox import SecretBox

FLAGS = ("reject_calls", "always_online", "auto_read", "ignore_groups", "ignore_status")
SETTINGS = (*FLAGS, "reject_call_message", "sync_history", "proxy_url")
MAX_REPLY = 4096
"""A reply is one WhatsApp text; WhatsApp's own limit is far above what a call reply needs."""


def behaviour_payload(row: ConnectionRow) -> dict[str, Any]:
    """The settings as the API and the connection.* events show them."""
    return {
        **{name: bool(getattr(row, name)) for name in FLAGS},
        "reject_call_message": row.reject_call_message,
        "sync_history": row.sync_history,
        "proxy_url": mask_proxy_url(row.proxy_url),
    }


def apply_settings(
    row: ConnectionRow, changes: dict[str, Any], box: SecretBox | None = None
) -> None:
    """Write ``changes`` (a subset of :data:`SETTINGS`) to ``row``. A None flag leaves it
    as it is. The proxy is stored sealed with ``box`` (``sessions/proxies.py``); the
    runner dials again when the proxy it dials with changes (``Runner.configure``)."""
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise Invalid(f"unknown settings: {', '.join(sorted(unknown))}", code="invalid_settings")
    for name in FLAGS:
        value = changes.get(name)
        if value is not None:
            setattr(row, name, bool(value))
    if "sync_history" in changes and changes["sync_history"] is not None:
        try:
            row.sync_history = SyncHistory(changes["sync_history"]).value
        except ValueError as exc:
            raise Invalid(
                "sync_history must be none, recent or full", code="invalid_sync_history"
            ) from exc
    if "reject_call_message" in changes:
        reply = (changes["reject_call_message"] or "").strip()
        if len(reply) > MAX_REPLY:
            raise Invalid(
                f"reject_call_message must have at most {MAX_REPLY} characters",
                code="invalid_reject_call_message",
            )
        row.reject_call_message = reply or None
    if "proxy_url" in changes:
        given = changes["proxy_url"]
        proxy = check_proxy_url(given) if given is not None and given.strip() else None
        store_proxy(row, proxy, box)
