"""``/stats``: organization totals."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from zapgate.api.deps import CurrentPrincipal, RuntimeDep

router = APIRouter(tags=["stats"])


@router.get("/stats")
async def organization_stats(principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    by_state = await runtime.connections.counts_by_state(principal)
    messages = await runtime.messaging.stats.summary(principal)
    series = messages.pop("series")
    return {
        "connections": {"total": sum(by_state.values()), "by_state": by_state},
        "messages": messages,
        "series": series,
    }
