"""The OpenAPI document's customisation: how to authenticate, which operations need it,
and the error answers of every operation.

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


# ---------------------------------------------------------------- error answers

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "description": "Every error answer: a stable machine-readable code and a message for people.",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable; e.g. `not_found`, `validation_error`, `invalid_phone`.",
                },
                "message": {"type": "string", "description": "For people; may change."},
                "details": {
                    "description": "More about the error (for `validation_error`, the list "
                    "of problems, each with its `loc`, `msg` and `type`), or null."
                },
            },
        }
    },
}
ERRORS: dict[int, str] = {
    400: "The request is malformed (`invalid_json`: the body is not JSON).",
    401: "No valid credentials (`unauthenticated`, `invalid_token`, `api_key_revoked`...).",
    403: "The caller's role does not allow this (`forbidden`).",
    404: "Not found in the caller's organization (`not_found`, or a more precise code).",
    409: "The request conflicts with the current state of the resource.",
    410: "Gone: what was asked for expired.",
    413: "The request body is larger than the limit (`payload_too_large`).",
    422: "The input is invalid (`validation_error`, or a more precise code).",
    429: "Too many requests; `Retry-After` says when to try again.",
    503: "Temporarily unavailable; try again shortly.",
}


RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 1},
}
FASTAPI_422 = "Validation Error"
FASTAPI_422_REF = {"$ref": "#/components/schemas/HTTPValidationError"}
"""The description and body FastAPI gives the 422 it adds by itself."""


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for the error statuses it answers beyond those
    :func:`with_errors` derives for every operation of its kind."""
    found: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        found[status] = {"description": ERRORS[status]}
        if status == 429:
            found[status]["headers"] = {"Retry-After": RETRY_AFTER}
    return found


def _derived_errors(path: str, operation: dict[str, Any]) -> set[int]:
    statuses = set()
    if operation.get("requestBody"):
        statuses |= {400, 413, 422}
    if operation.get("parameters"):
        statuses.add(422)
    if operation.get("security"):
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    return statuses


def _own_body(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return bool(schema) and schema not in (ERROR_REF, FASTAPI_422_REF)


def with_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the error answers of every operation, with the one error body.

    Each operation gets the errors its kind implies (401 and 403 when it authenticates,
    404 when its path names a resource, 422 when it takes input, 400 and 413 when it
    takes a body) and those its route declares with :func:`error_responses`.
    Idempotent, as :func:`with_security`; run it after that one.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            declared = {int(s) for s in responses if s.isdigit() and int(s) >= 400}
            for status in sorted(declared | _derived_errors(path, operation)):
                given = responses.get(str(status), {})
                if _own_body(given):
                    continue  # a route that answers this status with a body of its own
                description = given.get("description")
                if description == FASTAPI_422:
                    description = None
                responses[str(status)] = {
                    **given,
                    "description": description or ERRORS.get(status, "Error."),
                    "content": {"application/json": {"schema": ERROR_REF}},
                }
            operation["responses"] = dict(sorted(responses.items()))
    # FastAPI's own 422 body, replaced above, is not what this API answers.
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
