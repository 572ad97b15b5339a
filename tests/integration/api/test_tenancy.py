"""Tenant isolation on every endpoint that takes an id, found from the OpenAPI document.

Organization B creates one of each resource; organization A's owner then calls every
route that has a path parameter with B's ids and must get 404 each time. New routes are
covered automatically: a route whose parameter this test cannot fill fails loudly.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import login
from tests.integration.api.helpers import API, create_connection

# Routes where a 404 is not the point (the simulator acts on the caller's own session
# ids and is covered by the same rule) are still included; only these differ:
NOT_ID_ROUTES = {"/api/v1/simulator/network/{up}"}


async def _org_with_owner(http: httpx.AsyncClient, admin: dict[str, str], name: str) -> Any:
    org = (await http.post(f"{API}/organizations", headers=admin, json={"name": name})).json()
    email = f"owner@{name.lower()}.test"
    await http.post(
        f"{API}/organizations/{org['id']}/users",
        headers=admin,
        json={"email": email, "password": "owner-pass-1", "role": "owner"},
    )
    return org, await login(http, email, "owner-pass-1")


async def _ids_of_b(http: httpx.AsyncClient, b: dict[str, str]) -> dict[str, str]:
    """One real resource of each kind in organization B, by path parameter name."""
    ids: dict[str, str] = {}
    # The webhook first: every event after it (the connection, the message) is a delivery.
    hook = await http.post(
        f"{API}/webhooks", headers=b, json={"url": "https://example.com/hook", "events": []}
    )
    assert hook.status_code == 201, hook.text
    ids["webhook_id"] = hook.json()["id"]
    export = await http.post(
        f"{API}/exports",
        headers=b,
        json={"kind": "nats", "url": "nats://example.com:4222", "stream": "b", "events": []},
    )
    assert export.status_code == 201, export.text
    ids["export_id"] = export.json()["id"]
    template = await http.post(
        f"{API}/templates", headers=b, json={"name": "t", "body": "hi {{name}}"}
    )
    assert template.status_code == 201, template.text
    ids["template_id"] = template.json()["id"]
    conn = await create_connection(http, b, "B shop")
    ids["connection_id"] = conn["id"]
    users = (await http.get(f"{API}/users", headers=b)).json()["items"]
    ids["user_id"] = users[0]["id"]
    key = (await http.post(f"{API}/api-keys", headers=b, json={"name": "b"})).json()
    ids["key_id"] = key["id"]
    me = (await http.get(f"{API}/me", headers=b)).json()
    ids["org_id"] = me["organization"]["id"]
    # A queued message brings its chat and contact; media by upload.
    sent = await http.post(
        f"{API}/messages",
        headers=b,
        json={"to": "5511988887777", "text": "hi", "connection_id": conn["id"]},
    )
    assert sent.status_code == 202, sent.text
    message = sent.json()
    ids.update(
        message_id=message["id"], chat_id=message["chat_id"], contact_id=message["contact_id"]
    )
    media = await http.post(
        f"{API}/media", headers=b, files={"file": ("note.txt", b"hello", "text/plain")}
    )
    assert media.status_code == 201, media.text
    ids["media_id"] = media.json()["id"]
    deliveries = await http.get(f"{API}/webhooks/{ids['webhook_id']}/deliveries", headers=b)
    assert deliveries.status_code == 200, deliveries.text
    assert deliveries.json()["items"], "B's events made no delivery to B's webhook"
    ids["delivery_id"] = deliveries.json()["items"][0]["id"]
    # A group is addressed under B's connection: the connection is what tenancy guards.
    ids["jid"] = "120363000000000001@g.us"
    return ids


MADE_UP_ID = "00000000-0000-7000-8000-000000000000"
NOT_IDS = {"jid"}
"""Path parameters that name something inside a resource (a group inside a connection)."""

SAMPLES: dict[str, Any] = {
    "phone": "5511999990001",
    "from": "5511999990001",
    "to": "5511999990001",
    "code": "ABCD-EFGH",
    "url": "https://example.com/hook",
    "email": "someone@example.com",
    "password": "password-123",
    "seconds": 60,
    "name": "x",
    "text": "hello",
    "wa_message_id": "3EB0000000000000000000",
    "phones": ["5511999990001"],
    "participants": ["5511999990001"],
}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        return _resolve(spec, schema)
    return schema


def _sample(spec: dict[str, Any], name: str, schema: dict[str, Any]) -> Any:
    schema = _resolve(spec, schema)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if name in SAMPLES:
        return SAMPLES[name]
    kind = schema.get("type")
    if kind == "object":
        return _body(spec, schema)
    return {"string": "x", "integer": 1, "number": 1.0, "boolean": True, "array": []}.get(
        str(kind), "x"
    )


def _body(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    schema = _resolve(spec, schema)
    props = schema.get("properties", {})
    return {k: _sample(spec, k, props[k]) for k in schema.get("required", [])}


def _request_body(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return _body(spec, content["application/json"]["schema"])


def _routes(spec: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    found = []
    for path, methods in spec["paths"].items():
        params = re.findall(r"{(\w+)}", path)
        if not params or path in NOT_ID_ROUTES:
            continue
        for method in methods:
            found.append((method.upper(), path, params))
    return found


async def test_other_organizations_ids_are_404_everywhere(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, a = await _org_with_owner(client, admin, "Alpha")
    _, b = await _org_with_owner(client, admin, "Bravo")
    ids = await _ids_of_b(client, b)
    spec = (await client.get(f"{API}/openapi.json")).json()
    checked = 0
    for method, path, params in _routes(spec):
        if path.startswith(f"{API}/organizations/"):
            continue  # superadmin-only: A's owner gets 403 (checked below)
        values = {}
        for param in params:
            if param not in ids:
                raise AssertionError(f"no id of B for {param} in {method} {path}")
            values[param] = ids[param]
        url = path.format(**values)
        operation = spec["paths"][path][method.lower()]
        body = _request_body(spec, operation)
        response = await client.request(method, url, headers=a, json=body)
        assert response.status_code == 404, (method, url, response.status_code, response.text)
        code = response.json()["error"]["code"]
        assert code.endswith("not_found"), (method, url, response.text)
        # Exactly as if the id did not exist at all (the same code for a made-up id).
        missing = await client.request(
            method,
            path.format(**{p: values[p] if p in NOT_IDS else MADE_UP_ID for p in params}),
            headers=a,
            json=body,
        )
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, code), (
            method,
            path,
            missing.text,
        )
        checked += 1
    assert checked >= 12
    # And B's resources are all still there for B.
    mine = await client.get(f"{API}/connections/{ids['connection_id']}", headers=b)
    assert mine.status_code == 200


async def test_org_routes_are_superadmin_only(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    org_b, b = await _org_with_owner(client, admin, "Bravo")
    for method, path in [
        ("GET", "/organizations"),
        ("POST", "/organizations"),
        ("GET", f"/organizations/{org_b['id']}/users"),
        ("POST", f"/organizations/{org_b['id']}/users"),
        ("GET", "/cluster"),
    ]:
        body = (
            {"name": "X"}
            if path == "/organizations"
            else {"email": "x@x.test", "password": "xxxx-xxxx", "role": "agent"}
        )
        response = await client.request(method, f"{API}{path}", headers=b, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "forbidden", (method, path, response.text)


async def test_listings_never_show_other_organizations(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, a = await _org_with_owner(client, admin, "Alpha")
    _, b = await _org_with_owner(client, admin, "Bravo")
    await _ids_of_b(client, b)
    spec = (await client.get(f"{API}/openapi.json")).json()
    listed = 0
    for path, methods in spec["paths"].items():
        if "{" in path or "get" not in methods or "simulator" in path:
            continue
        if path in (f"{API}/organizations", f"{API}/openapi.json", f"{API}/cluster"):
            continue
        if "text/event-stream" in methods["get"].get("responses", {}).get("200", {}).get(
            "content", {}
        ):
            continue  # endless live streams; their isolation: tests/integration/events
        response = await client.get(path, headers=a)
        # Every listing answers A: one that refused would hide nothing and prove nothing.
        assert response.status_code == 200, (path, response.text)
        assert "Bravo" not in response.text, path
        assert "owner@bravo.test" not in response.text, path
        assert "B shop" not in response.text, path
        listed += 1
    assert listed >= 12
