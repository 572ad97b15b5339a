"""``/cluster``: the nodes of a cluster and the connections each runs (superadmins)."""

from __future__ import annotations

from fastapi import APIRouter

from zapgate.api.deps import CurrentPrincipal, RuntimeDep
from zapgate.api.schemas_cluster import ClusterOut

router = APIRouter(tags=["cluster"])


@router.get("/cluster", response_model=ClusterOut)
async def cluster_overview(principal: CurrentPrincipal, runtime: RuntimeDep) -> ClusterOut:
    """Every node (live or dead until pruned), its heartbeat and the connections it owns.

    On a single node (SQLite, or PostgreSQL without ``ZAPGATE_CLUSTER``) ``clustered``
    is false and ``nodes`` empty."""
    return ClusterOut.model_validate(await runtime.cluster.overview(principal))
