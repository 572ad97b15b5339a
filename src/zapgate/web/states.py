"""How the panel shows states: a colour tone (always beside the text) for connections,
chats and deliveries, and which actions make sense in each connection state."""

from __future__ import annotations

from zapgate.domain.chats import ChatStatus
from zapgate.domain.deliveries import DeliveryStatus
from zapgate.domain.states import ConnectionState

S = ConnectionState

STATE_STYLE: dict[str, str] = {
    S.IDLE: "neutral",
    S.INITIALIZING: "info",
    S.QR_READY: "waiting",
    S.PAIRING_CODE_READY: "waiting",
    S.AUTHENTICATED: "info",
    S.READY: "ok",
    S.RECONNECTING: "warn",
    S.DISCONNECTED: "neutral",
    S.LOGGED_OUT: "neutral",
    S.ERROR: "bad",
}

CHAT_TONE: dict[str, str] = {
    ChatStatus.PENDING: "waiting",
    ChatStatus.ACTIVE: "ok",
    ChatStatus.CLOSED: "neutral",
}

DELIVERY_TONE: dict[str, str] = {
    DeliveryStatus.DELIVERED: "ok",
    DeliveryStatus.PENDING: "waiting",
    DeliveryStatus.FAILED: "bad",
}

# Dashboard filter groups: what the totals count.
WAITING = frozenset({S.QR_READY, S.PAIRING_CODE_READY})
DOWN = frozenset({S.DISCONNECTED, S.LOGGED_OUT, S.IDLE, S.RECONNECTING})


def state_tone(state: str) -> str:
    return STATE_STYLE.get(state, "neutral")


def actions_for(state: str, linked: bool) -> list[str]:
    """The lifecycle buttons a card shows, most useful first."""
    current = ConnectionState(state)
    if current is S.READY:
        return ["stop", "reconnect", "logout"]
    if current.is_linking:
        return ["show_qr", "stop"]
    if current in (S.INITIALIZING, S.AUTHENTICATED):
        return ["stop"]
    if current is S.RECONNECTING:
        return ["reconnect", "stop", "logout"]
    actions = ["connect"]
    if linked and current is not S.LOGGED_OUT:
        actions.append("logout")
    return actions
