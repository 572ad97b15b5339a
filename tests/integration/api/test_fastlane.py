"""The send fast lane answers exactly what the documented route answers.

Each request is made twice: as usual (a JSON body with Content-Length, which the lane
takes) and chunked (no length, which the lane leaves to FastAPI and the route). A
counter on the lane proves which of the two answered.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import CUSTOMER, ready_connection
from zapgate.api.fastlane import SendLane
from zapgate.util.clock import ManualClock

WAYS = ("lane", "route")


@pytest.fixture
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = SendLane.__call__

    async def counted(self: SendLane, *args: Any) -> None:
        calls.append(1)
        await original(self, *args)

    monkeypatch.setattr(SendLane, "__call__", counted)
    return calls


async def post(
    http: httpx.AsyncClient,
    way: str,
    body: bytes,
    headers: dict[str, str] | list[tuple[str, str]],
    calls: list[int],
) -> httpx.Response:
    """POST ``body`` the ``way`` given; checks whether the lane took the request."""
    before = len(calls)
    given = list(headers.items()) if isinstance(headers, dict) else headers
    if not any(name.lower() == "content-type" for name, _ in given):
        given = [("Content-Type", "application/json"), *given]
    sent = httpx.Headers(given)
    if way == "lane":
        response = await http.post(f"{API}/messages", content=body, headers=sent)
    else:

        async def chunks() -> AsyncIterator[bytes]:
            yield body[:3]
            yield body[3:]

        response = await http.post(f"{API}/messages", content=chunks(), headers=sent)
    assert len(calls) - before == (1 if way == "lane" else 0), way
    return response


def encoded(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


async def test_both_ways_accept_the_same_message(
    server: Server, admin: dict[str, str], clock: ManualClock, lane_calls: list[int]
) -> None:
    await ready_connection(server, admin, clock)
    answers = {}
    for way in WAYS:
        response = await post(
            server.http, way, encoded({"to": CUSTOMER, "text": way}), admin, lane_calls
        )
        assert response.status_code == 202, response.text
        assert response.headers["content-type"] == "application/json"
        answers[way] = response.json()
    lane, route = answers["lane"], answers["route"]
    assert lane.keys() == route.keys()
    assert lane["text"] == "lane"
    assert route["text"] == "route"
    assert lane["status"] == route["status"] == "queued"
    assert lane["created_at"].endswith("Z")
    assert route["created_at"].endswith("Z")
    stored = await server.http.get(f"{API}/messages/{lane['id']}", headers=admin)
    assert stored.json()["wa_message_id"] == lane["wa_message_id"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{nope", {}, 400, "invalid_json"),
        (b"[]", {}, 422, "validation_error"),
        (b'{"to": "\\ud800", "text": "x"}', {}, 422, "validation_error"),
        (encoded({"text": "no recipient"}), {}, 422, "validation_error"),
        (encoded({"to": CUSTOMER, "text": "x", "bogus": 1}), {}, 422, "validation_error"),
        (encoded({"to": "abc", "text": "x"}), {}, 422, "invalid_phone"),
        (encoded({"to": CUSTOMER, "type": "image"}), {}, 422, "missing_content"),
        (
            encoded({"to": CUSTOMER, "text": "x"}),
            {"Idempotency-Key": "k" * 201},
            422,
            "invalid_idempotency_key",
        ),
        (encoded({"to": CUSTOMER, "text": "a\x00b"}), {}, 422, "invalid_character"),
        (
            encoded({"to": CUSTOMER, "text": "x"}),
            {"Idempotency-Key": "k\x00"},
            422,
            "invalid_character",
        ),
        (
            encoded({"to": CUSTOMER, "text": "x"}),
            {"Authorization": "Basic x"},
            401,
            "unauthenticated",
        ),
        (
            encoded({"to": CUSTOMER, "text": "x"}),
            {"Authorization": "Bearer nope"},
            401,
            "invalid_token",
        ),
    ],
)
async def test_both_ways_refuse_alike(
    server: Server,
    admin: dict[str, str],
    clock: ManualClock,
    lane_calls: list[int],
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    await ready_connection(server, admin, clock)
    answers = []
    for way in WAYS:
        response = await post(server.http, way, body, {**admin, **headers}, lane_calls)
        assert response.status_code == status, (way, response.text)
        answers.append(response.json()["error"])
    assert answers[0] == answers[1]
    assert answers[0]["code"] == code
    if b"no recipient" in body:
        assert answers[0]["details"][0]["loc"] == ["body", "to"]


async def test_unauthenticated_gets_401_both_ways(server: Server, lane_calls: list[int]) -> None:
    for way in WAYS:
        for body in (encoded({"to": CUSTOMER, "text": "x"}), encoded({"to": CUSTOMER})):
            response = await post(server.http, way, body, {}, lane_calls)
            assert response.status_code == 401, (way, body, response.text)
            assert response.json()["error"]["code"] == "unauthenticated", (way, body)
            assert response.headers["www-authenticate"] == "Bearer"
        # JSON that does not parse is refused first, as it always was.
        broken = await post(server.http, way, b"{nope", {}, lane_calls)
        assert broken.status_code == 400
        assert broken.json()["error"]["code"] == "invalid_json", way


async def test_a_repeated_header_means_its_first_copy_both_ways(
    server: Server, admin: dict[str, str], clock: ManualClock, lane_calls: list[int]
) -> None:
    await ready_connection(server, admin, clock)
    body = encoded({"to": CUSTOMER, "text": "twice"})
    valid = admin["Authorization"]
    for way in WAYS:
        first_valid = [("Authorization", valid), ("Authorization", "Bearer nope")]
        first_bad = [("Authorization", "Bearer nope"), ("Authorization", valid)]
        ok = await post(server.http, way, body, first_valid, lane_calls)
        refused = await post(server.http, way, body, first_bad, lane_calls)
        assert ok.status_code == 202, way
        assert refused.status_code == 401, way
        assert refused.json()["error"]["code"] == "invalid_token", way
    keyed = [("Authorization", valid), ("Idempotency-Key", "k-1"), ("Idempotency-Key", "k-2")]
    ids = {(await post(server.http, way, body, keyed, lane_calls)).json()["id"] for way in WAYS}
    assert len(ids) == 1


async def test_a_byte_order_mark_and_an_api_key_work_both_ways(
    server: Server, admin: dict[str, str], clock: ManualClock, lane_calls: list[int]
) -> None:
    await ready_connection(server, admin, clock)
    created = await server.http.post(f"{API}/api-keys", headers=admin, json={"name": "crm"})
    key = {"X-Api-Key": f"  {created.json()['key']}  "}
    body = codecs.BOM_UTF8 + encoded({"to": CUSTOMER, "text": "bom"})
    for way in WAYS:
        response = await post(server.http, way, body, key, lane_calls)
        assert response.status_code == 202, (way, response.text)
        assert response.json()["text"] == "bom"


async def test_no_middleware_the_lane_would_skip(server: Server) -> None:
    # The lane answers in front of every middleware: adding one must be a decision about
    # the lane too (see api/fastlane.py).
    assert [m.cls.__name__ for m in server.app.user_middleware] == ["BodyLimitMiddleware"]


async def test_an_idempotency_key_spans_both_ways(
    server: Server, admin: dict[str, str], clock: ManualClock, lane_calls: list[int]
) -> None:
    await ready_connection(server, admin, clock)
    body = encoded({"to": CUSTOMER, "text": "once"})
    keyed = {**admin, "Idempotency-Key": "order-1"}
    first = await post(server.http, "lane", body, keyed, lane_calls)
    again = await post(server.http, "route", body, keyed, lane_calls)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = await post(server.http, "lane", encoded({"to": CUSTOMER}), keyed, lane_calls)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


async def test_requests_the_lane_leaves_to_the_app(
    server: Server, admin: dict[str, str], clock: ManualClock, lane_calls: list[int]
) -> None:
    await ready_connection(server, admin, clock)
    http = server.http
    form = await http.post(f"{API}/messages", headers=admin, data={"to": CUSTOMER})
    assert form.status_code == 422
    assert form.json()["error"]["code"] == "validation_error"
    lookalike = await http.post(
        f"{API}/messages",
        headers={**admin, "Content-Type": "application/jsonfoo"},
        content=encoded({"to": CUSTOMER, "text": "x"}),
    )
    assert lookalike.status_code == 422
    assert lookalike.json()["error"]["code"] == "validation_error"
    empty = await http.post(
        f"{API}/messages", headers={**admin, "Content-Type": "application/json"}, content=b""
    )
    assert empty.status_code == 422
    assert empty.json()["error"]["code"] == "validation_error"
    elsewhere = await http.get(f"{API}/messages/0000", headers=admin)
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"]["code"] == "message_not_found"
    # The app checks every query (api/characters.py); the lane leaves any to it.
    queried = await http.post(
        f"{API}/messages?note=%00", headers=admin, json={"to": CUSTOMER, "text": "x"}
    )
    assert queried.status_code == 422
    assert queried.json()["error"]["code"] == "invalid_character"
    harmless = await http.post(
        f"{API}/messages?note=1", headers=admin, json={"to": CUSTOMER, "text": "x"}
    )
    assert harmless.status_code == 202
    assert lane_calls == []


async def test_openapi_documents_the_credentials(client: httpx.AsyncClient) -> None:
    spec = (await client.get(f"{API}/openapi.json")).json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    send = spec["paths"][f"{API}/messages"]["post"]
    assert send["security"] == [{"bearer": []}, {"apiKey": []}]
    assert [p["name"] for p in send["parameters"]] == ["Idempotency-Key"]
    assert "MessageCreate" in json.dumps(send["requestBody"])
    assert "security" not in spec["paths"][f"{API}/auth/login"]["post"]
    stream = spec["paths"][f"{API}/events/stream"]["get"]
    assert stream["security"] == [{"bearer": []}, {"apiKey": []}]
    # No operation lists the credential headers as parameters any more.
    for item in spec["paths"].values():
        for operation in item.values():
            names = {p["name"].lower() for p in operation.get("parameters", [])}
            assert not names & {"authorization", "x-api-key"}
