"""The transition planner: a table of (situation, input) → step, like ``test_states.py``.

The table covers every legal transition of ``domain/states.py`` the runner can make
(checked below against the transition table itself), the moves it refuses, and the
inputs it ignores. A property test then throws random situations and inputs at it.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.sessions.plans import (
    BANNED,
    CID,
    CODE,
    CODE_STEP,
    CONNECTED,
    FRESH,
    IGNORED,
    JID,
    LINKED,
    LOST,
    NOW,
    ORG,
    OUTDATED,
    PAIRED,
    PAIRED_STEP,
    PHONE,
    QR,
    QR_STEP,
    REPLACED,
    RESUME,
    STOPPED,
    WAITING,
    at,
    connected_step,
    delay,
    fail,
    logged_out,
    qr_timeout,
    rejected,
    retry,
    starting,
    step,
)
from zapgate.domain.states import TRANSITIONS, ConnectionState, can_transition
from zapgate.engines.events import (
    ClientOutdated,
    ConnectFailure,
    Disconnected,
    EngineFault,
    KeepAlive,
    LinkTimedOut,
    LoggedOut,
    StreamReplaced,
    TemporaryBan,
)
from zapgate.sessions.planner import plan
from zapgate.sessions.steps import (
    CancelRetry,
    Change,
    CloseSession,
    Delete,
    DeleteSession,
    HealthFailed,
    Input,
    IssuePairingCode,
    Logout,
    LogoutDevice,
    Memory,
    OpenFailed,
    OpenSession,
    PairingCodeIssued,
    Reconnect,
    Record,
    Refused,
    Remember,
    RequestPairing,
    RequestPairingCode,
    Resume,
    RetryDue,
    ScheduleRetry,
    Situation,
    Start,
    Step,
    Stop,
    WriteFailed,
)

S = ConnectionState


def _timer_first(actions: tuple[Any, ...]) -> tuple[Any, ...]:
    timer = tuple(a for a in actions if isinstance(a, ScheduleRetry))
    return timer + tuple(a for a in actions if not isinstance(a, ScheduleRetry))


TABLE: list[Any] = [
    # ------------------------------------------------------------ commands
    pytest.param(
        at(S.IDLE),
        Start(),
        step(
            CancelRetry(),
            Remember(Memory()),
            starting("started"),
            OpenSession(FRESH),
        ),
        id="start-idle",
    ),
    pytest.param(
        at(S.DISCONNECTED, Memory(linked=True, jid=JID, attempt=3, qr_expired=True)),
        Start(),
        step(
            CancelRetry(),
            Remember(LINKED),
            starting("started"),
            OpenSession(RESUME),
        ),
        id="start-stopped-linked-resumes-with-backoff-reset",
    ),
    pytest.param(
        at(S.LOGGED_OUT),
        Start(),
        step(
            CancelRetry(),
            Remember(Memory()),
            starting("started"),
            OpenSession(FRESH),
        ),
        id="start-logged-out",
    ),
    pytest.param(
        at(S.ERROR, LINKED),
        Start(),
        step(
            CancelRetry(),
            Remember(LINKED),
            starting("started"),
            OpenSession(RESUME),
        ),
        id="start-error",
    ),
    pytest.param(
        at(S.RECONNECTING, Memory(linked=True, jid=JID, attempt=2)),
        Start(),
        step(
            CancelRetry(),
            Remember(LINKED),
            starting("started"),
            OpenSession(RESUME),
        ),
        id="start-reconnecting-now",
    ),
    *[
        pytest.param(at(state), Start(), IGNORED, id=f"start-ignored-{state}")
        for state in (S.INITIALIZING, S.QR_READY, S.PAIRING_CODE_READY, S.AUTHENTICATED, S.READY)
    ],
    pytest.param(
        at(S.RECONNECTING, LINKED),
        Resume(),
        step(
            CancelRetry(),
            Remember(LINKED),
            OpenSession(RESUME, restoring=True),
        ),
        id="resume-writes-nothing-until-the-engine-answers",
    ),
    pytest.param(at(S.READY, LINKED), Resume(), IGNORED, id="resume-ignored-ready"),
    pytest.param(
        at(S.RECONNECTING, LINKED, deleted=True), Resume(), IGNORED, id="resume-ignored-deleted"
    ),
    pytest.param(
        at(S.RECONNECTING, Memory(linked=True, jid=JID, attempt=2)),
        RetryDue(),
        step(
            Remember(Memory(linked=True, jid=JID, attempt=2)),
            starting("retry 2"),
            OpenSession(RESUME),
        ),
        id="retry-due",
    ),
    pytest.param(at(S.DISCONNECTED, LINKED), RetryDue(), IGNORED, id="retry-due-after-stop"),
    pytest.param(
        at(S.RECONNECTING, LINKED, deleted=True), RetryDue(), IGNORED, id="retry-due-deleted"
    ),
    pytest.param(
        at(S.READY, LINKED),
        Stop(),
        step(
            CancelRetry(),
            CloseSession(),
            Remember(LINKED),
            STOPPED,
        ),
        id="stop-ready",
    ),
    *[
        pytest.param(
            at(state, Memory(qr=QR, pairing=CODE)),
            Stop(),
            step(
                CancelRetry(),
                CloseSession(),
                Remember(Memory()),
                STOPPED,
            ),
            id=f"stop-{state}",
        )
        for state in (*WAITING, S.AUTHENTICATED, S.RECONNECTING)
    ],
    *[
        pytest.param(at(state), Stop(), step(CancelRetry()), id=f"stop-ignored-{state}")
        for state in (S.IDLE, S.DISCONNECTED, S.LOGGED_OUT, S.ERROR)
    ],
    pytest.param(
        at(S.READY, Memory(linked=True, jid=JID, attempt=1)),
        Reconnect(),
        step(
            CancelRetry(),
            CloseSession(),
            Remember(LINKED),
            Refused(S.READY, S.INITIALIZING),
            OpenSession(RESUME),
        ),
        id="reconnect-ready-refuses-initializing-but-reopens",
    ),
    pytest.param(
        at(S.QR_READY, Memory(qr=QR)),
        Reconnect(),
        step(
            CancelRetry(),
            CloseSession(),
            Remember(Memory()),
            Refused(S.QR_READY, S.INITIALIZING),
            OpenSession(FRESH),
        ),
        id="reconnect-qr-ready",
    ),
    pytest.param(
        at(S.INITIALIZING),
        Reconnect(),
        step(
            CancelRetry(),
            CloseSession(),
            Remember(Memory()),
            starting("reconnect requested"),
            OpenSession(FRESH),
        ),
        id="reconnect-initializing-stays-put",
    ),
    pytest.param(
        at(S.DISCONNECTED, LINKED),
        Reconnect(),
        step(
            CancelRetry(),
            Remember(LINKED),
            starting("reconnect requested"),
            OpenSession(RESUME),
        ),
        id="reconnect-stopped-opens-without-closing",
    ),
    *[
        pytest.param(
            at(state, LINKED),
            Logout(),
            step(
                CancelRetry(),
                LogoutDevice(),
                *logged_out("logged out through the API"),
            ),
            id=f"logout-{state}",
        )
        for state in (S.READY, S.DISCONNECTED, S.ERROR, S.AUTHENTICATED)
    ],
    pytest.param(
        at(S.QR_READY, Memory(qr=QR)),
        Logout(),
        step(
            CancelRetry(),
            LogoutDevice(),
            *logged_out("logged out through the API"),
        ),
        id="logout-while-linking",
    ),
    pytest.param(
        at(S.IDLE),
        Logout(),
        rejected(
            "not_linked",
            "this connection has no linked device",
        ),
        id="logout-not-linked",
    ),
    pytest.param(
        at(S.IDLE),
        RequestPairing(PHONE),
        step(
            CancelRetry(),
            Remember(Memory()),
            starting("started for a pairing code"),
            OpenSession(FRESH),
        ),
        id="pairing-starts-linking",
    ),
    *[
        pytest.param(at(state), RequestPairing(PHONE), IGNORED, id=f"pairing-already-{state}")
        for state in WAITING
    ],
    pytest.param(
        at(S.READY, LINKED),
        RequestPairing(PHONE),
        rejected(
            "already_linked",
            "this connection already has a linked device; log it out first",
        ),
        id="pairing-linked",
    ),
    pytest.param(
        at(S.QR_READY),
        IssuePairingCode(PHONE),
        step(RequestPairingCode(PHONE)),
        id="pairing-asks-engine",
    ),
    pytest.param(
        at(S.ERROR),
        IssuePairingCode(PHONE),
        rejected(
            "not_linking",
            "the connection could not start linking (state error)",
        ),
        id="pairing-not-linking",
    ),
    pytest.param(
        at(S.QR_READY, Memory(qr=QR)),
        PairingCodeIssued(PHONE, CODE),
        CODE_STEP,
        id="pairing-code-qr-ready",
    ),
    pytest.param(
        at(S.INITIALIZING),
        PairingCodeIssued(PHONE, CODE),
        CODE_STEP,
        id="pairing-code-initializing",
    ),
    pytest.param(at(S.READY, LINKED), Delete(), step(CancelRetry(), DeleteSession()), id="delete"),
    # ------------------------------------------------------------ timer, health, engine calls
    pytest.param(
        at(S.READY, LINKED),
        HealthFailed("silent"),
        step(
            CloseSession(),
            *retry(1, "silent", memory=LINKED, disconnected_at=NOW),
        ),
        id="health-failed-ready",
    ),
    pytest.param(
        at(S.RECONNECTING, LINKED),
        HealthFailed("silent"),
        IGNORED,
        id="health-failed-ignored-reconnecting",
    ),
    pytest.param(
        at(S.INITIALIZING, Memory(linked=True, jid=JID, attempt=1)),
        OpenFailed("timeout", "dial failed", permanent=False),
        step(
            CloseSession(),
            *retry(2, "dial failed", memory=LINKED),
        ),
        id="open-failed-transient",
    ),
    pytest.param(
        at(S.RECONNECTING, LINKED),
        OpenFailed("timeout", "dial failed", False),
        step(
            CloseSession(),
            *retry(1, "dial failed", memory=LINKED),
        ),
        id="open-failed-on-restore-stays-reconnecting",
    ),
    pytest.param(
        at(S.INITIALIZING),
        OpenFailed("store_broken", "bad store", permanent=True),
        step(CloseSession(), *fail(S.ERROR, "store_broken", "bad store")),
        id="open-failed-permanent",
    ),
    pytest.param(
        at(S.RECONNECTING, Memory(linked=True, jid=JID, attempt=1)),
        WriteFailed("db away"),
        # The timer first: the status write may fail too while the database is away.
        step(CancelRetry(), CloseSession(), *_timer_first(retry(2, "db away", memory=LINKED))),
        id="write-failed-retries-after-the-backoff",
    ),
    pytest.param(
        at(S.INITIALIZING, LINKED),
        WriteFailed("db away"),
        step(CancelRetry(), CloseSession(), *_timer_first(retry(1, "db away", memory=LINKED))),
        id="write-failed-while-dialing",
    ),
    pytest.param(at(S.DISCONNECTED), WriteFailed("db away"), IGNORED, id="write-failed-stopped"),
    pytest.param(
        at(S.READY, deleted=True), WriteFailed("db away"), IGNORED, id="write-failed-deleted"
    ),
    # ------------------------------------------------------------ engine events
    *[
        pytest.param(at(state), QR, QR_STEP, id=f"qr-{state}")
        for state in (S.INITIALIZING, S.QR_READY, S.RECONNECTING)
    ],
    pytest.param(
        at(S.PAIRING_CODE_READY, Memory(pairing=CODE)),
        QR,
        IGNORED,
        id="qr-ignored-while-a-pairing-code-is-shown",
    ),
    pytest.param(at(S.QR_READY, deleted=True), QR, IGNORED, id="qr-ignored-deleted"),
    pytest.param(
        at(S.QR_READY, Memory(qr=QR)),
        LinkTimedOut(CID, "qr_timeout"),
        qr_timeout(True, "QR code", "qr_timeout"),
        id="qr-timeout",
    ),
    pytest.param(
        at(S.PAIRING_CODE_READY, Memory(pairing=CODE)),
        LinkTimedOut(CID, "pairing_timeout"),
        qr_timeout(False, "pairing code", "pairing_timeout"),
        id="pairing-timeout",
    ),
    *[
        pytest.param(at(state), PAIRED, PAIRED_STEP, id=f"paired-{state}")
        for state in (*WAITING, S.RECONNECTING, S.READY)
    ],
    pytest.param(
        at(S.DISCONNECTED),
        PAIRED,
        step(
            Remember(LINKED),
            Refused(S.DISCONNECTED, S.AUTHENTICATED),
        ),
        id="paired-late-after-stop-refused",
    ),
    *[
        pytest.param(at(state, LINKED), CONNECTED, connected_step(), id=f"connected-{state}")
        for state in (*WAITING, S.AUTHENTICATED, S.READY)
    ],
    pytest.param(
        at(S.RECONNECTING, Memory(linked=True, jid=JID, attempt=3)),
        CONNECTED,
        connected_step(recovered=3),
        id="connected-recovers",
    ),
    pytest.param(
        at(S.DISCONNECTED, LINKED),
        CONNECTED,
        step(
            Remember(LINKED),
            Refused(S.DISCONNECTED, S.READY),
        ),
        id="connected-late-after-stop-refused",
    ),
    pytest.param(
        at(S.READY, LINKED),
        Disconnected(CID, LOST),
        step(
            CloseSession(),
            *retry(1, LOST, memory=LINKED, disconnected_at=NOW),
        ),
        id="drop-ready",
    ),
    *[
        pytest.param(
            at(state, LINKED),
            Disconnected(CID, LOST),
            step(
                CloseSession(),
                *retry(1, LOST, memory=LINKED),
            ),
            id=f"drop-{state}",
        )
        for state in (*WAITING, S.AUTHENTICATED)
    ],
    pytest.param(
        at(S.READY, LINKED),
        Disconnected(CID, "gone", retryable=False),
        step(
            CloseSession(),
            *fail(S.DISCONNECTED, "disconnected", "gone", LINKED),
        ),
        id="drop-for-good",
    ),
    *[
        pytest.param(
            at(state, LINKED), Disconnected(CID, LOST), IGNORED, id=f"drop-ignored-{state}"
        )
        for state in (S.RECONNECTING, S.DISCONNECTED, S.IDLE)
    ],
    pytest.param(
        at(S.PAIRING_CODE_READY),
        ConnectFailure(CID, "forbidden", 403, permanent=True),
        step(CloseSession(), *fail(S.ERROR, "connect_failure", "forbidden")),
        id="connect-failure-permanent",
    ),
    pytest.param(
        at(S.INITIALIZING),
        ConnectFailure(CID, "busy", 503),
        step(
            CloseSession(),
            *retry(1, "busy"),
        ),
        id="connect-failure-transient",
    ),
    pytest.param(
        at(S.RECONNECTING),
        ConnectFailure(CID, "busy", 503),
        IGNORED,
        id="connect-failure-ignored-reconnecting",
    ),
    *[
        pytest.param(
            at(state, LINKED),
            LoggedOut(CID, "removed"),
            step(
                CancelRetry(),
                *logged_out("removed"),
            ),
            id=f"logged-out-{state}",
        )
        for state in (*WAITING, S.AUTHENTICATED, S.RECONNECTING)
    ],
    pytest.param(
        at(S.IDLE),
        LoggedOut(CID, "removed"),
        step(
            CancelRetry(),
            Remember(Memory()),
            Refused(S.IDLE, S.LOGGED_OUT),
        ),
        id="logged-out-idle-refused",
    ),
    *[
        pytest.param(
            at(state, LINKED),
            StreamReplaced(CID),
            step(
                CloseSession(),
                *fail(S.DISCONNECTED, "stream_replaced", REPLACED, LINKED),
            ),
            id=f"stream-replaced-{state}",
        )
        for state in (S.AUTHENTICATED, S.ERROR)
    ],
    pytest.param(
        at(S.IDLE),
        StreamReplaced(CID),
        step(
            CloseSession(),
            CancelRetry(),
            Remember(Memory()),
            Refused(S.IDLE, S.DISCONNECTED),
        ),
        id="stream-replaced-idle-refused",
    ),
    *[
        pytest.param(
            at(state, LINKED),
            TemporaryBan(CID, "101", 3600.0),
            step(
                CloseSession(),
                *fail(S.ERROR, "temporary_ban", BANNED, LINKED),
            ),
            id=f"ban-{state}",
        )
        for state in (S.READY, S.RECONNECTING)
    ],
    *[
        pytest.param(
            at(state),
            ClientOutdated(CID),
            step(
                CloseSession(),
                *fail(S.ERROR, "client_outdated", OUTDATED),
            ),
            id=f"outdated-{state}",
        )
        for state in (S.QR_READY, S.AUTHENTICATED)
    ],
    pytest.param(
        at(S.READY, LINKED),
        KeepAlive(CID, ok=False),
        step(
            Record(Change(kind="keepalive_timeout")),
        ),
        id="keepalive-lost",
    ),
    pytest.param(
        at(S.READY, LINKED),
        KeepAlive(CID, ok=True),
        step(
            Record(Change(kind="keepalive_restored")),
        ),
        id="keepalive-restored",
    ),
    pytest.param(
        at(S.READY, LINKED),
        EngineFault(CID, "decrypt", "bad mac"),
        step(
            Record(Change(kind="engine_fault", message="decrypt: bad mac")),
        ),
        id="engine-fault",
    ),
    pytest.param(
        at(S.READY, LINKED, deleted=True),
        Disconnected(CID, LOST),
        IGNORED,
        id="engine-event-ignored-deleted",
    ),
]


@pytest.mark.parametrize(("situation", "event", "expected"), TABLE)
def test_table(situation: Situation, event: Input, expected: Step) -> None:
    assert plan(situation, event, now=NOW, delay=delay) == expected


def _rows() -> list[tuple[Situation, Step]]:
    return [(row.values[0], row.values[2]) for row in TABLE]


def test_the_table_makes_every_legal_transition() -> None:
    """Every legal pair of ``domain/states.py`` appears in the table, but one: the
    runner never leaves a pairing code for a QR code (it ignores QR codes meanwhile)."""
    made = {
        (situation.state, expected.state)
        for situation, expected in _rows()
        if expected.state is not None and expected.state is not situation.state
    }
    legal = {(state, target) for state, targets in TRANSITIONS.items() for target in targets}
    assert made <= legal
    assert legal - made == {(S.PAIRING_CODE_READY, S.QR_READY)}


def test_the_table_refuses_only_illegal_moves() -> None:
    refused = [
        action
        for _, expected in _rows()
        for action in expected.actions
        if isinstance(action, Refused)
    ]
    assert refused
    assert all(not can_transition(r.state, r.target) for r in refused)


INPUTS: list[Input] = [
    Start(),
    Resume(),
    Stop(),
    Reconnect(),
    Logout(),
    Delete(),
    RequestPairing(PHONE),
    IssuePairingCode(PHONE),
    PairingCodeIssued(PHONE, CODE),
    RetryDue(),
    HealthFailed("x"),
    OpenFailed("e", "x", False),
    OpenFailed("e", "x", True),
    WriteFailed("x"),
    QR,
    LinkTimedOut(CID, "qr_timeout"),
    PAIRED,
    CONNECTED,
    Disconnected(CID, LOST),
    Disconnected(CID, LOST, retryable=False),
    ConnectFailure(CID, "x"),
    ConnectFailure(CID, "x", permanent=True),
    LoggedOut(CID, "x"),
    StreamReplaced(CID),
    TemporaryBan(CID, "101", 60.0),
    ClientOutdated(CID),
    KeepAlive(CID, ok=True),
    EngineFault(CID, "e", "x"),
]


@given(
    st.sampled_from(list(S)),
    st.booleans(),
    st.integers(0, 12),
    st.booleans(),
    st.lists(st.sampled_from(INPUTS), max_size=30),
)
def test_random_inputs_only_ever_make_legal_moves(
    start: ConnectionState, linked: bool, attempt: int, deleted: bool, inputs: list[Input]
) -> None:
    """Feed inputs one after another the way the runner does (writes succeed)."""
    memory = Memory(linked=linked, jid=JID if linked else None, attempt=attempt)
    situation = at(start, memory, deleted=deleted)
    history = [situation.state]
    for event in inputs:
        result = plan(situation, event, now=NOW, delay=delay)
        records = [a for a in result.actions if isinstance(a, Record) and a.change.state]
        assert len(records) <= 1
        # What the runner must wait for an answer to closes the step (see Runner._carry_out).
        for action in result.actions[:-1]:
            assert not isinstance(action, OpenSession | RequestPairingCode)
        if result.rejected is not None:
            assert not result.actions
        for action in result.actions:
            if isinstance(action, Remember):
                situation = Situation(
                    CID, ORG, situation.state, "Loja", action.memory, situation.deleted
                )
        if result.state is not None:
            situation = Situation(
                CID, ORG, result.state, "Loja", situation.memory, situation.deleted
            )
            history.append(result.state)
    for before, after in itertools.pairwise(history):
        assert before is after or can_transition(before, after)
