"""Every route of the table, for every kind of caller: an instance token reaches only
its instance, an organization key only its organization's instances.

Generated from ``ROUTES``, so a route added to the layer is checked without a test of
its own.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.integration.compat.helpers import EVO, create_instance, org_key
from zapgate.compat.evolution import ROUTES
from zapgate.domain.roles import Role

INSTANCE_ROUTES = [(m, p) for m, p, _ in ROUTES if "{instance}" in p]


async def _call(http: httpx.AsyncClient, method: str, path: str, key: str | None) -> httpx.Response:
    headers = {"apikey": key} if key is not None else {}
    body: dict[str, Any] | None = {} if method in ("POST", "PUT") else None
    return await http.request(method, EVO + path, headers=headers, json=body)


@pytest.fixture
async def two_orgs(server: Server, admin: dict[str, str]) -> dict[str, str]:
    http = server.http
    key_a = await org_key(http, admin)
    token_a = (await create_instance(http, key_a, "alpha"))["hash"]
    token_b = (await create_instance(http, key_a, "beta"))["hash"]
    accounts = server.runtime.accounts
    await accounts.create_user_cli(
        email="other@example.com",
        password="other-password-1",
        org_name="Other",
        role=Role.OWNER,
        superadmin=False,
    )
    key_other = (await accounts.create_api_key_cli(org_name="Other", name="k")).key
    return {"key_a": key_a, "token_a": token_a, "token_b": token_b, "key_other": key_other}


# One server per test, every route in a loop: starting a server costs far more than
# the requests (a parametrized test per route took minutes).


async def test_instance_token_reaches_only_its_instance(
    server: Server, two_orgs: dict[str, str]
) -> None:
    http = server.http
    for method, path in INSTANCE_ROUTES:
        await _token_elsewhere(http, two_orgs, method, path)


async def _token_elsewhere(
    http: httpx.AsyncClient, two_orgs: dict[str, str], method: str, path: str
) -> None:
    other = await _call(http, method, path.replace("{instance}", "beta"), two_orgs["token_a"])
    assert other.status_code == 401, (path, other.text)
    assert other.json()["response"]["code"] == "instance_token_mismatch"
    # Another organization's instance does not exist for this token either.
    absent = await _call(http, method, path.replace("{instance}", "nowhere"), two_orgs["token_a"])
    assert absent.status_code == 401, (path, absent.text)


async def test_organization_key_reaches_only_its_organization(
    server: Server, two_orgs: dict[str, str]
) -> None:
    for method, path in INSTANCE_ROUTES:
        answer = await _call(
            server.http, method, path.replace("{instance}", "alpha"), two_orgs["key_other"]
        )
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["response"]["code"] == "connection_not_found"


async def test_every_route_needs_a_key(server: Server, two_orgs: dict[str, str]) -> None:
    for method, path, _ in ROUTES:
        for key in (None, "not-a-key-at-all-0000"):
            answer = await _call(server.http, method, path.replace("{instance}", "alpha"), key)
            assert answer.status_code == 401, (path, key, answer.text)


async def test_instance_token_cannot_create_and_lists_only_itself(
    server: Server, two_orgs: dict[str, str]
) -> None:
    http = server.http
    create = await http.post(
        f"{EVO}/instance/create",
        headers={"apikey": two_orgs["token_a"]},
        json={"instanceName": "x"},
    )
    assert create.status_code == 401
    assert create.json()["response"]["code"] == "global_key_required"
    mine = await http.get(f"{EVO}/instance/fetchInstances", headers={"apikey": two_orgs["token_a"]})
    assert [i["name"] for i in mine.json()] == ["alpha"]
    everyone = await http.get(
        f"{EVO}/instance/fetchInstances", headers={"apikey": two_orgs["key_a"]}
    )
    assert sorted(i["name"] for i in everyone.json()) == ["alpha", "beta"]
    theirs = await http.get(
        f"{EVO}/instance/fetchInstances", headers={"apikey": two_orgs["key_other"]}
    )
    assert theirs.json() == []
