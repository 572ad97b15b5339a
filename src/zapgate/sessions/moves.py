"""The moves several transitions share: open a session, retry later, fail, log out,
change state; and the refusal a planner gives a command it cannot carry out. Pure, like
the planner (``planner.py``) that composes them.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from zapgate.domain.events import EventType
from zapgate.domain.states import ConnectionState, can_transition
from zapgate.engines.base import SessionSpec
from zapgate.sessions.steps import (
    Action,
    CancelRetry,
    Change,
    Memory,
    Note,
    OpenSession,
    Record,
    Refused,
    Rejection,
    Remember,
    RetryDelay,
    ScheduleRetry,
    Situation,
    Step,
)

S = ConnectionState


def open(s: Situation, m: Memory, reason: str | None) -> tuple[Action, ...]:
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
    return (fresh, move(s, S.INITIALIZING, "starting", reason), OpenSession(spec))


def retry_later(s: Situation, reason: str, now: datetime, delay: RetryDelay) -> tuple[Action, ...]:
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
        move(s, S.RECONNECTING, "reconnecting", message, fields),
        ScheduleRetry(wait, fields["next_retry_at"]),
    )


def fail_to(
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
        move(s, target, kind, message, fields),
    )


def logged_out(s: Situation, reason: str, now: datetime) -> tuple[Action, ...]:
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
        move(s, S.LOGGED_OUT, "logged_out", reason, fields),
    )


def move(
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


def reject(code: str, message: str) -> Step:
    return Step(rejected=Rejection(code, message))
