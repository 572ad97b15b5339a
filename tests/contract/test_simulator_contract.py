"""The engine contract, run against the simulator on a manual clock."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pytest

from zapgate.engines.events import Connected, EngineEvent, LoggedOut, Paired
from zapgate.engines.simulator import SimulatorEngine
from zapgate.util.clock import ManualClock

from .engine_contract import EngineContract, EngineHarness

T = TypeVar("T")


class SimulatorHarness(EngineHarness):
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.clock = ManualClock()
        self.events: list[EngineEvent] = []
        self.recipient = "5511988887777"
        self._phones = (f"55119{n:08d}" for n in itertools.count(1))
        self.engine: SimulatorEngine = self._build()

    def _build(self) -> SimulatorEngine:
        return SimulatorEngine(data_dir=self.data_dir, clock=self.clock, seed=7)

    async def start(self) -> None:
        await self.engine.start(self.events.append)

    def now(self) -> datetime:
        return self.clock.now()

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds)

    async def run(self, call: Awaitable[T]) -> T:
        task = asyncio.ensure_future(call)
        for _ in range(10_000):
            if task.done():
                return task.result()
            await self.clock.advance(0.01)
        task.cancel()
        raise AssertionError("the call did not finish in 100 s of simulated time")

    async def link(self, session_id: str) -> Paired:
        mark = len(self.events)
        await self.engine.scan(session_id, next(self._phones), push_name="Contract")
        delay = self.engine.settings.sync_delay_ms / 1000
        await self.clock.advance(delay)
        mine = [e for e in self.events[mark:] if getattr(e, "session_id", None) == session_id]
        assert any(isinstance(e, Connected) for e in mine), mine
        return next(e for e in mine if isinstance(e, Paired))

    async def restart(self) -> None:
        await self.engine.close()
        self.engine = self._build()
        await self.start()


class TestSimulatorEngineContract(EngineContract):
    network_available = True

    @pytest.fixture
    async def harness(self, tmp_path: Path) -> AsyncIterator[EngineHarness]:
        harness = SimulatorHarness(tmp_path)
        await harness.start()
        yield harness
        await harness.engine.close()
        assert harness.engine.background_tasks == 0
        assert harness.clock.pending == 0


class TestSimulatorEngineContractInMemory(EngineContract):
    """Without a data directory nothing survives the engine, so no restart test here."""

    @pytest.fixture
    async def harness(self) -> AsyncIterator[EngineHarness]:
        harness = _MemoryHarness()
        await harness.start()
        yield harness
        await harness.engine.close()
        assert harness.engine.background_tasks == 0

    async def test_restarted_engine_resumes_a_linked_device(self, harness: EngineHarness) -> None:
        paired = await self.linked(harness, "s1")
        await harness.restart()
        mark = len(harness.events)
        await harness.engine.open_session(self.spec("s1", resume=True, jid=paired.jid))
        # In memory the new instance never knew the device: the phone says logged out.
        await self.wait_for(harness, LoggedOut, "s1", after=mark)


class _MemoryHarness(SimulatorHarness):
    def __init__(self) -> None:
        super().__init__(Path("unused"))

    def _build(self) -> SimulatorEngine:
        return SimulatorEngine(data_dir=None, clock=self.clock, seed=7)
