"""A credential changed through one node is refused by the others at once, not after
their credential caches' age (``ZAPGATE_AUTH_CACHE_SECONDS``): the manual clocks never
move here, so before the notification between nodes existed node b kept accepting the
revoked key and the demoted member's token for as long as the test ran."""

from __future__ import annotations

import httpx

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, eventually, login
from tests.integration.api.helpers import API


async def _status(http: httpx.AsyncClient, headers: dict[str, str], path: str) -> int:
    return (await http.get(f"{API}{path}", headers=headers)).status_code


async def test_a_revoked_key_and_a_changed_role_reach_every_node(
    nodes: tuple[Server, Server],
) -> None:
    a, b = nodes
    ha = await login(a.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    created = (await a.http.post(f"{API}/api-keys", headers=ha, json={"name": "crm"})).json()
    key = {"X-Api-Key": created["key"]}
    assert await _status(b.http, key, "/me") == 200  # remembered by b now

    revoked = await a.http.delete(f"{API}/api-keys/{created['id']}", headers=ha)
    assert revoked.status_code in (200, 204), revoked.text

    async def refused_on_b() -> bool:
        return await _status(b.http, key, "/me") == 401

    await eventually(refused_on_b, timeout=5, what="node b to refuse the revoked key")

    # A member demoted through a: b stops granting the old role to a token it knew.
    member = await a.http.post(
        f"{API}/users",
        headers=ha,
        json={"email": "bia@example.com", "password": "bia-password-1", "role": "admin"},
    )
    assert member.status_code == 201, member.text
    hbia = await login(b.http, "bia@example.com", "bia-password-1")
    assert await _status(b.http, hbia, "/api-keys") == 200  # an admin's page, remembered
    demoted = await a.http.patch(
        f"{API}/users/{member.json()['id']}", headers=ha, json={"role": "agent"}
    )
    assert demoted.status_code == 200, demoted.text

    async def demoted_on_b() -> bool:
        return await _status(b.http, hbia, "/api-keys") == 403

    await eventually(demoted_on_b, timeout=5, what="node b to apply the new role")
