"""Expected steps for the planner's table (``test_planner.py``), named for what they
mean: the situations, inputs and the actions a step is made of."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from zapgate.domain.events import EventType
from zapgate.domain.states import ConnectionState
from zapgate.engines.base import PairingCode, SessionSpec
from zapgate.engines.events import Connected, Paired, QrIssued
from zapgate.sessions.steps import (
    CancelRetry,
    Change,
    CloseSession,
    Memory,
    Note,
    Record,
    Rejection,
    Remember,
    ScheduleRetry,
    Situation,
    Step,
)

S = ConnectionState
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CID, ORG, PHONE = "c1", "o1", "5511999990001"
JID = f"{PHONE}@s.whatsapp.net"
LINKED = Memory(linked=True, jid=JID)
QR = QrIssued(CID, "2@code", NOW + timedelta(seconds=60), 1, 6)
CODE = PairingCode("ABCD-EFGH", NOW + timedelta(seconds=180))
FRESH = SessionSpec(CID, ORG, resume=False, push_name="Loja")
RESUME = SessionSpec(CID, ORG, resume=True, jid=JID, push_name="Loja")
IGNORED = Step()


def delay(attempt: int) -> float:
    """A backoff without jitter, so steps are exact: 2 s, 4 s, 8 s..."""
    return 2.0**attempt


def at(state: ConnectionState, memory: Memory = Memory(), *, deleted: bool = False) -> Situation:
    return Situation(CID, ORG, state, push_name="Loja", memory=memory, deleted=deleted)


def step(*actions: Any) -> Step:
    return Step(tuple(actions))


def rejected(code: str, message: str) -> Step:
    return Step(rejected=Rejection(code, message))


def record(state: ConnectionState, kind: str, message: str, **fields: Any) -> Record:
    return Record(Change(kind=kind, message=message, state=state, fields=fields))


def starting(reason: str) -> Record:
    return Record(Change(kind="starting", message=reason, state=S.INITIALIZING))


def fail(
    target: ConnectionState, code: str, message: str, memory: Memory = Memory()
) -> tuple[Any, ...]:
    kind = "error" if target is S.ERROR else "disconnected"
    fields = {"error_code": code, "error_message": message, "disconnected_at": NOW}
    return (
        CancelRetry(),
        Remember(memory),
        record(target, kind, message, **fields, next_retry_at=None),
    )


def retry(attempt: int, reason: str, *, memory: Memory = Memory(), **extra: Any) -> tuple[Any, ...]:
    wait = delay(attempt)
    if attempt == 1:
        note = Note(logging.WARNING, "connection lost; retrying", {"reason": reason})
    else:
        note = Note(logging.DEBUG, "retry failed", {"attempt": attempt, "reason": reason})
    return (
        Remember(Memory(linked=memory.linked, jid=memory.jid, attempt=attempt)),
        note,
        record(
            S.RECONNECTING,
            "reconnecting",
            f"{reason}; retry {attempt} in {wait:.1f}s",
            attempt=attempt,
            next_retry_at=NOW + timedelta(seconds=wait),
            error_message=reason,
            error_code=None,
            **extra,
        ),
        ScheduleRetry(wait),
    )


STOPPED = record(
    S.DISCONNECTED,
    "stopped",
    "stopped by a user",
    disconnected_at=NOW,
    attempt=0,
    next_retry_at=None,
    error_code=None,
    error_message=None,
)


def logged_out(reason: str) -> tuple[Any, ...]:
    fields = {"linked": False, "jid": None, "error_code": None, "error_message": reason}
    return (
        Remember(Memory()),
        record(
            S.LOGGED_OUT,
            "logged_out",
            reason,
            **fields,
            disconnected_at=NOW,
            attempt=0,
            next_retry_at=None,
        ),
    )


PAIRED = Paired(CID, JID, PHONE, "Loja Nova", lid="123@lid")
PAIRED_STEP = step(
    Remember(LINKED),
    record(
        S.AUTHENTICATED,
        "paired",
        f"linked to +{PHONE}",
        linked=True,
        jid=JID,
        lid="123@lid",
        phone=PHONE,
        push_name="Loja Nova",
        error_code=None,
        error_message=None,
    ),
)
CONNECTED = Connected(CID, JID, PHONE, None)


def connected_step(recovered: int = 0) -> Step:
    notes = [Note(logging.INFO, "connection recovered", {"attempts": recovered})][:recovered]
    return step(
        Remember(LINKED),
        *notes,
        record(
            S.READY,
            "connected",
            "connected to WhatsApp",
            linked=True,
            jid=JID,
            phone=PHONE,
            push_name="Loja",
            connected_at=NOW,
            last_seen_at=NOW,
            attempt=0,
            next_retry_at=None,
            error_code=None,
            error_message=None,
        ),
    )


QR_STEP = step(
    Remember(Memory(qr=QR)),
    Record(
        Change(
            kind="qr",
            message="QR code 1 of 6 issued",
            state=S.QR_READY,
            events=(
                (
                    EventType.CONNECTION_QR,
                    {
                        "code": "2@code",
                        "expires_at": QR.expires_at.isoformat(),
                        "index": 1,
                        "total": 6,
                    },
                ),
            ),
        )
    ),
)
CODE_STEP = step(
    Remember(Memory(pairing=CODE)),
    Record(
        Change(
            kind="pairing_code",
            message=f"pairing code issued for +{PHONE}",
            state=S.PAIRING_CODE_READY,
            events=(
                (
                    EventType.CONNECTION_PAIRING_CODE,
                    {
                        "code": "ABCD-EFGH",
                        "expires_at": CODE.expires_at.isoformat(),
                    },
                ),
            ),
        )
    ),
)
LOST = "websocket read failed"
BANNED = (
    "WhatsApp temporarily banned this number (code 101) until 2026-01-01T13:00+00:00; "
    "start it again after that"
)
OUTDATED = "WhatsApp refused this client version; update zapgate"
REPLACED = "another client took over this WhatsApp session"
WAITING = (S.INITIALIZING, S.QR_READY, S.PAIRING_CODE_READY)


def qr_timeout(qr_expired: bool, what: str, reason: str) -> Step:
    return step(
        Remember(Memory(qr_expired=qr_expired)),
        CloseSession(),
        record(
            S.DISCONNECTED,
            "timeout",
            f"the {what} expired without being used",
            error_code=reason,
            error_message=f"the {what} expired; start the connection again",
            disconnected_at=NOW,
        ),
    )
