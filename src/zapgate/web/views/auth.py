"""First-run setup, login, logout and the language switch."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Response
from fastapi.responses import RedirectResponse

from zapgate.domain.errors import DomainError, Unauthorized
from zapgate.util.http import client_address
from zapgate.web import i18n
from zapgate.web.context import AnyVisitor, Visitor
from zapgate.web.render import html_response
from zapgate.web.routing import WebRoute, error_text
from zapgate.web.session import LANG_COOKIE, SESSION_COOKIE, clear_cookie, set_cookie

router = APIRouter(route_class=WebRoute)


def _redirect(to: str) -> Response:
    return RedirectResponse(to, status_code=303)


@router.get("/")
async def root(v: AnyVisitor) -> Response:
    return _redirect("/app")


async def _needs_setup(v: Visitor) -> bool:
    return await v.runtime.accounts.count_users() == 0


@router.get("/app/setup")
async def setup_page(v: AnyVisitor) -> Response:
    if not await _needs_setup(v):
        return _redirect("/app/login")
    return html_response(v, "pages/setup.html", form={}, error=None)


@router.post("/app/setup")
async def setup_submit(
    v: AnyVisitor,
    organization: Annotated[str, Form(max_length=200)],
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=256)],
) -> Response:
    form = {"organization": organization, "email": email}
    if not await _needs_setup(v):
        return _redirect("/app/login")
    try:
        user = await v.runtime.accounts.bootstrap(
            email=email, password=password, org_name=organization
        )
    except DomainError as exc:
        error = error_text(v.t, exc.code, exc.message)
        return html_response(v, "pages/setup.html", status=exc.status, form=form, error=error)
    if user is None:
        return _redirect("/app/login")
    return await _sign_in(v, email, password, language=v.t.language)


async def _sign_in(v: Visitor, email: str, password: str, *, language: str | None) -> Response:
    result = await v.runtime.accounts.login(
        email=email, password=password, address=client_address(v.request)
    )
    response = _redirect("/app")
    set_cookie(v.request, response, SESSION_COOKIE, result.access_token, max_age=result.expires_in)
    if language and result.user.language is None:
        # Remember the language the person chose before signing in.
        principal = await v.runtime.accounts.principal_from_token(result.access_token)
        await v.runtime.accounts.update_user(principal, result.user.id, language=language)
    return response


@router.get("/app/login")
async def login_page(v: AnyVisitor) -> Response:
    if v.member is not None:
        return _redirect("/app")
    if await _needs_setup(v):
        return _redirect("/app/setup")
    return html_response(v, "pages/login.html", email="", error=None)


@router.post("/app/login")
async def login_submit(
    v: AnyVisitor,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=256)],
) -> Response:
    chosen = i18n.normalize(v.request.cookies.get(LANG_COOKIE))
    try:
        return await _sign_in(v, email, password, language=chosen)
    except DomainError as exc:
        code = "invalid_credentials" if isinstance(exc, Unauthorized) else exc.code
        error = error_text(v.t, code, exc.message)
        return html_response(v, "pages/login.html", status=exc.status, email=email, error=error)


@router.post("/app/logout")
async def logout(v: AnyVisitor) -> Response:
    response = _redirect("/app/login")
    clear_cookie(v.request, response, SESSION_COOKIE)
    return response


def _same_site_path(referer: str | None) -> str:
    """Go back where the switch was pressed, but only to a page of this panel."""
    if not referer:
        return "/app"
    parts = urlsplit(referer)
    path = parts.path if parts.path.startswith("/app") else "/app"
    return path + (f"?{parts.query}" if parts.query else "")


@router.post("/app/language")
async def switch_language(v: AnyVisitor, language: Annotated[str, Form(max_length=8)]) -> Response:
    chosen = i18n.normalize(language) or i18n.DEFAULT_LANGUAGE
    response = _redirect(_same_site_path(v.request.headers.get("referer")))
    if v.member is not None:
        await v.runtime.accounts.update_user(v.member.principal, v.member.user.id, language=chosen)
    set_cookie(v.request, response, LANG_COOKIE, chosen, max_age=365 * 86400)
    return response
