"""Who may change whose password, and what a change ends."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, login
from zapgate.store.tables.accounts import UserRow
from zapgate.util.clock import ManualClock

API = "/api/v1"
NEW = "taken-over-1"


async def _member(
    client: httpx.AsyncClient, admin: dict[str, str], email: str, role: str
) -> tuple[str, dict[str, str]]:
    created = await client.post(
        f"{API}/users",
        headers=admin,
        json={"email": email, "password": f"{role}-pass-11", "role": role},
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], await login(client, email, f"{role}-pass-11")


async def _owner_id(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    owner_id: str = (await client.get(f"{API}/me", headers=admin)).json()["user"]["id"]
    return owner_id


async def _signs_in(client: httpx.AsyncClient, email: str, password: str) -> bool:
    answer = await client.post(f"{API}/auth/login", json={"email": email, "password": password})
    if answer.status_code == 200:
        return True
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "invalid_credentials")
    return False


async def test_an_admin_cannot_set_the_owners_password(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    owner_id = await _owner_id(client, admin)
    _, boss = await _member(client, admin, "boss@example.com", "admin")
    refused = await client.patch(f"{API}/users/{owner_id}", headers=boss, json={"password": NEW})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "outranked"
    assert not await _signs_in(client, ADMIN_EMAIL, NEW)
    assert await _signs_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)


async def test_api_keys_set_nobodys_password(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    owner_id = await _owner_id(client, admin)
    agent_id, _ = await _member(client, admin, "ana@example.com", "agent")
    key = (await client.post(f"{API}/api-keys", headers=admin, json={"name": "crm"})).json()
    for headers in ({"X-Api-Key": key["key"]}, {"Authorization": f"Bearer {key['key']}"}):
        for user_id in (owner_id, agent_id):
            refused = await client.patch(
                f"{API}/users/{user_id}", headers=headers, json={"password": NEW}
            )
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "api_key_cannot_change_credentials"
    assert not await _signs_in(client, ADMIN_EMAIL, NEW)
    assert not await _signs_in(client, "ana@example.com", NEW)
    # The key still manages what is not a credential.
    renamed = await client.patch(
        f"{API}/users/{agent_id}", headers={"X-Api-Key": key["key"]}, json={"name": "Ana"}
    )
    assert renamed.status_code == 200


async def test_an_admin_sets_the_password_of_a_lower_member_whose_tokens_end(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, boss = await _member(client, admin, "boss@example.com", "admin")
    agent_id, agent = await _member(client, admin, "ana@example.com", "agent")
    changed = await client.patch(f"{API}/users/{agent_id}", headers=boss, json={"password": NEW})
    assert changed.status_code == 200
    stale = await client.get(f"{API}/me", headers=agent)
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "invalid_token"
    assert await _signs_in(client, "ana@example.com", NEW)


async def test_a_manager_sets_no_other_members_password(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, manager = await _member(client, admin, "max@example.com", "manager")
    agent_id, _ = await _member(client, admin, "ana@example.com", "agent")
    refused = await client.patch(f"{API}/users/{agent_id}", headers=manager, json={"password": NEW})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("role", ["owner", "agent"])
async def test_ones_own_password_needs_the_current_one(
    client: httpx.AsyncClient, admin: dict[str, str], role: str
) -> None:
    if role == "owner":
        me, headers = await _owner_id(client, admin), admin
        email, current = ADMIN_EMAIL, ADMIN_PASSWORD
    else:
        me, headers = await _member(client, admin, "ana@example.com", "agent")
        email, current = "ana@example.com", "agent-pass-11"
    missing = await client.patch(f"{API}/users/{me}", headers=headers, json={"password": NEW})
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "current_password_required"
    wrong = await client.patch(
        f"{API}/users/{me}", headers=headers, json={"password": NEW, "current_password": "nope"}
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "wrong_current_password"
    assert await _signs_in(client, email, current)
    headers = await login(client, email, current)
    changed = await client.patch(
        f"{API}/users/{me}", headers=headers, json={"password": NEW, "current_password": current}
    )
    assert changed.status_code == 200
    stale = await client.get(f"{API}/me", headers=headers)
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "invalid_token"
    assert not await _signs_in(client, email, current)
    assert await _signs_in(client, email, NEW)


async def test_a_password_changed_by_another_server_ends_tokens_within_the_cache_bound(
    server: Server, client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    owner_id = await _owner_id(client, admin)
    async with server.runtime.db.write() as s:  # as another process would
        user = await s.get(UserRow, owner_id)
        assert user is not None
        user.token_version += 1
    await clock.advance(server.runtime.settings.auth_cache_seconds + 0.1)
    stale = await client.get(f"{API}/me", headers=admin)
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "invalid_token"
