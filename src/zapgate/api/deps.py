"""Typed dependencies for routes: the runtime, its services and the calling principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Query, Request

from zapgate.api.formats import CURSOR_PATTERN
from zapgate.domain.errors import Unauthorized
from zapgate.runtime import Runtime
from zapgate.services.accounts import AccountService
from zapgate.services.context import Principal
from zapgate.services.security import API_KEY_PREFIX
from zapgate.store.pagination import DEFAULT_LIMIT, MAX_LIMIT


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_accounts(runtime: RuntimeDep) -> AccountService:
    return runtime.accounts


AccountsDep = Annotated[AccountService, Depends(get_accounts)]


async def authenticate(accounts: AccountService, token: str) -> Principal:
    if token.startswith(API_KEY_PREFIX):
        return await accounts.principal_from_api_key(token)
    return await accounts.principal_from_token(token)


async def principal_from_headers(
    accounts: AccountService, authorization: str | None, x_api_key: str | None
) -> Principal:
    """The caller named by ``Authorization: Bearer <token>`` or ``X-Api-Key: <key>``."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use 'Authorization: Bearer <token>'", code="unauthenticated")
        return await authenticate(accounts, token.strip())
    if x_api_key:
        return await authenticate(accounts, x_api_key.strip())
    raise Unauthorized("authentication required", code="unauthenticated")


AUTHENTICATORS: set[Callable[..., Awaitable[Principal]]] = set()
"""Dependencies that authenticate their caller (OpenAPI marks the routes using them)."""


def authenticator(
    dependency: Callable[..., Awaitable[Principal]],
) -> Callable[..., Awaitable[Principal]]:
    AUTHENTICATORS.add(dependency)
    return dependency


@authenticator
async def current_principal(request: Request) -> Principal:
    """The authenticated caller of an API route.

    The headers are read from the request, not declared as ``Header()`` parameters:
    FastAPI's work per declared parameter was a tenth of the cost of a send. They are
    documented once, as OpenAPI security schemes (see ``api/openapi.py``).
    """
    runtime: Runtime = request.app.state.runtime
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


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
