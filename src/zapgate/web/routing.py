"""The panel's route class: turns errors into pages (or toasts for htmx requests).

The API answers errors with JSON through its one mapper; panel routes answer people, so
this wrapper catches the same domain errors first and renders them in their language.
Errors no panel route raises (an unknown ``/app/...`` path, a wrong method) reach the
app's handlers instead; :func:`install_error_pages` answers those with pages too.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from zapgate.domain.errors import DomainError, EngineError
from zapgate.services.system import System
from zapgate.web import i18n
from zapgate.web.context import CsrfRefused, LoginRequired, choose_language
from zapgate.web.render import SECURITY_HEADERS, render_html

log = logging.getLogger(__name__)
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def error_text(t: i18n.Translator, code: str, fallback: str) -> str:
    key = f"error.{code}"
    return t(key) if t.has(key) else fallback


def _problem(request: Request, status: int, code: str, message: str) -> Response:
    t = i18n.Translator(choose_language(request, None))
    runtime: System | None = getattr(request.app.state, "runtime", None)
    lang = getattr(request.state, "web_language", None)
    if lang:
        t = i18n.Translator(lang)
    # The code's text in the visitor's language, or a generic line: the raw text (an
    # engine's own words, often English) stays one click away behind "details".
    text = error_text(t, code, t("error.generic"))
    # The raw text (an engine's own words, often English) stays one click away.
    detail = f"{code}: {message}" if message and message != text else ""
    if request.headers.get("hx-request") == "true":
        body = render_html("partials/toast.html", t=t, message=text, detail=detail, tone="bad")
        headers = {"HX-Retarget": "#toasts", "HX-Reswap": "beforeend", **SECURITY_HEADERS}
        return HTMLResponse(body, status_code=status, headers=headers)
    signed_in = runtime is not None and request.cookies.get("zg_session") is not None
    body = render_html(
        "pages/error.html", t=t, status=status, message=text, detail=detail, signed_in=signed_in
    )
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def _login_redirect(request: Request) -> Response:
    if request.headers.get("hx-request") == "true":
        return Response(status_code=401, headers={"HX-Redirect": "/app/login"})
    if request.url.path.startswith("/app/events"):
        return Response(status_code=401)
    return RedirectResponse("/app/login", status_code=303)


class WebRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return _login_redirect(request)
            except CsrfRefused:
                return _problem(request, 403, "csrf", "the form expired; reload the page")
            except DomainError as exc:
                return _problem(request, exc.status, exc.code, exc.message)
            except EngineError as exc:
                return _problem(request, 409 if exc.permanent else 503, exc.code, exc.message)
            except RequestValidationError as exc:
                # Where and why, never the value: it may be a password.
                fields = [(".".join(map(str, e["loc"])), e["type"]) for e in exc.errors()]
                log.info("invalid panel request", extra={"errors": str(fields)[:500]})
                return _problem(request, 422, "invalid_form", "some fields are not valid")
            except HTTPException as exc:
                return _http_problem(request, exc)
            except Exception as exc:
                # A bug (a template reading a field a message lacks...): the person gets
                # the panel's page, the log gets the traceback.
                log.error("unhandled panel error", exc_info=exc, extra={"path": request.url.path})
                return _problem(request, 500, "internal_error", "internal error; it was logged")

        return guarded


def _http_problem(request: Request, exc: HTTPException) -> Response:
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "error"
    )
    response = _problem(request, exc.status_code, code, code.replace("_", " "))
    response.headers.update(exc.headers or {})
    return response


def is_panel_path(path: str) -> bool:
    return path == "/app" or path.startswith("/app/")


def install_error_pages(app: FastAPI) -> None:
    """Pages for the HTTP errors of ``/app`` paths that no panel route raised; every
    other path keeps the handler installed before (the API's JSON)."""
    previous = app.exception_handlers[HTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and is_panel_path(request.url.path):
            return _http_problem(request, exc)
        answer = previous(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(HTTPException, http_error)
