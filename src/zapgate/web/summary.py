"""Organization totals for the dashboard, from the same services as ``GET /stats``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from zapgate.services.context import Principal
from zapgate.services.system import System


@dataclass(frozen=True, slots=True)
class Totals:
    total: int
    ready: int
    waiting: int
    disconnected: int
    error: int
    sent_today: int
    received_today: int


async def organization_totals(runtime: System, principal: Principal) -> Totals:
    by_state = await runtime.connections.counts_by_state(principal)
    messages = await runtime.messaging.stats.summary(principal)
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
        sent_today=int(messages["sent_today"]),
        received_today=int(messages["received_today"]),
    )


async def daily_activity(
    runtime: System, principal: Principal, connection_id: str
) -> dict[date, tuple[int, int]]:
    """One connection's messages (sent, received) per day over the last weeks."""
    await runtime.connections.get(principal, connection_id)  # 404 for another org's
    summary = await runtime.messaging.stats.summary(principal, connection_id=connection_id)
    return {
        date.fromisoformat(day["date"]): (int(day["sent"]), int(day["received"]))
        for day in summary["series"]
    }
