"""Liveness and readiness, outside the API prefix and without authentication."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from zapgate.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and its event loop answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """The database and background workers are usable."""
    checks = await runtime.readiness()
    failing = {name: reason for name, reason in checks.items() if reason}
    body: dict[str, object] = {
        "status": "ok" if not failing else "unavailable",
        "checks": {name: reason or "ok" for name, reason in checks.items()},
    }
    details = runtime.readiness_details()
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=200 if not failing else 503)
