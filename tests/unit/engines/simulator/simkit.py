"""Test kit for the simulator's unit tests: a manual clock and an engine recording events.

A plain module beside the tests (this folder is not a package), imported as ``simkit``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from zapgate.engines.base import SessionSpec
from zapgate.engines.events import EngineEvent
from zapgate.engines.simulator import SimulatorEngine, SimulatorSettings
from zapgate.util.clock import ManualClock

T = TypeVar("T")
E = TypeVar("E")

PHONE = "5511999990001"
CUSTOMER = "5511988880002"


@dataclass
class Sim:
    """A started engine, its clock and every event it emitted."""

    engine: SimulatorEngine
    clock: ManualClock
    data_dir: Path | None
    events: list[EngineEvent] = field(default_factory=list)

    def of(self, kind: type[E], session_id: str = "s1") -> list[E]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and getattr(e, "session_id", None) == session_id
        ]

    def kinds(self, session_id: str = "s1") -> list[str]:
        return [
            type(e).__name__ for e in self.events if getattr(e, "session_id", None) == session_id
        ]

    async def open(
        self, session_id: str = "s1", *, resume: bool = False, jid: str | None = None
    ) -> None:
        await self.engine.open_session(SessionSpec(session_id, "org1", resume=resume, jid=jid))
        await self.clock.advance(0)

    async def link(self, session_id: str = "s1", phone: str = PHONE) -> str:
        """Open, scan and wait out the sync delay; returns the device JID."""
        await self.open(session_id)
        account = await self.engine.scan(session_id, phone, push_name="Shop")
        await self.clock.advance(self.engine.settings.sync_delay_ms / 1000)
        return account.jid

    async def run(self, call: Awaitable[T], *, step: float = 0.01) -> T:
        """Await ``call`` while moving the clock (a send waits out its latency)."""
        task = asyncio.ensure_future(call)
        for _ in range(100_000):
            if task.done():
                return task.result()
            await self.clock.advance(step)
        task.cancel()
        raise AssertionError("call did not finish")

    async def restart(self) -> None:
        await self.engine.close()
        self.engine = SimulatorEngine(
            data_dir=self.data_dir, clock=self.clock, seed=1, settings=self.engine.settings
        )
        await self.engine.start(self.events.append)


def build(data_dir: Path | None, clock: ManualClock, **settings: object) -> SimulatorEngine:
    return SimulatorEngine(
        data_dir=data_dir,
        clock=clock,
        seed=1,
        settings=SimulatorSettings.model_validate(settings),
    )
