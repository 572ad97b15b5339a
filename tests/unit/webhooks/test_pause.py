"""The pause of an endpoint that fails every attempt (``webhooks/pause.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zapgate.webhooks.pause import FailurePause

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_pauses_after_that_many_failures_in_a_row_and_says_so_once() -> None:
    pause = FailurePause(after=3, every=10)
    assert [pause.attempted(False, NOW) for _ in range(2)] == [False, False]
    assert not pause.paused
    assert pause.attempted(False, NOW) is True
    assert pause.paused
    assert pause.attempted(False, NOW) is False  # still paused, not newly
    assert pause.paused


def test_a_success_between_failures_starts_the_count_again() -> None:
    pause = FailurePause(after=3, every=10)
    pause.attempted(False, NOW)
    pause.attempted(False, NOW)
    pause.attempted(True, NOW)
    pause.attempted(False, NOW)
    pause.attempted(False, NOW)
    assert not pause.paused


def test_the_next_probe_is_every_seconds_after_the_last_failure() -> None:
    pause = FailurePause(after=1, every=10)
    assert pause.seconds_to_probe(NOW) == 0.0
    pause.attempted(False, NOW)
    assert pause.seconds_to_probe(NOW) == 10.0
    assert pause.seconds_to_probe(NOW + timedelta(seconds=4)) == 6.0
    assert pause.seconds_to_probe(NOW + timedelta(seconds=11)) == 0.0
    pause.attempted(False, NOW + timedelta(seconds=11))  # the probe failed
    assert pause.seconds_to_probe(NOW + timedelta(seconds=11)) == 10.0


def test_probe_now_and_end() -> None:
    pause = FailurePause(after=1, every=10)
    pause.attempted(False, NOW)
    pause.probe_now()
    assert pause.paused
    assert pause.seconds_to_probe(NOW) == 0.0
    pause.attempted(False, NOW)
    pause.end()
    assert not pause.paused
    assert pause.seconds_to_probe(NOW) == 0.0
    pause.attempted(False, NOW)  # with after=1, one failure pauses again
    assert pause.paused
    pause.attempted(True, NOW)
    assert not pause.paused
    assert pause.failed_in_a_row == 0


def test_after_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FailurePause(after=0, every=10)


def test_a_probe_asked_for_is_not_pushed_back_by_one_in_flight_failing() -> None:
    pause = FailurePause(after=1, every=10)
    pause.attempted(False, NOW)
    pause.probe_now()  # a redelivery while a probe is in flight
    pause.attempted(False, NOW)  # that probe fails
    assert pause.seconds_to_probe(NOW) == 0.0
    pause.probing()  # the asked probe is claimed; its failure waits as usual again
    pause.attempted(False, NOW)
    assert pause.seconds_to_probe(NOW) == 10.0
