"""Schemathesis over every operation of the OpenAPI document, on both databases.

A real server (``zapgate serve`` in its own process, the simulator engine) with real
data behind it: the admin is signed in, and path parameters name resources that exist
(a linked connection with a chat, a contact, messages, media, a webhook with a
delivery...), so the generated requests get past the 404s and reach the code behind
them. Each operation gets a few generated requests, valid and invalid, and every answer
is held to the document: no 5xx, a documented status code, a documented content type, a
body that matches the documented schema.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.integration.api.live_server import serve_process, server_env

pytestmark = pytest.mark.slow

API = "/api/v1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation and per mode (valid, invalid inputs): a bound on the time of the whole
# run (about 75 operations), not a hunt; derandomized, so a failure repeats.
MAX_EXAMPLES = 6

# Not fuzzed, and why:
NOT_FUZZED = {
    # An endless stream: a valid request never ends. Its answers, resumption and
    # isolation are tested in tests/integration/events/test_streams.py. (The WebSocket,
    # /events/ws, is not in the document at all: OpenAPI cannot describe one.)
    ("GET", f"{API}/events/stream"),
}
# Operations that end what they act on (unlink, ban, delete...) act on resources of
# their own and run last, in this order (deletions at the very end), so that every other
# operation finds its resources intact.
DESTRUCTIVE = (
    # These change how the whole simulated network behaves (latency, failures, network
    # down): put back to the defaults after each request.
    ("PATCH", f"{API}/simulator/settings"),
    ("POST", f"{API}/simulator/network/{{up}}"),
    ("POST", f"{API}/simulator/connections/{{connection_id}}/drop"),
    ("POST", f"{API}/simulator/connections/{{connection_id}}/silence"),
    ("POST", f"{API}/connections/{{connection_id}}/stop"),
    ("POST", f"{API}/connections/{{connection_id}}/reconnect"),
    ("POST", f"{API}/simulator/connections/{{connection_id}}/ban"),
    ("POST", f"{API}/simulator/connections/{{connection_id}}/logout-from-phone"),
    ("POST", f"{API}/connections/{{connection_id}}/logout"),
    ("DELETE", f"{API}/connections/{{connection_id}}"),
    ("DELETE", f"{API}/users/{{user_id}}"),
    ("DELETE", f"{API}/api-keys/{{key_id}}"),
    ("DELETE", f"{API}/templates/{{template_id}}"),
    ("DELETE", f"{API}/webhooks/{{webhook_id}}"),
)
NETWORK_WIDE = DESTRUCTIVE[:2]
CUSTOMER = "5511988887777"


@dataclass
class World:
    """What the fuzzed requests act on."""

    base: str
    headers: dict[str, str]
    allow_nul: bool
    ids: dict[str, str] = field(default_factory=dict)
    """Path parameter values, by name."""
    scratch: dict[str, str] = field(default_factory=dict)
    """The same, for the destructive operations."""


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, (response.request.url, response.text)
    return response.json() if response.content else None


def _wait(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _linked_connection(http: httpx.Client, name: str, phone: str) -> str:
    cid: str = _ok(http.post(f"{API}/connections", json={"name": name}))["id"]
    _ok(http.post(f"{API}/connections/{cid}/start"))

    def state_is(state: str) -> Callable[[], bool]:
        return lambda: _ok(http.get(f"{API}/connections/{cid}/status"))["state"] == state

    _wait(state_is("qr_ready"), f"{name} to show a QR code")
    _ok(http.post(f"{API}/simulator/connections/{cid}/scan", json={"phone": phone}))
    _wait(state_is("ready"), f"{name} to be ready")
    return cid


def _seed(http: httpx.Client) -> tuple[dict[str, str], dict[str, str]]:
    """Resources for every path parameter: ``(ids, scratch ids)``."""
    _ok(http.patch(f"{API}/simulator/settings", json={"sync_delay_ms": 0}))
    cid = _linked_connection(http, "Main", "5511900000001")
    scratch_cid = _linked_connection(http, "Scratch", "5511900000002")
    _ok(
        http.post(
            f"{API}/simulator/connections/{cid}/incoming",
            json={"from": CUSTOMER, "text": "hello", "push_name": "Ana"},
        )
    )
    chats: list[dict[str, Any]] = []

    def chat_arrived() -> bool:
        nonlocal chats
        chats = _ok(http.get(f"{API}/chats"))["items"]
        return bool(chats)

    _wait(chat_arrived, "the incoming message")
    message = _ok(http.post(f"{API}/messages", json={"to": CUSTOMER, "text": "hi"}))
    media = _ok(http.post(f"{API}/media", files={"file": ("a.txt", b"some text", "text/plain")}))
    webhook = _ok(http.post(f"{API}/webhooks", json={"url": "http://127.0.0.1:9/hook"}))
    # An event after the webhook exists gives it a delivery.
    _ok(http.patch(f"{API}/connections/{cid}", json={"label": "main"}))
    deliveries: list[dict[str, Any]] = []

    def delivered() -> bool:
        nonlocal deliveries
        deliveries = _ok(http.get(f"{API}/webhooks/{webhook['id']}/deliveries"))["items"]
        return bool(deliveries)

    _wait(delivered, "a webhook delivery")
    ids = {
        "connection_id": cid,
        "chat_id": chats[0]["id"],
        "contact_id": chats[0]["contact_id"],
        "message_id": message["id"],
        "media_id": media["id"],
        "template_id": _template(http, "greeting"),
        "webhook_id": webhook["id"],
        "delivery_id": deliveries[0]["id"],
        "user_id": _user(http, "member@example.com"),
        "key_id": _ok(http.post(f"{API}/api-keys", json={"name": "crm"}))["id"],
        "org_id": _ok(http.post(f"{API}/organizations", json={"name": "Other"}))["id"],
    }
    scratch_webhook = _ok(http.post(f"{API}/webhooks", json={"url": "http://127.0.0.1:9/x"}))
    scratch = {
        **ids,
        "connection_id": scratch_cid,
        "template_id": _template(http, "old"),
        "webhook_id": scratch_webhook["id"],
        "user_id": _user(http, "leaver@example.com"),
        "key_id": _ok(http.post(f"{API}/api-keys", json={"name": "old"}))["id"],
    }
    return ids, scratch


def _template(http: httpx.Client, name: str) -> str:
    created = _ok(http.post(f"{API}/templates", json={"name": name, "body": "Hi {{name}}"}))
    return str(created["id"])


def _user(http: httpx.Client, email: str) -> str:
    body = {"email": email, "password": "member-pass-1", "role": "agent"}
    return str(_ok(http.post(f"{API}/users", json=body))["id"])


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    env = server_env(
        tmp_path / "data",
        database_url,
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        webhook_allow_private="true",
        log_level="WARNING",
    )
    with (
        serve_process(env, tmp_path / "server.log") as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        token = _ok(http.post(f"{API}/auth/login", json=login))["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        ids, scratch = _seed(http)
        # NUL characters too, on both databases: the API refuses them (422).
        yield World(base, dict(http.headers), True, ids, scratch)


def _fuzz(world: World, operation: Any, reset: Callable[[], None] | None) -> list[str]:
    """Generated requests to one operation; the failed checks, described."""
    key = (operation.method.upper(), operation.path)
    params = world.scratch if key in DESTRUCTIVE else world.ids
    path_parameters = {
        p.name: params[p.name] for p in operation.path_parameters if p.name in params
    }
    failures: list[str] = []
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(mode, path_parameters=path_parameters)
        label = f"{key[0]} {key[1]} [{mode.value}]"
        try:
            _examples(world, strategy, label, reset, failures)
        except hypothesis.errors.Unsatisfiable:
            # No input to get wrong (no parameters, no body, path ids fixed).
            assert mode is schemathesis.GenerationMode.NEGATIVE, key
    return failures


def _examples(
    world: World,
    strategy: Any,
    label: str,
    reset: Callable[[], None] | None,
    failures: list[str],
) -> None:
    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=world.base, headers=world.headers, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as exc:
            # Collected, not raised: every operation is tried, and all is reported.
            failures.append(f"{label}: {exc}")
        finally:
            if reset is not None:
                reset()

    run()


def test_every_operation_answers_as_documented(world: World) -> None:
    with httpx.Client(base_url=world.base, headers=world.headers, timeout=30) as http:
        spec = _ok(http.get(f"{API}/openapi.json"))

        def reset_network() -> None:
            # null: back to the default.
            defaults = dict.fromkeys(("auto_receipts", "receipt_delay_ms", "latency_ms"))
            defaults |= dict.fromkeys(("read_delay_ms", "played_delay_ms", "failure_rate"))
            _ok(http.patch(f"{API}/simulator/settings", json={**defaults, "sync_delay_ms": 0}))
            _ok(http.post(f"{API}/simulator/network/true"))

        config = schemathesis.Config.from_dict({"generation": {"allow-x00": world.allow_nul}})
        schema = schemathesis.openapi.from_dict(spec, config=config)
        operations = [result.ok() for result in schema.get_all_operations()]
        keys = {(op.method.upper(), op.path) for op in operations}
        assert keys >= NOT_FUZZED | set(DESTRUCTIVE), "an exception names no operation"
        order = {key: i for i, key in enumerate(DESTRUCTIVE)}
        operations.sort(key=lambda op: order.get((op.method.upper(), op.path), -1))
        failures: list[str] = []
        fuzzed = 0
        for operation in operations:
            key = (operation.method.upper(), operation.path)
            if key in NOT_FUZZED:
                continue
            failures += _fuzz(world, operation, reset_network if key in NETWORK_WIDE else None)
            fuzzed += 1
    assert failures == [], "\n\n".join(failures)
    assert fuzzed == len(keys) - len(NOT_FUZZED)
