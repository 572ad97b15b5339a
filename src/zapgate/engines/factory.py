"""Build the configured engine (imports the heavy neonize package only when chosen)."""

from __future__ import annotations

from zapgate.config import EngineName, Settings
from zapgate.engines.base import Engine
from zapgate.util.clock import Clock


class EngineUnavailable(Exception):
    """The configured engine cannot run on this machine; the message says how to fix it."""


def build_engine(settings: Settings, clock: Clock, *, node: str | None = None) -> Engine:
    """``node``: this process's name on a shared simulated network (cluster tests)."""
    if settings.engine is EngineName.SIMULATOR:
        from zapgate.engines.simulator.engine import SimulatorEngine

        if settings.simulator_url:
            from zapgate.engines.simulator.shared import RemoteNetwork

            network = RemoteNetwork(settings.simulator_url, node or "single")
            return SimulatorEngine(data_dir=settings.data_dir, clock=clock, network=network)
        return SimulatorEngine(data_dir=settings.data_dir, clock=clock)
    from zapgate.engines.neonize.engine import NeonizeEngine

    return NeonizeEngine(
        data_dir=settings.data_dir,
        sessions_per_worker=settings.sessions_per_worker,
        database_url=None if settings.is_sqlite else settings.resolved_database_url,
        clock=clock,
    )


async def ensure_engine_usable(settings: Settings) -> None:
    """Raise :class:`EngineUnavailable` when the configured engine cannot run here.

    A server whose engine cannot load would accept connections it can never start, so
    it refuses to start instead, naming the fix.
    """
    if settings.engine is EngineName.SIMULATOR:
        return
    from zapgate.engines.neonize.library import library_problem, unavailable_message

    problem = await library_problem()
    if problem is not None:
        raise EngineUnavailable(unavailable_message(problem))
