"""One mapper from errors to the JSON error body ``{"error": {code, message, details}}``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from zapgate.api.characters import INVALID_CHARACTER
from zapgate.domain.errors import DomainError, EngineError, TooManyRequests

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _clean_validation(errors: list[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        item = {"loc": list(err.get("loc", ())), "msg": err.get("msg"), "type": err.get("type")}
        out.append(item)
    return out


def domain_error_response(exc: DomainError) -> JSONResponse:
    headers = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
    elif exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return error_response(exc.status, exc.code, exc.message, exc.details, headers)


def engine_error_response(exc: EngineError) -> JSONResponse:
    # A permanent engine refusal is a conflict with the connection's state; a
    # transient one means "try again shortly".
    status = 409 if exc.permanent else 503
    return error_response(status, exc.code, exc.message)


def validation_error_response(errors: Sequence[Any]) -> JSONResponse:
    """``errors`` as pydantic gives them, with ``loc`` starting at the request part."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "request body is not valid JSON")
    details = _clean_validation(list(errors))
    # A refused character has its own code, whatever else is wrong: the client's fix
    # (clean the text) is not the one for a missing or malformed field.
    refused = [d for d in details if d["type"] == INVALID_CHARACTER]
    first = (refused or details or [{}])[0]
    where = ".".join(str(p) for p in first.get("loc", [])[1:]) or "request"
    message = f"{where}: {first.get('msg', 'invalid')}"
    code = INVALID_CHARACTER if refused else "validation_error"
    return error_response(422, code, message, details)


def unexpected_error_response(path: str, exc: Exception) -> JSONResponse:
    """For an exception nothing else maps: logged with its traceback, never shown."""
    log.error("unhandled error", exc_info=exc, extra={"path": path})
    return error_response(500, "internal_error", "internal error; it was logged")


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path.

    Starlette's 405 names only the methods of the first route matching the path, while
    a path often has one route per method (``GET`` and ``POST /connections``): each
    method is tried against the routes instead. The mounts serve static files.
    """
    allowed = {"OPTIONS"}
    # Inside a mount, root_path includes the mount's prefix; the app's routes want the
    # app's own.
    root = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    for method in _METHODS:
        probe = {**request.scope, "method": method, "root_path": root}
        for route in request.app.router.routes:
            if route.matches(probe)[0] is Match.FULL:
                allowed |= {"GET", "HEAD"} if isinstance(route, Mount) else {method}
                break
    return sorted(allowed)


def method_not_allowed(request: Request) -> Response:
    """405 with the ``Allow`` header RFC 9110 requires; ``OPTIONS`` is answered with it."""
    allow = ", ".join(allowed_methods(request))
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": allow})
    message = f"{request.method} is not allowed here; allowed: {allow}"
    return error_response(405, "method_not_allowed", message, headers={"Allow": allow})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(EngineError)
    async def _engine(_request: Request, exc: EngineError) -> JSONResponse:
        return engine_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error_response(exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return method_not_allowed(request)
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
        return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(request.url.path, exc)
