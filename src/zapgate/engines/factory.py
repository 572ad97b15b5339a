"""Build the configured engine (imports the heavy neonize package only when chosen)."""

from __future__ import annotations

from zapgate.config import EngineName, Settings
from zapgate.engines.base import Engine
from zapgate.util.clock import Clock


def build_engine(settings: Settings, clock: Clock) -> Engine:
    if settings.engine is EngineName.SIMULATOR:
        from zapgate.engines.simulator.engine import SimulatorEngine

        return SimulatorEngine(data_dir=settings.data_dir, clock=clock)
    from zapgate.engines.neonize.engine import NeonizeEngine

    return NeonizeEngine(
        data_dir=settings.data_dir,
        sessions_per_worker=settings.sessions_per_worker,
        database_url=None if settings.is_sqlite else settings.resolved_database_url,
        clock=clock,
    )
