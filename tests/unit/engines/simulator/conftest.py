"""The ``sim`` fixture: a started simulator on a manual clock, checked for leaks after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from simkit import Sim, build

from zapgate.util.clock import ManualClock


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    clock = ManualClock()
    # No latency by default so most tests can await a send directly.
    engine = build(tmp_path, clock, latency_ms=0, auto_receipts=False)
    harness = Sim(engine, clock, tmp_path)
    await engine.start(harness.events.append)
    yield harness
    await harness.engine.close()
    assert harness.engine.background_tasks == 0
    assert clock.pending == 0
