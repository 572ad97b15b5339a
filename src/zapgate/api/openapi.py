"""The OpenAPI document's security: how to authenticate, and which operations need it.

Routes read their credentials through :func:`zapgate.api.deps.current_principal` (or
another dependency registered in ``AUTHENTICATORS``), which takes the request itself
instead of ``Header()`` parameters (cheaper per request), so FastAPI cannot see them;
they are declared here once, as security schemes, on every operation that depends on
one of those.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from zapgate.api.deps import AUTHENTICATORS

SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token from POST /api/v1/auth/login, or an API key.",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "An API key (zg_...), as an alternative to the bearer header.",
    },
}
REQUIREMENT: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]


def _authenticated(dependant: Dependant) -> bool:
    return dependant.call in AUTHENTICATORS or any(
        _authenticated(sub) for sub in dependant.dependencies
    )


def secured_operations(routers: Iterable[APIRouter], prefix: str) -> set[tuple[str, str]]:
    """``(path, method)`` of every route of ``routers`` (mounted at ``prefix``) that
    authenticates its caller."""
    found: set[tuple[str, str]] = set()
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and _authenticated(route.dependant):
                found.update((prefix + route.path, m.lower()) for m in route.methods or ())
    return found


def with_security(schema: dict[str, Any], secured: set[tuple[str, str]]) -> dict[str, Any]:
    """Add the security schemes to ``schema`` and mark the ``secured`` operations.

    Idempotent, and done on every call: FastAPI may add schemes of its own, and
    regenerates the document when routes change.
    """
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes.update(SCHEMES)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if (path, method) in secured:
                operation["security"] = REQUIREMENT
    return schema
