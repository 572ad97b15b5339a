"""The connection state machine: every legal and illegal move, and random walks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zapgate.domain.states import TRANSITIONS, ConnectionState, can_transition

S = ConnectionState
ALL = list(S)

LEGAL = {
    (S.IDLE, S.INITIALIZING),
    (S.DISCONNECTED, S.INITIALIZING),
    (S.DISCONNECTED, S.LOGGED_OUT),
    (S.LOGGED_OUT, S.INITIALIZING),
    (S.ERROR, S.INITIALIZING),
    (S.ERROR, S.DISCONNECTED),
    (S.ERROR, S.LOGGED_OUT),
    (S.READY, S.RECONNECTING),
    (S.READY, S.AUTHENTICATED),
    (S.AUTHENTICATED, S.READY),
    (S.AUTHENTICATED, S.RECONNECTING),
    (S.RECONNECTING, S.INITIALIZING),
    (S.RECONNECTING, S.AUTHENTICATED),
    (S.RECONNECTING, S.READY),
    (S.RECONNECTING, S.QR_READY),
    (S.INITIALIZING, S.QR_READY),
    (S.INITIALIZING, S.PAIRING_CODE_READY),
    (S.INITIALIZING, S.AUTHENTICATED),
    (S.INITIALIZING, S.READY),
    (S.INITIALIZING, S.RECONNECTING),
    (S.QR_READY, S.PAIRING_CODE_READY),
    (S.QR_READY, S.AUTHENTICATED),
    (S.QR_READY, S.READY),
    (S.QR_READY, S.RECONNECTING),
    (S.PAIRING_CODE_READY, S.QR_READY),
    (S.PAIRING_CODE_READY, S.AUTHENTICATED),
    (S.PAIRING_CODE_READY, S.READY),
    (S.PAIRING_CODE_READY, S.RECONNECTING),
} | {
    (active, end)
    for active in (
        S.INITIALIZING,
        S.QR_READY,
        S.PAIRING_CODE_READY,
        S.AUTHENTICATED,
        S.READY,
        S.RECONNECTING,
    )
    for end in (S.DISCONNECTED, S.LOGGED_OUT, S.ERROR)
}


def test_state_strings_are_the_public_ones() -> None:
    assert [s.value for s in S] == [
        "idle",
        "initializing",
        "qr_ready",
        "pairing_code_ready",
        "authenticated",
        "ready",
        "reconnecting",
        "disconnected",
        "logged_out",
        "error",
    ]


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ALL, ALL)))
def test_every_pair(current: ConnectionState, target: ConnectionState) -> None:
    assert can_transition(current, target) == ((current, target) in LEGAL)


def test_every_state_has_a_row_and_a_way_out() -> None:
    assert set(TRANSITIONS) == set(S)
    for state in S:
        assert TRANSITIONS[state], state
        assert state not in TRANSITIONS[state]  # staying put is not a change


def test_every_state_is_reachable_from_idle() -> None:
    seen = {S.IDLE}
    frontier = [S.IDLE]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(S)


def test_idle_is_never_reentered() -> None:
    assert all(S.IDLE not in targets for targets in TRANSITIONS.values())


@given(st.lists(st.sampled_from(ALL), max_size=60))
def test_random_event_sequences_stay_legal(wanted: list[ConnectionState]) -> None:
    """Apply random requested moves the way the runner does: illegal ones are refused."""
    state = S.IDLE
    history = [state]
    for target in wanted:
        if target is not state and can_transition(state, target):
            state = target
            history.append(state)
    for before, after in itertools.pairwise(history):
        assert (before, after) in LEGAL
    assert history[0] is S.IDLE
