"""Who is looking at a page: the visitor, and the signed-in member when there is one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from zapgate.domain.errors import Unauthorized
from zapgate.services.accounts import AccountService
from zapgate.services.context import Principal
from zapgate.services.system import System
from zapgate.web import i18n
from zapgate.web.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    LANG_COOKIE,
    PRE_COOKIE,
    SESSION_COOKIE,
    WebKeys,
    csrf_anchor,
    new_pre_session,
)

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.accounts import OrganizationRow, UserRow


class LoginRequired(Exception):
    """No valid session: pages redirect to the login page."""


class CsrfRefused(Exception):
    """An unsafe request without a valid CSRF token."""


@dataclass(frozen=True, slots=True)
class Member:
    principal: Principal
    user: UserRow
    org: OrganizationRow

    @property
    def display_name(self) -> str:
        return self.user.name or self.user.email


@dataclass(frozen=True, slots=True)
class Session:
    """The session cookie's access token, kept by the panel's live stream, which
    outlives its request and checks it again (``services/events.Credential``)."""

    accounts: AccountService
    token: str
    expires_at: datetime | None

    async def check(self) -> Principal:
        return await self.accounts.principal_from_token(self.token)


@dataclass(slots=True)
class Visitor:
    request: Request
    runtime: System
    t: i18n.Translator
    csrf: str
    new_pre: str | None
    member: Member | None
    since: int
    """The last event id when the request began: the page's live stream starts there."""

    @property
    def me(self) -> Member:
        if self.member is None:
            raise LoginRequired
        return self.member

    @property
    def principal(self) -> Principal:
        return self.me.principal

    @property
    def is_htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    def session(self) -> Session:
        """The signed-in member's session (``Unauthorized`` once its token expired)."""
        token = self.request.cookies.get(SESSION_COOKIE, "")
        accounts = self.runtime.accounts
        claims = accounts.tokens.verify(token, now=self.runtime.clock.now())
        return Session(accounts, token, claims.expires_at)


def web_keys(request: Request, runtime: System) -> WebKeys:
    keys: WebKeys | None = getattr(request.app.state, "web_keys", None)
    if keys is None:
        keys = WebKeys(runtime.settings.secret())
        request.app.state.web_keys = keys
    return keys


async def _member(runtime: System, token: str | None) -> Member | None:
    if not token:
        return None
    try:
        principal, user, org = await runtime.accounts.session(token)
    except Unauthorized:
        return None
    return Member(principal=principal, user=user, org=org)


def choose_language(request: Request, member: Member | None) -> str:
    if member is not None and member.user.language in i18n.LANGUAGES:
        return member.user.language
    chosen = i18n.normalize(request.cookies.get(LANG_COOKIE))
    return chosen or i18n.from_accept_language(request.headers.get("accept-language"))


async def get_visitor(request: Request) -> Visitor:
    runtime: System = request.app.state.runtime
    since = runtime.last_event_id()
    member = await _member(runtime, request.cookies.get(SESSION_COOKIE))
    keys = web_keys(request, runtime)
    anchor = csrf_anchor(request) if member is not None else _anonymous_anchor(request)
    new_pre = None
    if anchor is None:
        new_pre = new_pre_session()
        anchor = "p:" + new_pre
    visitor = Visitor(
        request=request,
        runtime=runtime,
        t=i18n.Translator(choose_language(request, member)),
        csrf=keys.csrf_for(anchor),
        new_pre=new_pre,
        member=member,
        since=since,
    )
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await _check_csrf(request, keys, anchor if new_pre is None else None)
    return visitor


def _anonymous_anchor(request: Request) -> str | None:
    pre = request.cookies.get(PRE_COOKIE)
    return "p:" + pre if pre else None


async def _check_csrf(request: Request, keys: WebKeys, anchor: str | None) -> None:
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
    if not keys.valid(anchor, token):
        raise CsrfRefused


async def get_member(request: Request) -> Visitor:
    visitor = await get_visitor(request)
    if visitor.member is None:
        raise LoginRequired
    return visitor


AnyVisitor = Annotated[Visitor, Depends(get_visitor)]
SignedIn = Annotated[Visitor, Depends(get_member)]
