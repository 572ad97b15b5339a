"""Connection lifecycle: the one vocabulary of states and the legal moves between them.

Every state says what it means for the person looking at the panel. The planner
(``sessions/planner.py``) consults :func:`can_transition` before every state write, and
the recorder (``sessions/recorder.py``) publishes a state only when it differs from the
current one.
"""

from __future__ import annotations

from enum import StrEnum


class ConnectionState(StrEnum):
    IDLE = "idle"
    """Created, never started: nothing runs for it."""
    INITIALIZING = "initializing"
    """The engine is starting or dialing WhatsApp."""
    QR_READY = "qr_ready"
    """Waiting for a scan: a QR code with ``expires_at`` is available."""
    PAIRING_CODE_READY = "pairing_code_ready"
    """Waiting for the pairing code to be typed on the phone."""
    AUTHENTICATED = "authenticated"
    """Paired; syncing with the phone, not yet able to send."""
    READY = "ready"
    """Connected and logged in: messages can be sent."""
    RECONNECTING = "reconnecting"
    """The connection dropped; a retry is scheduled (``attempt``, ``next_retry_at``)."""
    DISCONNECTED = "disconnected"
    """Stopped by a user, or the QR/pairing window ran out. Credentials are kept."""
    LOGGED_OUT = "logged_out"
    """The device was unlinked (from the phone or the API): a new QR is needed."""
    ERROR = "error"
    """A person must act: banned, client outdated, broken store (see ``error_code``)."""

    @property
    def is_active(self) -> bool:
        """True while something runs for the connection (an engine session or a retry)."""
        return self in _ACTIVE

    @property
    def is_linking(self) -> bool:
        return self in (ConnectionState.QR_READY, ConnectionState.PAIRING_CODE_READY)


S = ConnectionState

_ACTIVE = frozenset(
    {S.INITIALIZING, S.QR_READY, S.PAIRING_CODE_READY, S.AUTHENTICATED, S.READY, S.RECONNECTING}
)

# Stopping, unlinking and failing are possible from anywhere something runs; the
# rows below add the moves specific to each state.
_FROM_ACTIVE = {S.DISCONNECTED, S.LOGGED_OUT, S.ERROR}

TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    S.IDLE: frozenset({S.INITIALIZING}),
    S.INITIALIZING: frozenset(
        {S.QR_READY, S.PAIRING_CODE_READY, S.AUTHENTICATED, S.READY, S.RECONNECTING} | _FROM_ACTIVE
    ),
    S.QR_READY: frozenset({S.PAIRING_CODE_READY, S.AUTHENTICATED, S.READY, S.RECONNECTING})
    | _FROM_ACTIVE,
    S.PAIRING_CODE_READY: frozenset({S.QR_READY, S.AUTHENTICATED, S.READY, S.RECONNECTING})
    | _FROM_ACTIVE,
    S.AUTHENTICATED: frozenset({S.READY, S.RECONNECTING}) | _FROM_ACTIVE,
    S.READY: frozenset({S.RECONNECTING, S.AUTHENTICATED}) | _FROM_ACTIVE,
    S.RECONNECTING: frozenset({S.INITIALIZING, S.AUTHENTICATED, S.READY, S.QR_READY})
    | _FROM_ACTIVE,
    # A stopped connection keeps its credentials and may be unlinked without starting.
    S.DISCONNECTED: frozenset({S.INITIALIZING, S.LOGGED_OUT}),
    S.LOGGED_OUT: frozenset({S.INITIALIZING}),
    S.ERROR: frozenset({S.INITIALIZING, S.DISCONNECTED, S.LOGGED_OUT}),
}


def can_transition(current: ConnectionState, target: ConnectionState) -> bool:
    """Whether ``current → target`` is a legal change (staying put is not a change)."""
    return target in TRANSITIONS[current]
