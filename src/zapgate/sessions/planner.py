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
from typing import assert_never

from zapgate.domain.events import EventType
from zapgate.domain.states import ConnectionState
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
from zapgate.sessions.moves import fail_to, logged_out, move, open, reject, retry_later
from zapgate.sessions.steps import (
    IGNORED,
    LIFECYCLE_EVENTS,
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
    Note,
    OpenFailed,
    Outcome,
    PairingCodeIssued,
    Reconnect,
    Record,
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
    WriteFailed,
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
            return Step((CancelRetry(), *open(s, replace(m, attempt=0), "started")))
        case Resume():
            if s.state is not S.RECONNECTING or s.deleted:
                return IGNORED
            return Step((CancelRetry(), *open(s, m, None)))
        case RetryDue():
            if s.state is not S.RECONNECTING or s.deleted:
                return IGNORED
            return Step(open(s, m, f"retry {m.attempt}"))
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
                    move(s, S.DISCONNECTED, "stopped", "stopped by a user", fields),
                )
            )
        case Reconnect():
            close = (CloseSession(),) if s.state.is_active else ()
            opening = open(s, replace(m, attempt=0), "reconnect requested")
            return Step((CancelRetry(), *close, *opening))
        case Logout():
            if not m.linked and not s.state.is_active:
                return reject("not_linked", "this connection has no linked device")
            return Step(
                (
                    CancelRetry(),
                    LogoutDevice(),
                    *logged_out(s, "logged out through the API", now),
                )
            )
        case RequestPairing():
            if m.linked and s.state is not S.LOGGED_OUT:
                return reject(
                    "already_linked",
                    "this connection already has a linked device; log it out first",
                )
            if s.state in LINKING:
                return IGNORED
            return Step((CancelRetry(), *open(s, m, "started for a pairing code")))
        case IssuePairingCode(phone=phone):
            if s.state not in LINKING:
                return reject(
                    "not_linking",
                    f"the connection could not start linking (state {s.state.value})",
                )
            return Step((RequestPairingCode(phone),))
        case PairingCodeIssued(phone=phone, code=code):
            data = {"code": code.code, "expires_at": code.expires_at.isoformat()}
            return Step(
                (
                    Remember(replace(m, pairing=code, qr=None)),
                    move(
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
            return Step((CloseSession(), *retry_later(s, reason, now, delay)))
        case OpenFailed(code=code, message=message, permanent=permanent):
            if permanent:
                return Step((CloseSession(), *fail_to(s, S.ERROR, code, message, now)))
            return Step((CloseSession(), *retry_later(s, message, now, delay)))
        case WriteFailed(reason=reason):
            # Nothing else would plan for it: ``reconnecting`` ignores the engine's
            # reports, and the health check pings only ``ready``. The retry is scheduled
            # before the status is written, which may fail too while the database is away.
            if s.deleted or not s.state.is_active:
                return IGNORED
            later = retry_later(s, reason, now, delay)
            timer = tuple(a for a in later if isinstance(a, ScheduleRetry))
            rest = tuple(a for a in later if not isinstance(a, ScheduleRetry))
            return Step((CancelRetry(), CloseSession(), *timer, *rest))
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
                    move(
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
                    move(
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
                    move(s, S.AUTHENTICATED, "paired", f"linked to +{event.phone}", fields),
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
                    move(s, S.READY, "connected", "connected to WhatsApp", fields),
                )
            )
        case Disconnected(reason=reason, retryable=retryable):
            # A stopped connection has no session to lose, and a reconnecting one has
            # already planned its retry.
            if not s.state.is_active or s.state is S.RECONNECTING:
                return IGNORED
            if retryable:
                return Step((CloseSession(), *retry_later(s, reason, now, delay)))
            return Step((CloseSession(), *fail_to(s, S.DISCONNECTED, "disconnected", reason, now)))
        case ConnectFailure(reason=reason, permanent=permanent):
            if not s.state.is_active or s.state is S.RECONNECTING:
                return IGNORED
            if permanent:
                return Step((CloseSession(), *fail_to(s, S.ERROR, "connect_failure", reason, now)))
            return Step((CloseSession(), *retry_later(s, reason, now, delay)))
        case LoggedOut(reason=reason):
            return Step((CancelRetry(), *logged_out(s, reason, now)))
        case StreamReplaced():
            message = "another client took over this WhatsApp session"
            return Step(
                (CloseSession(), *fail_to(s, S.DISCONNECTED, "stream_replaced", message, now))
            )
        case TemporaryBan():
            until = now + timedelta(seconds=event.expires_in)
            message = (
                f"WhatsApp temporarily banned this number (code {event.code}) until "
                f"{until.isoformat(timespec='minutes')}; start it again after that"
            )
            return Step((CloseSession(), *fail_to(s, S.ERROR, "temporary_ban", message, now)))
        case ClientOutdated():
            message = "WhatsApp refused this client version; update zapgate"
            return Step((CloseSession(), *fail_to(s, S.ERROR, "client_outdated", message, now)))
        case KeepAlive(ok=ok):
            return Step((Record(Change(kind="keepalive_restored" if ok else "keepalive_timeout")),))
        case EngineFault():
            message = f"{event.code}: {event.message}"
            return Step((Record(Change(kind="engine_fault", message=message)),))
        case _:
            assert_never(event)
