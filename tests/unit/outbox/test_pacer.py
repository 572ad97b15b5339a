"""The pacer seeded from the last send the database records (a restart, a move)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from zapgate.outbox.ratelimit import Pacer
from zapgate.util.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_a_recent_send_elsewhere_makes_the_next_one_wait_the_rest(clock: ManualClock) -> None:
    pacer = Pacer(clock, jitter=0)
    assert not pacer.knows("c")
    assert pacer.seed("c", 6, clock.now() - timedelta(seconds=4)) == pytest.approx(6.0)
    assert pacer.knows("c")
    assert pacer.wait_time("c") == pytest.approx(6.0)


def test_no_recent_send_means_no_wait_and_no_second_look(clock: ManualClock) -> None:
    pacer = Pacer(clock, jitter=0)
    assert pacer.seed("old", 6, clock.now() - timedelta(minutes=5)) == 0.0
    assert pacer.seed("never", 6, None) == 0.0
    assert pacer.knows("never")
    assert pacer.wait_time("never") == 0.0


def test_a_clock_ahead_where_it_was_sent_stalls_no_more_than_one_gap(clock: ManualClock) -> None:
    pacer = Pacer(clock, jitter=0)
    assert pacer.seed("c", 6, clock.now() + timedelta(minutes=10)) == pytest.approx(10.0)


def test_the_seeded_gap_is_jittered_like_any_other(clock: ManualClock) -> None:
    pacer = Pacer(clock, jitter=0.3)
    waits = {round(pacer.seed(f"c{i}", 6, clock.now()), 6) for i in range(20)}
    assert all(7.0 - 1e-6 <= w <= 13.0 + 1e-6 for w in waits)
    assert len(waits) > 1
    assert pacer.longest_gap(6) == pytest.approx(13.0)
