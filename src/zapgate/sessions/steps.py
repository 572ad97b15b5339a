"""The vocabulary of a connection's runner and its planner, as plain frozen values.

What a runner knows of its connection (:class:`Situation`, :class:`Memory`), what can
happen to it (inputs: engine lifecycle events, commands, outcomes), what it can do
(actions), and the :class:`Step` that :func:`~zapgate.sessions.planner.plan` answers with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zapgate.domain.behaviour import Behaviour
from zapgate.domain.events import EventType
from zapgate.domain.states import ConnectionState
from zapgate.engines.base import PairingCode, SessionSpec
from zapgate.engines.events import (
    ClientOutdated,
    Connected,
    ConnectFailure,
    Disconnected,
    EngineFault,
    KeepAlive,
    LinkTimedOut,
    LoggedOut,
    Paired,
    QrIssued,
    StreamReplaced,
    TemporaryBan,
)

RetryDelay = Callable[[int], float]
"""Seconds to wait before retry number ``n`` (1-based): the reconnect backoff."""


@dataclass(frozen=True, slots=True)
class Change:
    """One thing for the recorder to write: an optional new state, row fields, a line of
    the connection's log, extra events."""

    kind: str
    message: str | None = None
    state: ConnectionState | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    log_data: dict[str, Any] = field(default_factory=dict)
    events: tuple[tuple[EventType, dict[str, Any]], ...] = ()
    log: bool = True


# ---------------------------------------------------------------- what a runner knows


@dataclass(frozen=True, slots=True)
class Memory:
    """What a runner remembers of its connection besides the state."""

    linked: bool = False
    jid: str | None = None
    attempt: int = 0
    """Retries since the last success: the backoff's count."""
    qr: QrIssued | None = None
    """The QR code to show now."""
    qr_expired: bool = False
    """The last QR code ran out unscanned (asking for it is then 410, not 404)."""
    pairing: PairingCode | None = None


@dataclass(frozen=True, slots=True)
class Situation:
    connection_id: str
    organization_id: str
    state: ConnectionState
    push_name: str | None = None
    memory: Memory = Memory()
    deleted: bool = False
    """The connection is being deleted, or its row is gone."""
    behaviour: Behaviour = field(default_factory=Behaviour)


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Start:
    """Begin linking, or resume a linked device."""


@dataclass(frozen=True, slots=True)
class Resume:
    """Reopen a linked device after a server restart (the supervisor staggers these)."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop the session; credentials are kept."""


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Close the session if it runs and open it again, the backoff reset."""


@dataclass(frozen=True, slots=True)
class Logout:
    """Unlink the device."""


@dataclass(frozen=True, slots=True)
class Delete:
    """Stop the session and forget everything kept for it (the row is being deleted)."""


@dataclass(frozen=True, slots=True)
class RequestPairing:
    """First half of a pairing-code request: make sure the connection is linking."""

    phone: str


@dataclass(frozen=True, slots=True)
class IssuePairingCode:
    """Second half: ask the engine for the code, once the connection is linking."""

    phone: str


@dataclass(frozen=True, slots=True)
class PairingCodeIssued:
    """The engine's answer to :class:`RequestPairingCode`."""

    phone: str
    code: PairingCode


@dataclass(frozen=True, slots=True)
class OpenFailed:
    """:class:`OpenSession` raised an ``EngineError``."""

    code: str
    message: str
    permanent: bool


@dataclass(frozen=True, slots=True)
class RetryDue:
    """The backoff delay of :class:`ScheduleRetry` has passed."""


@dataclass(frozen=True, slots=True)
class HealthFailed:
    """The health check found a connection that claims ``ready`` but does not answer."""

    reason: str


@dataclass(frozen=True, slots=True)
class WriteFailed:
    """A step for an engine report or a retry failed on a database error (a state write
    that did not go through): the connection needs a new plan."""

    reason: str


LIFECYCLE_EVENTS = (
    QrIssued,
    LinkTimedOut,
    Paired,
    Connected,
    Disconnected,
    LoggedOut,
    StreamReplaced,
    TemporaryBan,
    ClientOutdated,
    ConnectFailure,
    KeepAlive,
    EngineFault,
)
"""Engine events the planner decides on; the others (messages, receipts...) are traffic."""

LifecycleEvent = (
    QrIssued
    | LinkTimedOut
    | Paired
    | Connected
    | Disconnected
    | LoggedOut
    | StreamReplaced
    | TemporaryBan
    | ClientOutdated
    | ConnectFailure
    | KeepAlive
    | EngineFault
)
Command = Start | Resume | Stop | Reconnect | Logout | Delete | RequestPairing | IssuePairingCode
Outcome = PairingCodeIssued | OpenFailed | RetryDue | HealthFailed | WriteFailed
Input = LifecycleEvent | Command | Outcome


# ---------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class CancelRetry:
    """Cancel the scheduled retry, if there is one."""


@dataclass(frozen=True, slots=True)
class CloseSession:
    """Stop the engine session; its credentials are kept."""


@dataclass(frozen=True, slots=True)
class OpenSession:
    """Open the engine session. Its failure is planned as :class:`OpenFailed`."""

    spec: SessionSpec
    restoring: bool = False
    """After a restart the state stays ``reconnecting`` (nothing is written until the
    engine answers), but the restore still waits for that answer (``wait_settled``)."""


@dataclass(frozen=True, slots=True)
class LogoutDevice:
    """Unlink the device in the engine and forget its credentials."""


@dataclass(frozen=True, slots=True)
class DeleteSession:
    """Stop the engine session and forget everything kept for it."""


@dataclass(frozen=True, slots=True)
class RequestPairingCode:
    """Ask the engine for a pairing code; its answer is planned as PairingCodeIssued."""

    phone: str


@dataclass(frozen=True, slots=True)
class Remember:
    memory: Memory


@dataclass(frozen=True, slots=True)
class Record:
    """Write a change; when it carries a state, the runner takes that state once written."""

    change: Change


@dataclass(frozen=True, slots=True)
class Refused:
    """A move the transition table forbids: logged, not written."""

    state: ConnectionState
    target: ConnectionState


@dataclass(frozen=True, slots=True)
class ScheduleRetry:
    """Plan :class:`RetryDue` in ``delay`` seconds: at ``due`` (the ``next_retry_at`` the
    status shows) when given, however long recording that status took."""

    delay: float
    due: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Note:
    """A line for the server log."""

    level: int
    message: str
    data: dict[str, Any]


Action = (
    CancelRetry
    | CloseSession
    | OpenSession
    | LogoutDevice
    | DeleteSession
    | RequestPairingCode
    | Remember
    | Record
    | Refused
    | ScheduleRetry
    | Note
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """The command cannot be done in this situation (a 409 with ``code``)."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Step:
    actions: tuple[Action, ...] = ()
    rejected: Rejection | None = None

    @property
    def state(self) -> ConnectionState | None:
        """The state this step moves to, if it moves."""
        for action in self.actions:
            if isinstance(action, Record) and action.change.state is not None:
                return action.change.state
        return None


IGNORED = Step()
