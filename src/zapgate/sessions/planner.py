"""What a connection does next: the deciding half of its runner, with no I/O.

:func:`plan` takes what a runner knows of its connection (a :class:`Situation`) and one
input: an engine lifecycle event, a user command, or the outcome of a timer, a health
check or an engine call. It answers a :class:`Step`: the actions to carry out, in order,
or a :class:`Rejection` of the command. The runner carries steps out; nothing here
waits, writes, logs or reads the clock (``now`` and the backoff are passed in).

The values it reads and answers with are in ``sessions/steps.py``. A step changes the
state through at most one :class:`Record`, whose target must be a legal move of
``domain/states.py``. An illegal one becomes :class:`Refused` (logged, nothing written)
while the rest of the step still happens: a reconnect while a QR code is shown reopens
the engine session, and the state stays ``qr_ready`` until the new codes arrive.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, assert_never

from zapgate.domain.events import EventType
from zapgate.domain.states import ConnectionState, can_transition
from zapgate.engines.base import SessionSpec
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
from zapgate.sessions.steps import (
    IGNORED,
    LIFECYCLE_EVENTS,
    Action,
    CancelRetry,
    Change,
    CloseSession,
    Command,
    Delete,
    DeleteSession,
    HealthFailed,
    Input,
    IssuePairingCode,
    LifecycleEvent,
    Logout,
    LogoutDevice,
    Memory,
    Note,
    OpenFailed,
    OpenSession,
    Outcome,
    PairingCodeIssued,
    Reconnect,
    Record,
    Refused,
    Rejection,
    Remember,
    RequestPairing,
    RequestPairingCode,
    Resume,
    RetryDelay,
    RetryDue,
    ScheduleRetry,
    Situation,
    Start,
    Step,
    Stop,
)

S = ConnectionState

LINKING = frozenset({S.INITIALIZING, S.QR_READY, S.PAIRING_CODE_READY})
"""States in which a pairing code can be asked for."""


# ---------------------------------------------------------------- planning


def plan(s: Situation, event: Input, *, now: datetime, delay: RetryDelay) -> Step:
    """The step that answers ``event`` when the connection is in situation ``s``."""
    if isinstance(event, LIFECYCLE_EVENTS):
        # A deleted connection's engine may still be winding down: nothing it says matters.
        return IGNORED if s.deleted else _engine_event(s, event, now, delay)
    return _command(s, event, now, delay)


def _command(s: Situation, event: Command | Outcome, now: datetime, delay: RetryDelay) -> Step:
    m = s.memory
    match event:
        case Start():
            if s.state.is_active and s.state is not S.RECONNECTING:
                return IGNORED
            return Step((CancelRetry(), *_open(s, replace(m, attempt=0), "started")))
        case Resume():
            if s.state is not S.RECONNECTING or s.deleted:
                return IGNORED
            return Step((CancelRetry(), *_open(s, m, None)))
        case RetryDue():
            if s.state is not S.RECONNECTING or s.deleted:
                return IGNORED
            return Step(_open(s, m, f"retry {m.attempt}"))
        case Stop():
            if not s.state.is_active:
                return Step((CancelRetry(),))
            fields = {
                "disconnected_at": now,
                "attempt": 0,
                "next_retry_at": None,
                "error_code": None,
                "error_message": None,
            }
            return Step(
                (
                    CancelRetry(),
                    CloseSession(),
                    Remember(replace(m, qr=None, pairing=None)),
                    _move(s, S.DISCONNECTED, "stopped", "stopped by a user", fields),
                )
            )
        case Reconnect():
            close = (CloseSession(),) if s.state.is_active else ()
            opening = _open(s, replace(m, attempt=0), "reconnect requested")
            return Step((CancelRetry(), *close, *opening))
        case Logout():
            if not m.linked and not s.state.is_active:
                return _reject("not_linked", "this connection has no linked device")
            return Step(
                (
                    CancelRetry(),
                    LogoutDevice(),
                    *_logged_out(s, "logged out through the API", now),
                )
            )
        case RequestPairing():
            if m.linked and s.state is not S.LOGGED_OUT:
                return _reject(
                    "already_linked",
                    "this connection already has a linked device; log it out first",
                )
            if s.state in LINKING:
                return IGNORED
            return Step((CancelRetry(), *_open(s, m, "started for a pairing code")))
        case IssuePairingCode(phone=phone):
            if s.state not in LINKING:
                return _reject(
                    "not_linking",
                    f"the connection could not start linking (state {s.state.value})",
                )
            return Step((RequestPairingCode(phone),))
        case PairingCodeIssued(phone=phone, code=code):
            data = {"code": code.code, "expires_at": code.expires_at.isoformat()}
            return Step(
                (
                    Remember(replace(m, pairing=code, qr=None)),
                    _move(
                        s,
                        S.PAIRING_CODE_READY,
                        "pairing_code",
                        f"pairing code issued for +{phone}",
                        events=((EventType.CONNECTION_PAIRING_CODE, data),),
                    ),
                )
            )
        case Delete():
            return Step((CancelRetry(), DeleteSession()))
        case HealthFailed(reason=reason):
            if s.state is not S.READY:
                return IGNORED
            return Step((CloseSession(), *_retry_later(s, reason, now, delay)))
        case OpenFailed(code=code, message=message, permanent=permanent):
            if permanent:
                return Step((CloseSession(), *_fail_to(s, S.ERROR, code, message, now)))
            return Step((CloseSession(), *_retry_later(s, message, now, delay)))
        case _:
            assert_never(event)


def _engine_event(s: Situation, event: LifecycleEvent, now: datetime, delay: RetryDelay) -> Step:
    m = s.memory
    match event:
        case QrIssued():
            if s.state is S.PAIRING_CODE_READY:
                # Engines keep rotating QR codes; the pairing code being typed stays shown.
                return IGNORED
            data = {
                "code": event.code,
                "expires_at": event.expires_at.isoformat(),
                "index": event.index,
                "total": event.total,
            }
            return Step(
                (
                    Remember(replace(m, qr=event, qr_expired=False)),
                    _move(
                        s,
                        S.QR_READY,
                        "qr",
                        f"QR code {event.index} of {event.total} issued",
                        events=((EventType.CONNECTION_QR, data),),
                    ),
                )
            )
        case LinkTimedOut(reason=reason):
            expired = reason == "qr_timeout"
            what = "QR code" if expired else "pairing code"
            fields = {
                "error_code": reason,
                "error_message": f"the {what} expired; start the connection again",
                "disconnected_at": now,
            }
            return Step(
                (
                    Remember(replace(m, qr=None, pairing=None, qr_expired=expired)),
                    CloseSession(),
                    _move(
                        s,
                        S.DISCONNECTED,
                        "timeout",
                        f"the {what} expired without being used",
                        fields,
                    ),
                )
            )
        case Paired():
            fields = {
                "linked": True,
                "jid": event.jid,
                "lid": event.lid,
                "phone": event.phone,
                "push_name": event.push_name,
                "error_code": None,
                "error_message": None,
            }
            return Step(
                (
                    Remember(replace(m, linked=True, jid=event.jid, qr=None, pairing=None)),
                    _move(s, S.AUTHENTICATED, "paired", f"linked to +{event.phone}", fields),
                )
            )
        case Connected():
            # One line for a recovery, as one for the first failure (``_retry_later``).
            recovered = (
                (Note(logging.INFO, "connection recovered", {"attempts": m.attempt}),)
                if m.attempt
                else ()
            )
            fields = {
                "linked": True,
                "jid": event.jid,
                "phone": event.phone,
                "push_name": event.push_name or s.push_name,
                "connected_at": now,
                "last_seen_at": now,
                "attempt": 0,
                "next_retry_at": None,
                "error_code": None,
                "error_message": None,
            }
            return Step(
                (
                    Remember(replace(m, attempt=0, linked=True)),
                    *recovered,
                    _move(s, S.READY, "connected", "connected to WhatsApp", fields),
                )
            )
        case Disconnected(reason=reason, retryable=retryable):
            # A stopped connection has no session to lose, and a reconnecting one has
            # already planned its retry.
            if not s.state.is_active or s.state is S.RECONNECTING:
                return IGNORED
            if retryable:
                return Step((CloseSession(), *_retry_later(s, reason, now, delay)))
            return Step((CloseSession(), *_fail_to(s, S.DISCONNECTED, "disconnected", reason, now)))
        case ConnectFailure(reason=reason, permanent=permanent):
            if not s.state.is_active or s.state is S.RECONNECTING:
                return IGNORED
            if permanent:
                return Step((CloseSession(), *_fail_to(s, S.ERROR, "connect_failure", reason, now)))
            return Step((CloseSession(), *_retry_later(s, reason, now, delay)))
        case LoggedOut(reason=reason):
            return Step((CancelRetry(), *_logged_out(s, reason, now)))
        case StreamReplaced():
            message = "another client took over this WhatsApp session"
            return Step(
                (CloseSession(), *_fail_to(s, S.DISCONNECTED, "stream_replaced", message, now))
            )
        case TemporaryBan():
            until = now + timedelta(seconds=event.expires_in)
            message = (
                f"WhatsApp temporarily banned this number (code {event.code}) until "
                f"{until.isoformat(timespec='minutes')}; start it again after that"
            )
            return Step((CloseSession(), *_fail_to(s, S.ERROR, "temporary_ban", message, now)))
        case ClientOutdated():
            message = "WhatsApp refused this client version; update zapgate"
            return Step((CloseSession(), *_fail_to(s, S.ERROR, "client_outdated", message, now)))
        case KeepAlive(ok=ok):
            return Step((Record(Change(kind="keepalive_restored" if ok else "keepalive_timeout")),))
        case EngineFault():
            message = f"{event.code}: {event.message}"
            return Step((Record(Change(kind="engine_fault", message=message)),))
        case _:
            assert_never(event)


# ---------------------------------------------------------------- shared moves


def _open(s: Situation, m: Memory, reason: str | None) -> tuple[Action, ...]:
    """Open the session; ``reason`` announces ``initializing`` (None: a restore, which
    writes nothing until the engine answers: a thousand restored sessions would
    otherwise double the writes of a restart for a state nobody can act on)."""
    spec = SessionSpec(
        session_id=s.connection_id,
        organization_id=s.organization_id,
        resume=m.linked,
        jid=m.jid if m.linked else None,
        push_name=s.push_name,
        behaviour=s.behaviour,
    )
    fresh = Remember(replace(m, qr=None, qr_expired=False, pairing=None))
    if reason is None:
        return (fresh, OpenSession(spec, restoring=True))
    return (fresh, _move(s, S.INITIALIZING, "starting", reason), OpenSession(spec))


def _retry_later(s: Situation, reason: str, now: datetime, delay: RetryDelay) -> tuple[Action, ...]:
    attempt = s.memory.attempt + 1
    wait = delay(attempt)
    fields: dict[str, Any] = {
        "attempt": attempt,
        "next_retry_at": now + timedelta(seconds=wait),
        "error_message": reason,
        "error_code": None,
    }
    if s.state is S.READY:
        fields["disconnected_at"] = now
    # The first failure is worth a warning; the retries after it are in the status and
    # the connection log, and the recovery gets its own line.
    if attempt == 1:
        note = Note(logging.WARNING, "connection lost; retrying", {"reason": reason})
    else:
        note = Note(logging.DEBUG, "retry failed", {"attempt": attempt, "reason": reason})
    message = f"{reason}; retry {attempt} in {wait:.1f}s"
    return (
        Remember(replace(s.memory, attempt=attempt)),
        note,
        _move(s, S.RECONNECTING, "reconnecting", message, fields),
        ScheduleRetry(wait),
    )


def _fail_to(
    s: Situation, target: ConnectionState, code: str, message: str, now: datetime
) -> tuple[Action, ...]:
    """Stop for good: a person must start the connection again."""
    fields = {
        "error_code": code,
        "error_message": message,
        "disconnected_at": now,
        "next_retry_at": None,
    }
    kind = "error" if target is S.ERROR else "disconnected"
    return (
        CancelRetry(),
        Remember(replace(s.memory, qr=None, pairing=None)),
        _move(s, target, kind, message, fields),
    )


def _logged_out(s: Situation, reason: str, now: datetime) -> tuple[Action, ...]:
    fields = {
        "linked": False,
        "jid": None,
        "error_code": None,
        "error_message": reason,
        "disconnected_at": now,
        "attempt": 0,
        "next_retry_at": None,
    }
    return (
        Remember(replace(s.memory, qr=None, pairing=None, linked=False, jid=None)),
        _move(s, S.LOGGED_OUT, "logged_out", reason, fields),
    )


def _move(
    s: Situation,
    target: ConnectionState,
    kind: str,
    message: str,
    fields: dict[str, Any] | None = None,
    *,
    events: tuple[tuple[EventType, dict[str, Any]], ...] = (),
) -> Record | Refused:
    # Staying put is no transition: it is written (a log line, new row fields), and the
    # recorder publishes no status for it.
    if target is not s.state and not can_transition(s.state, target):
        return Refused(s.state, target)
    change = Change(kind=kind, message=message, state=target, fields=fields or {}, events=events)
    return Record(change)


def _reject(code: str, message: str) -> Step:
    return Step(rejected=Rejection(code, message))
