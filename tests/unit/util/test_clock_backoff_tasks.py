from __future__ import annotations

import asyncio
import logging
import random

import pytest

from zapgate.util.backoff import Backoff, BackoffConfig
from zapgate.util.clock import ManualClock
from zapgate.util.tasks import TaskOwner


async def test_manual_clock_wakes_sleepers_in_order() -> None:
    clock = ManualClock()
    woke: list[tuple[str, float]] = []
    start = clock.monotonic()

    async def sleeper(name: str, delay: float) -> None:
        await clock.sleep(delay)
        woke.append((name, clock.monotonic() - start))

    tasks = [asyncio.create_task(sleeper(n, d)) for n, d in (("b", 20), ("a", 5), ("c", 60))]
    await clock.advance(30)
    assert woke == [("a", 5), ("b", 20)]
    assert clock.pending == 1
    assert clock.next_deadline() == 30
    await clock.advance(30)
    assert woke[-1] == ("c", 60)
    await asyncio.gather(*tasks)


async def test_manual_clock_wall_time_moves_with_it() -> None:
    clock = ManualClock()
    before = clock.now()
    await clock.advance(90)
    assert (clock.now() - before).total_seconds() == 90


def test_backoff_grows_caps_and_resets() -> None:
    config = BackoffConfig(min_delay=1, max_delay=10, factor=2, jitter=0)
    backoff = Backoff(config)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 10, 10]
    assert backoff.attempt == 6
    backoff.reset()
    assert backoff.next_delay() == 1


def test_backoff_jitter_stays_in_bounds() -> None:
    config = BackoffConfig(min_delay=2, max_delay=300, factor=2, jitter=0.2)
    rng = random.Random(7)
    for attempt in range(1, 20):
        base = min(300, 2 * 2 ** (attempt - 1))
        delay = config.delay(attempt, rng)
        assert base * 0.8 - 1e-9 <= delay <= min(300, base * 1.2) + 1e-9


@pytest.mark.parametrize(
    "kwargs",
    [{"min_delay": 0}, {"max_delay": 0.5, "min_delay": 1}, {"factor": 0.5}, {"jitter": 1.0}],
)
def test_backoff_config_is_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        BackoffConfig(**kwargs)


async def test_task_owner_logs_failures_and_cancels(caplog: pytest.LogCaptureFixture) -> None:
    owner = TaskOwner("test")

    async def boom() -> None:
        raise RuntimeError("kaput")

    forever = asyncio.Event()
    owner.spawn(boom(), name="boom")
    owner.spawn(forever.wait(), name="waits")
    with caplog.at_level(logging.ERROR):
        for _ in range(5):
            await asyncio.sleep(0)
    assert owner.failures == 1
    assert "background task failed" in caplog.text
    assert len(owner) == 1
    await owner.close(timeout=0.01)
    assert len(owner) == 0
