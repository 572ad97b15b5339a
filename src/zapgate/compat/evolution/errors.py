"""Errors in Evolution API's shape: ``{status, error, response: {message: [...]}}``.

Evolution answers bad input with 400 (zapgate's 422), and a state that forbids the
action (not connected) with 400 too; zapgate's stable ``code`` is added to
``response`` so an integration can tell the cases apart.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from zapgate.domain.errors import DomainError

log = logging.getLogger(__name__)

_NAMES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    501: "Not Implemented",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_KEPT = frozenset(_NAMES)


def evolution_error(status: int, messages: list[Any], code: str) -> JSONResponse:
    return JSONResponse(
        {
            "status": status,
            "error": _NAMES.get(status, "Bad Request"),
            "response": {"message": messages, "code": code},
        },
        status_code=status,
    )


def _status(exc: DomainError) -> int:
    return exc.status if exc.status in _KEPT else 400


async def _domain(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    details = exc.details if isinstance(exc.details, list) else [exc.message]
    response = evolution_error(_status(exc), details, exc.code)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
    return response


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return evolution_error(400, problems, "validation_error")


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return evolution_error(exc.status_code, [str(exc.detail)], "http_error")


async def _other(request: Request, exc: Exception) -> JSONResponse:
    # An engine's refusal (this layer does not import engines/) carries a code and
    # says whether it may pass: permanent means the state forbids it, else try later.
    code = getattr(exc, "code", None)
    permanent = getattr(exc, "permanent", None)
    if isinstance(code, str) and isinstance(permanent, bool):
        message = str(getattr(exc, "message", exc))
        return evolution_error(400 if permanent else 503, [message], code)
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return evolution_error(500, ["internal error; it was logged"], "internal_error")


def install_errors(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _other)
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
