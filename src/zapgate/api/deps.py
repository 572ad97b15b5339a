"""Typed dependencies for routes: the running system (``services/system.System``), its
services and the calling principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request

from zapgate.api.formats import CURSOR_PATTERN
from zapgate.domain.errors import Unauthorized
from zapgate.domain.pages import DEFAULT_LIMIT, MAX_LIMIT
from zapgate.services.accounts import AccountService
from zapgate.services.context import Principal
from zapgate.services.security import API_KEY_PREFIX
from zapgate.services.system import System


async def get_runtime(request: Request) -> System:
    runtime: System = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[System, Depends(get_runtime)]


async def get_accounts(runtime: RuntimeDep) -> AccountService:
    return runtime.accounts


AccountsDep = Annotated[AccountService, Depends(get_accounts)]


async def authenticate(accounts: AccountService, token: str) -> Principal:
    if token.startswith(API_KEY_PREFIX):
        return await accounts.principal_from_api_key(token)
    return await accounts.principal_from_token(token)


def presented_token(authorization: str | None, x_api_key: str | None) -> str:
    """The token or key of ``Authorization: Bearer <token>`` or ``X-Api-Key: <key>``."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use 'Authorization: Bearer <token>'", code="unauthenticated")
        return token.strip()
    if x_api_key:
        return x_api_key.strip()
    raise Unauthorized("authentication required", code="unauthenticated")


async def principal_from_headers(
    accounts: AccountService, authorization: str | None, x_api_key: str | None
) -> Principal:
    """The caller named by ``Authorization: Bearer <token>`` or ``X-Api-Key: <key>``."""
    return await authenticate(accounts, presented_token(authorization, x_api_key))


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller and the token or key it presented, kept because a live
    stream outlives its request and checks it again (``services/events.Credential``)."""

    principal: Principal
    token: str
    expires_at: datetime | None
    accounts: AccountService

    async def check(self) -> Principal:
        return await authenticate(self.accounts, self.token)


async def caller(runtime: System, token: str) -> Caller:
    principal = await authenticate(runtime.accounts, token)
    expires_at = None
    if not token.startswith(API_KEY_PREFIX):
        expires_at = runtime.accounts.tokens.verify(token, now=runtime.clock.now()).expires_at
    return Caller(principal, token, expires_at, runtime.accounts)


A = TypeVar("A", bound=Callable[..., Awaitable[object]])

AUTHENTICATORS: set[Callable[..., Awaitable[object]]] = set()
"""Dependencies that authenticate their caller (OpenAPI marks the routes using them)."""


def authenticator(dependency: A) -> A:
    AUTHENTICATORS.add(dependency)
    return dependency


@authenticator
async def current_principal(request: Request) -> Principal:
    """The authenticated caller of an API route.

    The headers are read from the request, not declared as ``Header()`` parameters:
    FastAPI's work per declared parameter was a tenth of the cost of a send. They are
    documented once, as OpenAPI security schemes (see ``api/openapi.py``).
    """
    runtime: System = request.app.state.runtime
    headers = request.headers
    return await principal_from_headers(
        runtime.accounts, headers.get("authorization"), headers.get("x-api-key")
    )


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[
    str | None,
    Query(
        max_length=1000,
        description="Opaque: the `next_cursor` of the previous page.",
        json_schema_extra={"pattern": CURSOR_PATTERN},
    ),
]
DEFAULT_PAGE = DEFAULT_LIMIT
