"""Organization totals for the dashboard, from the same services as ``GET /stats``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from zapgate.runtime import Runtime
from zapgate.services.context import Principal


@dataclass(frozen=True, slots=True)
class Totals:
    total: int
    ready: int
    waiting: int
    disconnected: int
    error: int
    sent_today: int | None
    received_today: int | None


async def organization_totals(runtime: Runtime, principal: Principal) -> Totals:
    by_state = await runtime.connections.counts_by_state(principal)
    waiting = sum(
        by_state.get(s, 0)
        for s in ("qr_ready", "pairing_code_ready", "initializing", "authenticated")
    )
    down = sum(by_state.get(s, 0) for s in ("disconnected", "logged_out", "idle", "reconnecting"))
    return Totals(
        total=sum(by_state.values()),
        ready=by_state.get("ready", 0),
        waiting=waiting,
        disconnected=down,
        error=by_state.get("error", 0),
        sent_today=None,
        received_today=None,
    )


async def daily_activity(
    runtime: Runtime, principal: Principal, connection_id: str, first: date, last: date
) -> dict[date, tuple[int, int]] | None:
    """Messages (sent, received) per day, or None while no service provides them."""
    return None
