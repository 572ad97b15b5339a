"""Authentication, the current user, users, API keys and organizations."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from zapgate.api.deps import (
    DEFAULT_PAGE,
    AccountsDep,
    CurrentPrincipal,
    Cursor,
    Limit,
)
from zapgate.api.openapi import error_responses
from zapgate.api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    LoginIn,
    MeOut,
    OrganizationCreate,
    OrganizationPublic,
    PageOut,
    TokenOut,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from zapgate.services.credentials import PasswordChange
from zapgate.util.http import client_address

router = APIRouter()


@router.post(
    "/auth/login",
    response_model=TokenOut,
    tags=["auth"],
    responses={
        **error_responses(429),
        401: {"description": "Wrong e-mail or password (`invalid_credentials`)."},
    },
)
async def login(body: LoginIn, request: Request, accounts: AccountsDep) -> TokenOut:
    result = await accounts.login(
        email=body.email, password=body.password, address=client_address(request)
    )
    return TokenOut(access_token=result.access_token, expires_in=result.expires_in)


@router.get("/me", response_model=MeOut, tags=["auth"])
async def me(principal: CurrentPrincipal, accounts: AccountsDep) -> MeOut:
    user, org = await accounts.me(principal)
    return MeOut(
        user=UserPublic.model_validate(user) if user else None,
        organization=OrganizationPublic.model_validate(org),
        role=principal.role,
        is_superadmin=principal.is_superadmin,
        auth="api_key" if principal.api_key_id else "token",
    )


# ---------------------------------------------------------------- users


@router.get("/users", response_model=PageOut[UserPublic], tags=["users"])
async def list_users(
    principal: CurrentPrincipal,
    accounts: AccountsDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[UserPublic]:
    page = await accounts.list_users(principal, limit=limit, cursor=cursor)
    return PageOut[UserPublic](
        items=[UserPublic.model_validate(u) for u in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/users",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
    responses=error_responses(409),
)
async def create_user(
    body: UserCreate, principal: CurrentPrincipal, accounts: AccountsDep
) -> UserPublic:
    user = await accounts.create_user(
        principal, email=body.email, password=body.password, role=body.role, name=body.name
    )
    return UserPublic.model_validate(user)


@router.get("/users/{user_id}", response_model=UserPublic, tags=["users"])
async def get_user(user_id: str, principal: CurrentPrincipal, accounts: AccountsDep) -> UserPublic:
    return UserPublic.model_validate(await accounts.get_user(principal, user_id))


@router.patch(
    "/users/{user_id}", response_model=UserPublic, tags=["users"], responses=error_responses(409)
)
async def update_user(
    user_id: str,
    body: UserUpdate,
    request: Request,
    principal: CurrentPrincipal,
    accounts: AccountsDep,
) -> UserPublic:
    password = None
    if body.password is not None:
        password = PasswordChange(
            new=body.password, current=body.current_password, address=client_address(request)
        )
    user = await accounts.update_user(
        principal,
        user_id,
        role=body.role,
        name=body.name,
        password=password,
        language=body.language,
    )
    return UserPublic.model_validate(user)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    responses=error_responses(409),
)
async def delete_user(user_id: str, principal: CurrentPrincipal, accounts: AccountsDep) -> Response:
    await accounts.delete_user(principal, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- API keys


@router.get("/api-keys", response_model=PageOut[ApiKeyPublic], tags=["api-keys"])
async def list_api_keys(
    principal: CurrentPrincipal,
    accounts: AccountsDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[ApiKeyPublic]:
    page = await accounts.list_api_keys(principal, limit=limit, cursor=cursor)
    return PageOut[ApiKeyPublic](
        items=[ApiKeyPublic.model_validate(k) for k in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    tags=["api-keys"],
)
async def create_api_key(
    body: ApiKeyCreate, principal: CurrentPrincipal, accounts: AccountsDep
) -> ApiKeyCreated:
    created = await accounts.create_api_key(principal, name=body.name)
    return ApiKeyCreated(
        id=created.row.id, name=created.row.name, key=created.key, created_at=created.row.created_at
    )


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["api-keys"])
async def revoke_api_key(
    key_id: str, principal: CurrentPrincipal, accounts: AccountsDep
) -> Response:
    await accounts.revoke_api_key(principal, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- organizations


@router.get("/organizations", response_model=PageOut[OrganizationPublic], tags=["organizations"])
async def list_organizations(
    principal: CurrentPrincipal,
    accounts: AccountsDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[OrganizationPublic]:
    page = await accounts.list_organizations(principal, limit=limit, cursor=cursor)
    return PageOut[OrganizationPublic](
        items=[OrganizationPublic.model_validate(o) for o in page.items],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/organizations",
    response_model=OrganizationPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["organizations"],
    responses=error_responses(409),
)
async def create_organization(
    body: OrganizationCreate, principal: CurrentPrincipal, accounts: AccountsDep
) -> OrganizationPublic:
    return OrganizationPublic.model_validate(
        await accounts.create_organization(principal, name=body.name)
    )


@router.get(
    "/organizations/{org_id}/users", response_model=PageOut[UserPublic], tags=["organizations"]
)
async def list_org_users(
    org_id: str,
    principal: CurrentPrincipal,
    accounts: AccountsDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[UserPublic]:
    page = await accounts.list_users(principal, limit=limit, cursor=cursor, organization_id=org_id)
    return PageOut[UserPublic](
        items=[UserPublic.model_validate(u) for u in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/organizations/{org_id}/users",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["organizations"],
    responses=error_responses(409),
)
async def create_org_user(
    org_id: str, body: UserCreate, principal: CurrentPrincipal, accounts: AccountsDep
) -> UserPublic:
    user = await accounts.create_user(
        principal,
        email=body.email,
        password=body.password,
        role=body.role,
        name=body.name,
        organization_id=org_id,
    )
    return UserPublic.model_validate(user)
