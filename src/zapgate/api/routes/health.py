"""Liveness and readiness, outside the API prefix and without authentication."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from zapgate.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]
    """Each check's name and ``ok``, or why it fails."""


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and its event loop answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A check fails."}},
)
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
