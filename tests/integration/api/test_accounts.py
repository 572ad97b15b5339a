"""Login, /me, users, API keys and organizations through the HTTP API."""

from __future__ import annotations

import httpx

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, login
from zapgate.store.tables.accounts import ApiKeyRow
from zapgate.util.clock import ManualClock

API = "/api/v1"


async def test_login_and_me(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.get(f"{API}/me", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == ADMIN_EMAIL
    assert body["organization"]["name"] == "Acme"
    assert body["role"] == "owner"
    assert body["is_superadmin"] is True
    assert "password_hash" not in body["user"]


async def test_login_answers_token_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{API}/auth/login", json={"email": ADMIN_EMAIL.upper(), "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert body["access_token"]


async def test_wrong_password_is_401_and_throttled(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        bad = await client.post(f"{API}/auth/login", json={"email": ADMIN_EMAIL, "password": "x"})
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "invalid_credentials"
    blocked = await client.post(
        f"{API}/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_attempts"
    assert int(blocked.headers["Retry-After"]) > 0


async def test_throttle_window_passes_with_time(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    for _ in range(5):
        await client.post(f"{API}/auth/login", json={"email": ADMIN_EMAIL, "password": "x"})
    await clock.advance(901)
    ok = await client.post(
        f"{API}/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert ok.status_code == 200


async def test_unknown_user_login_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{API}/auth/login", json={"email": "nobody@example.com", "password": "whatever1"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


async def test_users_crud(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    created = await client.post(
        f"{API}/users",
        headers=admin,
        json={"email": "Agent@Example.com", "password": "agent-pass-1", "role": "agent"},
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "agent@example.com"
    assert user["role"] == "agent"

    dup = await client.post(
        f"{API}/users",
        headers=admin,
        json={"email": "agent@example.com", "password": "agent-pass-1", "role": "agent"},
    )
    assert dup.status_code == 409
    assert dup.json()["error"]["code"] == "email_taken"

    listed = await client.get(f"{API}/users", headers=admin)
    assert {u["email"] for u in listed.json()["items"]} == {ADMIN_EMAIL, "agent@example.com"}

    patched = await client.patch(
        f"{API}/users/{user['id']}", headers=admin, json={"role": "manager", "name": "Ana"}
    )
    assert patched.status_code == 200
    assert patched.json()["role"] == "manager"
    assert patched.json()["name"] == "Ana"

    deleted = await client.delete(f"{API}/users/{user['id']}", headers=admin)
    assert deleted.status_code == 204
    gone = await client.get(f"{API}/users/{user['id']}", headers=admin)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


async def test_password_change_invalidates_old_tokens(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await client.post(
        f"{API}/users",
        headers=admin,
        json={"email": "bob@example.com", "password": "bob-pass-11", "role": "agent"},
    )
    bob = await login(client, "bob@example.com", "bob-pass-11")
    me = (await client.get(f"{API}/me", headers=bob)).json()
    changed = await client.patch(
        f"{API}/users/{me['user']['id']}",
        headers=bob,
        json={"password": "bob-pass-22", "current_password": "bob-pass-11"},
    )
    assert changed.status_code == 200
    stale = await client.get(f"{API}/me", headers=bob)
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "invalid_token"


async def test_cannot_remove_self_or_last_owner(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    me = (await client.get(f"{API}/me", headers=admin)).json()
    response = await client.delete(f"{API}/users/{me['user']['id']}", headers=admin)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "cannot_remove_self"
    demote = await client.patch(
        f"{API}/users/{me['user']['id']}", headers=admin, json={"role": "admin"}
    )
    assert demote.status_code == 409
    assert demote.json()["error"]["code"] == "last_owner"


async def test_api_keys_lifecycle(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    created = await client.post(f"{API}/api-keys", headers=admin, json={"name": "crm"})
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith("zg_")
    assert set(body) >= {"id", "name", "key", "created_at"}

    listed = await client.get(f"{API}/api-keys", headers=admin)
    item = listed.json()["items"][0]
    assert "key" not in item
    assert item["last_used_at"] is None
    assert key not in listed.text

    for headers in ({"Authorization": f"Bearer {key}"}, {"X-Api-Key": key}):
        me = await client.get(f"{API}/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["auth"] == "api_key"
        assert me.json()["organization"]["name"] == "Acme"

    listed = await client.get(f"{API}/api-keys", headers=admin)
    assert listed.json()["items"][0]["last_used_at"] is not None

    revoked = await client.delete(f"{API}/api-keys/{body['id']}", headers=admin)
    assert revoked.status_code == 204
    refused = await client.get(f"{API}/me", headers={"X-Api-Key": key})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "api_key_revoked"


async def test_organizations_superadmin_only(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.post(f"{API}/organizations", headers=admin, json={"name": "Beta"})
    assert created.status_code == 201
    org = created.json()
    assert set(org) >= {"id", "name", "created_at"}
    dup = await client.post(f"{API}/organizations", headers=admin, json={"name": "Beta"})
    assert dup.status_code == 409
    assert dup.json()["error"]["code"] == "organization_exists"

    member = await client.post(
        f"{API}/organizations/{org['id']}/users",
        headers=admin,
        json={"email": "owner@beta.com", "password": "beta-pass-1", "role": "owner"},
    )
    assert member.status_code == 201
    assert member.json()["organization_id"] == org["id"]
    members = await client.get(f"{API}/organizations/{org['id']}/users", headers=admin)
    assert [u["email"] for u in members.json()["items"]] == ["owner@beta.com"]

    beta_owner = await login(client, "owner@beta.com", "beta-pass-1")
    forbidden = await client.get(f"{API}/organizations", headers=beta_owner)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"
    missing = await client.get(f"{API}/organizations/nope/users", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


async def test_pagination_walks_every_item_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for i in range(7):
        await client.post(f"{API}/api-keys", headers=admin, json={"name": f"k{i}"})
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"{API}/api-keys", headers=admin, params=params)).json()
        seen += [k["name"] for k in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"k{i}" for i in range(7)]


async def test_health_and_ready(server: Server) -> None:
    assert (await server.http.get("/healthz")).json() == {"status": "ok"}
    ready = await server.http.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"] == checks["engine"] == checks["outbox"] == "ok"
    await server.runtime.sender.close()
    stopped = await server.http.get("/readyz")
    assert stopped.status_code == 503
    assert stopped.json()["checks"]["outbox"] == "outbox worker not running"


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = await client.get(f"{API}/openapi.json")
    assert spec.status_code == 200
    assert "/api/v1/auth/login" in spec.json()["paths"]
    docs = await client.get("/api/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_credentials_changed_elsewhere_apply_within_the_cache_window(
    server: Server, client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    # A key revoked by another process (here: straight in the database) stops working
    # once the few seconds this process trusts a checked key are over.
    created = (await client.post(f"{API}/api-keys", headers=admin, json={"name": "crm"})).json()
    headers = {"X-Api-Key": created["key"]}
    assert (await client.get(f"{API}/me", headers=headers)).status_code == 200
    async with server.runtime.db.write() as s:
        row = await s.get(ApiKeyRow, created["id"])
        assert row is not None
        row.revoked_at = clock.now()
    assert (await client.get(f"{API}/me", headers=headers)).status_code == 200
    await clock.advance(server.runtime.settings.auth_cache_seconds + 1)
    refused = await client.get(f"{API}/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "api_key_revoked"


async def test_role_change_applies_to_cached_tokens_at_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.post(
        f"{API}/users",
        headers=admin,
        json={"email": "mia@example.com", "password": "mia-pass-11", "role": "manager"},
    )
    mia = await login(client, "mia@example.com", "mia-pass-11")
    assert (await client.get(f"{API}/users", headers=mia)).status_code == 200
    demoted = await client.patch(
        f"{API}/users/{created.json()['id']}", headers=admin, json={"role": "agent"}
    )
    assert demoted.status_code == 200
    refused = await client.get(f"{API}/users", headers=mia)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
