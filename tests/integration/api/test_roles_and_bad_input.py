"""Role checks for each role, and bad input answered with a clear 4xx, never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest

from tests.conftest import login
from tests.integration.api.helpers import API, create_connection
from zapgate.util.clock import ManualClock


async def _member(http: httpx.AsyncClient, admin: dict[str, str], role: str) -> dict[str, str]:
    email = f"{role}-member@example.com"
    created = await http.post(
        f"{API}/users",
        headers=admin,
        json={"email": email, "password": "member-pass", "role": role},
    )
    assert created.status_code == 201, created.text
    return await login(http, email, "member-pass")


# (method, path, body, lowest role allowed)
MATRIX = [
    ("GET", "/connections", None, "agent"),
    ("GET", "/users", None, "manager"),
    ("POST", "/connections/{cid}/start", None, "manager"),
    ("POST", "/connections", {"name": "n"}, "admin"),
    ("POST", "/users", {"email": "n{r}@x.test", "password": "p-123456", "role": "agent"}, "admin"),
    ("POST", "/api-keys", {"name": "k"}, "admin"),
    ("GET", "/api-keys", None, "admin"),
    ("POST", "/users", {"email": "o{r}@x.test", "password": "p-123456", "role": "owner"}, "owner"),
]
ORDER = ["agent", "manager", "admin", "owner"]


@pytest.mark.parametrize("role", ORDER)
async def test_role_matrix(client: httpx.AsyncClient, admin: dict[str, str], role: str) -> None:
    cid = (await create_connection(client, admin))["id"]
    headers = admin if role == "owner" else await _member(client, admin, role)
    for method, path, body, lowest in MATRIX:
        payload = json.loads(json.dumps(body).replace("{r}", role)) if body else None
        response = await client.request(
            method, f"{API}{path.format(cid=cid)}", headers=headers, json=payload
        )
        allowed = ORDER.index(role) >= ORDER.index(lowest)
        if allowed:
            assert response.status_code < 400, (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.text)
            assert response.json()["error"]["code"] == "forbidden"


async def test_malformed_json_wrong_types_unknown_fields(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    broken = await client.post(f"{API}/connections", headers=headers, content=b"{name: ")
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_json"

    wrong = await client.post(f"{API}/connections", headers=admin, json={"name": 42})
    assert wrong.status_code == 422
    body = wrong.json()["error"]
    assert body["code"] == "validation_error"
    assert body["details"][0]["loc"] == ["body", "name"]

    unknown = await client.post(
        f"{API}/connections", headers=admin, json={"name": "x", "colour": "red"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "validation_error"
    assert "colour" in json.dumps(unknown.json())

    not_object = await client.post(f"{API}/connections", headers=admin, json=[1, 2])
    assert not_object.status_code == 422
    assert not_object.json()["error"]["code"] == "validation_error"

    bad_role = await client.post(
        f"{API}/users",
        headers=admin,
        json={"email": "a@b.co", "password": "12345678", "role": "god"},
    )
    assert bad_role.status_code == 422
    assert bad_role.json()["error"]["code"] == "validation_error"

    bad_email = await client.post(
        f"{API}/users",
        headers=admin,
        json={"email": "nope", "password": "12345678", "role": "agent"},
    )
    assert bad_email.status_code == 422
    assert bad_email.json()["error"]["code"] == "invalid_email"

    short = await client.post(
        f"{API}/users", headers=admin, json={"email": "a@b.co", "password": "123", "role": "agent"}
    )
    assert short.status_code == 422
    assert short.json()["error"]["code"] == "validation_error"

    bad_state = await client.get(f"{API}/connections?state=sleepy", headers=admin)
    assert bad_state.status_code == 422
    assert bad_state.json()["error"]["code"] == "validation_error"


async def test_oversized_body(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    big = {"name": "x" * (2 * 1024 * 1024)}
    response = await client.post(f"{API}/connections", headers=admin, json=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    streamed = await client.post(
        f"{API}/connections",
        headers={**admin, "Content-Type": "application/json"},
        content=chunks(),
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "payload_too_large"


async def test_bad_cursors_and_limits(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for cursor in ("%%%", "bm90LWpzb24", base64.urlsafe_b64encode(b'{"a": 1}').decode(), "W1tdXQ"):
        response = await client.get(f"{API}/api-keys", headers=admin, params={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.text)
        assert response.json()["error"]["code"] == "invalid_cursor"
    for limit in (0, 201, -1, "many"):
        response = await client.get(f"{API}/users", headers=admin, params={"limit": limit})
        assert response.status_code == 422, limit
        assert response.json()["error"]["code"] == "validation_error", limit
    cid = (await create_connection(client, admin))["id"]
    events = await client.get(
        f"{API}/connections/{cid}/events", headers=admin, params={"cursor": "WyJ4Il0"}
    )
    assert events.status_code == 422
    assert events.json()["error"]["code"] == "invalid_cursor"


async def test_tokens_expired_forged_and_missing(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    missing = await client.get(f"{API}/me")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"
    assert missing.headers["WWW-Authenticate"] == "Bearer"

    scheme = await client.get(f"{API}/me", headers={"Authorization": "Basic abc"})
    assert scheme.status_code == 401
    assert scheme.json()["error"]["code"] == "unauthenticated"

    token = admin["Authorization"].split()[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-secret-" * 3, algorithm="HS256")
    bad = await client.get(f"{API}/me", headers={"Authorization": f"Bearer {forged}"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "invalid_token"

    unsigned = jwt.encode(claims, None, algorithm="none")
    none_alg = await client.get(f"{API}/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert none_alg.status_code == 401
    assert none_alg.json()["error"]["code"] == "invalid_token"

    garbage = await client.get(f"{API}/me", headers={"Authorization": "Bearer a.b.c"})
    assert garbage.status_code == 401
    assert garbage.json()["error"]["code"] == "invalid_token"

    await clock.advance(13 * 3600)
    expired = await client.get(f"{API}/me", headers=admin)
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "token_expired"


async def test_unknown_api_key_and_unknown_route(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/me", headers={"X-Api-Key": "zg_nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    nowhere = await client.get(f"{API}/nowhere")
    assert nowhere.status_code == 404
    assert nowhere.json()["error"]["code"] == "not_found"
    wrong_method = await client.put(f"{API}/me")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
