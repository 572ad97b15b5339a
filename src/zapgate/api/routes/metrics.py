"""``GET /metrics``: Prometheus text format, outside the API prefix, no authentication
(aggregates only, nothing of any one tenant; restrict it at the proxy if needed)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from zapgate.api.deps import RuntimeDep
from zapgate.services.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    return Response(await runtime.metrics.render(), media_type=CONTENT_TYPE)
