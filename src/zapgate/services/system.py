"""What the edges (the API, the panel, the compatibility layer) may use of the running system.

The composition root (``runtime.Runtime``) builds everything and fits this protocol; the
edges are typed against the protocol, so they reach use cases and a few facts about the
running system (the clock, the settings, the newest event id, readiness) and never the
database, the engine, the supervisor or the workers behind them. The import contracts in
``pyproject.toml`` hold the edges to it.
"""

from __future__ import annotations

from typing import Protocol

from zapgate.config import Settings
from zapgate.services.accounts import AccountService
from zapgate.services.cluster import ClusterService
from zapgate.services.connections import ConnectionService
from zapgate.services.events import EventService
from zapgate.services.exports import ExportService
from zapgate.services.instances import InstanceService
from zapgate.services.messaging import Messaging
from zapgate.services.metrics import MetricsService
from zapgate.services.simulation import SimulationService
from zapgate.services.webhooks import WebhookService
from zapgate.util.clock import Clock


class System(Protocol):
    settings: Settings
    clock: Clock
    accounts: AccountService
    connections: ConnectionService
    messaging: Messaging
    instances: InstanceService
    events: EventService
    webhooks: WebhookService
    exports: ExportService
    metrics: MetricsService
    simulation: SimulationService | None
    cluster: ClusterService

    def last_event_id(self) -> int:
        """The newest event id published here (a page rendered now has seen up to it)."""
        ...

    async def readiness(self) -> dict[str, str | None]:
        """Each check's problem, None when healthy (``/readyz``)."""
        ...

    def readiness_details(self) -> dict[str, dict[str, str]]:
        """Problems that do not make the server unready (an export's broker refusing)."""
        ...
