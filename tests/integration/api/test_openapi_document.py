"""The OpenAPI document says what the API answers: errors, formats, allowed methods."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from zapgate.app import create_app
from zapgate.config import Settings
from zapgate.store.pagination import encode_cursor

API = "/api/v1"
ERROR = {"$ref": "#/components/schemas/Error"}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # Neither the document nor routing needs the database: the app is not started.
    settings = Settings(_env_file=None, data_dir=tmp_path, engine="simulator", secret_key="s" * 40)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def spec(http: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await http.get(f"{API}/openapi.json")).json()
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _error_body(operation: dict[str, Any], status: int) -> Any:
    response = operation["responses"].get(str(status), {})
    return response.get("content", {}).get("application/json", {}).get("schema")


async def test_every_operation_documents_its_errors_with_the_error_body(
    spec: dict[str, Any],
) -> None:
    for method, path, operation in _operations(spec):
        where = f"{method.upper()} {path}"
        expected = set()
        if operation.get("security"):
            expected |= {401, 403}
        if "{" in path:
            expected.add(404)
        if operation.get("parameters") or operation.get("requestBody"):
            expected.add(422)
        if operation.get("requestBody"):
            expected |= {400, 413}
        for status in expected:
            assert _error_body(operation, status) == ERROR, (where, status)
        for status, response in operation["responses"].items():
            if int(status) >= 400 and path != "/readyz":
                assert _error_body(operation, int(status)) == ERROR, (where, status, response)
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    # FastAPI's own validation body, which this API never answers, is gone.
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_conflicts_and_the_like_are_documented_where_they_happen(
    spec: dict[str, Any],
) -> None:
    paths = spec["paths"]
    login = paths[f"{API}/auth/login"]["post"]["responses"]
    assert "invalid_credentials" in login["401"]["description"]
    assert "Retry-After" in login["429"]["headers"]
    assert "409" in paths[f"{API}/users"]["post"]["responses"]
    assert "409" in paths[f"{API}/messages/{{message_id}}/cancel"]["post"]["responses"]
    assert "410" in paths[f"{API}/connections/{{connection_id}}/qr"]["get"]["responses"]
    # Every simulator operation answers 404 when the simulator is not the engine.
    for path, item in paths.items():
        if path.startswith(f"{API}/simulator/"):
            assert all("404" in op["responses"] for op in item.values()), path
    ready = paths["/readyz"]["get"]["responses"]
    assert ready["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Readiness"
    }


def _property(spec: dict[str, Any], model: str, name: str) -> dict[str, Any]:
    prop: dict[str, Any] = spec["components"]["schemas"][model]["properties"][name]
    for choice in prop.get("anyOf", []):
        if choice.get("type") in ("string", "array"):
            return {**prop, **choice}
    return prop


async def test_phone_email_and_cursor_formats_are_documented(spec: dict[str, Any]) -> None:
    phone = _property(spec, "PairingCodeIn", "phone")
    for good in ("+55 (11) 99999-0001", "5511999990001", "5511999990001@s.whatsapp.net"):
        assert re.match(phone["pattern"], good), good
    for bad in ("abc", "123", "0", "5511999990001@g.us", ""):
        assert not re.match(phone["pattern"], bad), bad
    assert phone["examples"]
    numbers = _property(spec, "CheckNumbersIn", "phones")["items"]
    assert numbers["pattern"] == phone["pattern"]
    recipient = _property(spec, "MessageCreate", "to")["pattern"]
    assert re.match(recipient, "120363025246125486@g.us")
    assert re.match(recipient, "+55 11 99999-0001")
    assert not re.match(recipient, "hello")
    # A contact's phone may be emptied.
    assert re.match(_property(spec, "ContactUpdate", "phone")["pattern"], "")

    assert _property(spec, "UserCreate", "email")["format"] == "email"
    assert _property(spec, "LoginIn", "email")["format"] == "email"
    contact_email = _property(spec, "ContactUpdate", "email")["pattern"]
    assert re.match(contact_email, "ana@example.com")
    assert re.match(contact_email, "")  # removes it
    assert not re.match(contact_email, "ana at example")

    users = spec["paths"][f"{API}/users"]["get"]
    cursor = next(p for p in users["parameters"] if p["name"] == "cursor")
    assert re.match(cursor["schema"]["pattern"], encode_cursor("2024-01-01T00:00:00+00:00", "x"))
    assert not re.match(cursor["schema"]["pattern"], "%%%")
    assert cursor["description"]
    page = spec["components"]["schemas"]["PageOut_UserPublic_"]["properties"]["next_cursor"]
    assert page["pattern"] == cursor["schema"]["pattern"]
    events = spec["components"]["schemas"]["EventPage"]["properties"]["next_cursor"]
    assert events["pattern"] == cursor["schema"]["pattern"]


async def test_booleans_are_documented_as_booleans_only(spec: dict[str, Any]) -> None:
    for model, name in (
        ("ConnectionCreate", "is_primary"),
        ("ConnectionUpdate", "is_primary"),
        ("WebhookCreate", "enabled"),
        ("SimSettingsIn", "auto_receipts"),
    ):
        prop = spec["components"]["schemas"][model]["properties"][name]
        types = {c.get("type") for c in prop.get("anyOf", [prop])}
        assert types <= {"boolean", "null"}, (model, name)


async def test_options_and_405_name_every_method_of_the_path(
    http: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    templates = {
        path: re.compile("^" + re.sub(r"{[^}]+}", "[^/]+", path) + "$") for path in spec["paths"]
    }
    for path in spec["paths"]:
        url = re.sub(r"{[^}]+}", "some-id", path)
        # A URL can fit two templates (``/groups/join`` is also ``/groups/{jid}``): it
        # answers the methods of every template it fits.
        documented = {
            m.upper()
            for other, item in spec["paths"].items()
            if templates[other].match(url)
            for m in item
            if m in METHODS
        }
        options = await http.options(url)
        assert options.status_code == 204, (path, options.text)
        allow = {m.strip() for m in options.headers["allow"].split(",")}
        assert allow - {"HEAD", "OPTIONS"} == documented, (path, allow)
        missing = sorted(METHODS - {m.lower() for m in documented})[0].upper()
        refused = await http.request(missing, url)
        assert refused.status_code == 405, (missing, path)
        assert refused.json()["error"]["code"] == "method_not_allowed"
        assert {m.strip() for m in refused.headers["allow"].split(",")} == allow
