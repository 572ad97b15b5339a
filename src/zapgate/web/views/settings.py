"""Settings: members and roles, API keys (shown once), organizations for superadmins.

Webhooks and exports are settings tabs too; their routes live in ``views/webhooks.py``
and ``views/exports.py``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Response

from zapgate.domain.roles import Role
from zapgate.services.credentials import PasswordChange
from zapgate.util.http import client_address
from zapgate.web.context import SignedIn, Visitor
from zapgate.web.render import go, html_response, toast_header
from zapgate.web.routing import WebRoute
from zapgate.web.session import SESSION_COOKIE, set_cookie

router = APIRouter(route_class=WebRoute)
ROLES = [r.value for r in Role]
_PAGE = 200


def _tabs(v: Visitor) -> list[str]:
    principal = v.principal
    tabs = ["profile"]
    if principal.role.at_least(Role.MANAGER):
        tabs.append("users")
    if principal.role.at_least(Role.ADMIN):
        tabs += ["api-keys", "webhooks", "exports"]
    if principal.is_superadmin:
        tabs.append("organizations")
    return tabs


def settings_page(v: Visitor, tab: str, template: str | None = None, **context: Any) -> Response:
    return html_response(
        v,
        template or f"pages/settings_{tab.replace('-', '_')}.html",
        nav="settings",
        tab=tab,
        tabs=_tabs(v),
        **context,
    )


@router.get("/app/settings")
async def settings_home(v: SignedIn) -> Response:
    return settings_page(v, "profile", error=None)


@router.post("/app/settings/profile")
async def update_profile(
    v: SignedIn,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    current_password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    response = go(v, "/app/settings")
    if password:
        change = PasswordChange(
            new=password, current=current_password or None, address=client_address(v.request)
        )
        # Every other session of this member ends; this one goes on with a new token.
        result = await v.runtime.accounts.change_own_password(v.principal, change)
        set_cookie(
            v.request, response, SESSION_COOKIE, result.access_token, max_age=result.expires_in
        )
    await v.runtime.accounts.update_user(v.principal, v.me.user.id, name=name)
    return response


# ---------------------------------------------------------------- users


async def _users_page(v: Visitor, *, error: str | None = None, status: int = 200) -> Response:
    users = await v.runtime.accounts.list_users(v.principal, limit=_PAGE, cursor=None)
    response = settings_page(
        v,
        "users",
        users=users.items,
        roles=ROLES,
        error=error,
        can_edit=v.principal.role.at_least(Role.ADMIN),
    )
    response.status_code = status
    return response


@router.get("/app/settings/users")
async def users(v: SignedIn) -> Response:
    return await _users_page(v)


@router.post("/app/settings/users")
async def add_user(
    v: SignedIn,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=256)],
    role: Annotated[Role, Form()],
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    await v.runtime.accounts.create_user(
        v.principal, email=email, password=password, role=role, name=name or None
    )
    return go(v, "/app/settings/users")


@router.post("/app/settings/users/{user_id}/role")
async def change_role(v: SignedIn, user_id: str, role: Annotated[Role, Form()]) -> Response:
    await v.runtime.accounts.update_user(v.principal, user_id, role=role)
    return Response(status_code=204, headers=toast_header(v.t("toast.saved")))


@router.post("/app/settings/users/{user_id}/delete")
async def remove_user(v: SignedIn, user_id: str) -> Response:
    await v.runtime.accounts.delete_user(v.principal, user_id)
    return Response("", headers=toast_header(v.t("toast.removed")))


# ---------------------------------------------------------------- API keys


@router.get("/app/settings/api-keys")
async def api_keys(v: SignedIn) -> Response:
    keys = await v.runtime.accounts.list_api_keys(v.principal, limit=_PAGE, cursor=None)
    return settings_page(v, "api-keys", keys=keys.items, created=None)


@router.post("/app/settings/api-keys")
async def create_api_key(v: SignedIn, name: Annotated[str, Form(max_length=200)]) -> Response:
    created = await v.runtime.accounts.create_api_key(v.principal, name=name)
    keys = await v.runtime.accounts.list_api_keys(v.principal, limit=_PAGE, cursor=None)
    # The only time the key is ever shown: it is stored hashed.
    return settings_page(v, "api-keys", keys=keys.items, created=created)


@router.post("/app/settings/api-keys/{key_id}/revoke")
async def revoke_api_key(v: SignedIn, key_id: str) -> Response:
    await v.runtime.accounts.revoke_api_key(v.principal, key_id)
    return go(v, "/app/settings/api-keys")


# ---------------------------------------------------------------- organizations


@router.get("/app/settings/organizations")
async def organizations(v: SignedIn) -> Response:
    orgs = await v.runtime.accounts.list_organizations(v.principal, limit=_PAGE, cursor=None)
    return settings_page(v, "organizations", orgs=orgs.items, roles=ROLES)


@router.post("/app/settings/organizations")
async def create_organization(v: SignedIn, name: Annotated[str, Form(max_length=200)]) -> Response:
    await v.runtime.accounts.create_organization(v.principal, name=name)
    return go(v, "/app/settings/organizations")


@router.post("/app/settings/organizations/{organization_id}/users")
async def add_org_user(
    v: SignedIn,
    organization_id: str,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=256)],
    role: Annotated[Role, Form()],
) -> Response:
    await v.runtime.accounts.create_user(
        v.principal, email=email, password=password, role=role, organization_id=organization_id
    )
    return Response(status_code=204, headers=toast_header(v.t("toast.user_added")))
