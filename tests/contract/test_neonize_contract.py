"""The engine contract against the real neonize engine, offline subset.

Tests marked ``needs_network`` (linking a phone, sending) are deselected here: this
machine cannot reach WhatsApp. Everything else runs against real worker processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from zapgate.engines.events import EngineEvent, Paired
from zapgate.engines.neonize.engine import NeonizeEngine
from zapgate.util.clock import SystemClock

from .engine_contract import EngineContract, EngineHarness


class NeonizeHarness(EngineHarness):
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.clock = SystemClock()
        self.events: list[EngineEvent] = []
        self.recipient = "5511988887777"
        self.engine: NeonizeEngine = self._build()

    def _build(self) -> NeonizeEngine:
        return NeonizeEngine(data_dir=self.data_dir, clock=self.clock)

    async def start(self) -> None:
        await self.engine.start(self.events.append)

    def now(self) -> datetime:
        return self.clock.now()

    async def advance(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # real workers: only real time passes

    async def link(self, session_id: str) -> Paired:
        raise AssertionError("linking needs a phone and WhatsApp's servers")

    async def restart(self) -> None:
        await self.engine.close()
        self.engine = self._build()
        await self.start()


class TestNeonizeEngine(EngineContract):
    network_available = False
    step = 0.1

    @pytest.fixture
    async def harness(self, tmp_path: Path) -> AsyncIterator[NeonizeHarness]:
        h = NeonizeHarness(tmp_path)
        await h.start()
        yield h
        await h.engine.close()
