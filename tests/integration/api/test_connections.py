"""Connections end to end through the API on the simulator, with a controlled clock."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime

import httpx

from tests.conftest import Server, eventually, running_server
from tests.integration.api.helpers import API, create_connection, link, status_of, wait_state
from zapgate.config import Settings
from zapgate.util.clock import ManualClock


async def test_create_list_get_update(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    first = await create_connection(client, admin, "Loja", label="vendas")
    assert first["state"] == "idle"
    assert first["is_primary"] is True  # the first connection of an organization
    assert first["label"] == "vendas"
    second = await create_connection(client, admin, "Suporte", is_primary=True)
    assert second["is_primary"] is True
    refreshed = (await client.get(f"{API}/connections/{first['id']}", headers=admin)).json()
    assert refreshed["is_primary"] is False

    listed = (await client.get(f"{API}/connections?q=sup", headers=admin)).json()
    assert [c["name"] for c in listed["items"]] == ["Suporte"]
    for q in ("%", "_"):  # literal characters, not wildcards
        none = await client.get(f"{API}/connections", headers=admin, params={"q": q})
        assert none.json()["items"] == [], q
    by_state = (await client.get(f"{API}/connections?state=idle", headers=admin)).json()
    assert len(by_state["items"]) == 2

    patched = await client.patch(
        f"{API}/connections/{first['id']}",
        headers=admin,
        json={"name": "Loja Centro", "label": None, "rate_limit_per_minute": 20},
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Loja Centro"
    assert patched.json()["label"] is None
    assert patched.json()["rate_limit_per_minute"] == 20

    status = await status_of(client, admin, first["id"])
    assert status["state"] == "idle"
    assert set(status) >= {
        "state",
        "phone",
        "push_name",
        "connected_at",
        "last_seen_at",
        "error_code",
        "error_message",
        "attempt",
        "next_retry_at",
    }


async def test_qr_link_to_ready(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    conn = await create_connection(client, admin)
    cid = conn["id"]
    no_qr = await client.get(f"{API}/connections/{cid}/qr", headers=admin)
    assert no_qr.status_code == 404
    assert no_qr.json()["error"]["code"] == "qr_not_available"

    start = await client.post(f"{API}/connections/{cid}/start", headers=admin)
    assert start.status_code == 202
    await wait_state(client, admin, cid, "qr_ready")
    qr = (await client.get(f"{API}/connections/{cid}/qr", headers=admin)).json()
    assert qr["code"].startswith("2@")
    assert qr["image"].startswith("data:image/svg+xml;base64,")
    assert b"<svg" in base64.b64decode(qr["image"].split(",", 1)[1])
    png = await client.get(f"{API}/connections/{cid}/qr?format=png", headers=admin)
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = await client.get(f"{API}/connections/{cid}/qr?format=svg", headers=admin)
    assert svg.headers["content-type"].startswith("image/svg+xml")

    ready = await link(client, admin, cid, clock, phone="+55 (11) 99999-0001")
    assert ready["phone"] == "5511999990001"
    assert ready["push_name"] == "Barbearia"
    assert ready["connected_at"] is not None
    assert ready["error_code"] is None

    log = (await client.get(f"{API}/connections/{cid}/events", headers=admin)).json()["items"]
    kinds = [e["kind"] for e in log]
    assert kinds[0] == "connected"  # newest first
    assert {"starting", "qr", "paired", "connected"} <= set(kinds)


async def test_qr_rotation_and_timeout(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = (await create_connection(client, admin))["id"]
    await client.post(f"{API}/connections/{cid}/start", headers=admin)
    await wait_state(client, admin, cid, "qr_ready")

    async def qr_number(index: int) -> dict[str, object]:
        """The QR once the runner has taken in code ``index`` (it arrives asynchronously)."""
        body: dict[str, object] = {}

        async def arrived() -> bool:
            nonlocal body
            response = await client.get(f"{API}/connections/{cid}/qr", headers=admin)
            body = response.json() if response.status_code == 200 else {}
            return body.get("index") == index

        await eventually(arrived, what=f"QR code {index}")
        return body

    codes = [(await qr_number(1))["code"]]
    await clock.advance(60)
    codes.append((await qr_number(2))["code"])
    for index in range(3, 7):
        await clock.advance(20)
        codes.append((await qr_number(index))["code"])
    assert len(set(codes)) == 6
    await clock.advance(20)
    status = await wait_state(client, admin, cid, "disconnected")
    assert status["error_code"] == "qr_timeout"
    expired = await client.get(f"{API}/connections/{cid}/qr", headers=admin)
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == "qr_expired"


async def test_pairing_code_path(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = (await create_connection(client, admin))["id"]
    bad = await client.post(
        f"{API}/connections/{cid}/pairing-code", headers=admin, json={"phone": "12ab"}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_phone"

    issued = await client.post(
        f"{API}/connections/{cid}/pairing-code", headers=admin, json={"phone": "5511988887777"}
    )
    assert issued.status_code == 200, issued.text
    code = issued.json()["code"]
    assert len(code) == 9
    assert code[4] == "-"
    await wait_state(client, admin, cid, "pairing_code_ready")
    typed = await client.post(
        f"{API}/simulator/connections/{cid}/enter-pairing-code", headers=admin, json={"code": code}
    )
    assert typed.status_code == 204, typed.text
    await wait_state(client, admin, cid, "authenticated")
    await clock.advance(2)
    ready = await wait_state(client, admin, cid, "ready")
    assert ready["phone"] == "5511988887777"


async def test_drop_reconnects_with_backoff(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = (await create_connection(client, admin))["id"]
    await link(client, admin, cid, clock)
    await client.post(f"{API}/simulator/network/false", headers=admin)
    await client.post(f"{API}/simulator/connections/{cid}/drop", headers=admin)
    first = await wait_state(client, admin, cid, "reconnecting")
    assert first["attempt"] == 1
    assert first["next_retry_at"] is not None
    delays = []
    for attempt in (2, 3):
        delay = await _until_retry(client, admin, cid, clock)
        delays.append(delay)
        await clock.advance(delay)

        async def at_attempt(n: int = attempt) -> bool:
            return (await status_of(client, admin, cid))["attempt"] == n

        await eventually(at_attempt, what=f"attempt {attempt}")
    status = await status_of(client, admin, cid)
    assert status["state"] == "reconnecting"
    assert status["error_message"]  # the real reason is shown
    assert delays[1] > delays[0]  # exponential
    await client.post(f"{API}/simulator/network/true", headers=admin)
    await clock.advance(await _until_retry(client, admin, cid, clock))
    ready = await wait_state(client, admin, cid, "ready")
    assert ready["attempt"] == 0
    assert ready["next_retry_at"] is None


async def test_logout_from_phone_and_ban(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    a = (await create_connection(client, admin, "A"))["id"]
    b = (await create_connection(client, admin, "B"))["id"]
    await link(client, admin, a, clock, phone="5511999990001")
    await link(client, admin, b, clock, phone="5511999990002")
    await client.post(f"{API}/simulator/connections/{a}/logout-from-phone", headers=admin)
    await wait_state(client, admin, a, "logged_out")
    await client.post(f"{API}/simulator/connections/{b}/ban", headers=admin, json={"seconds": 3600})
    banned = await wait_state(client, admin, b, "error")
    assert banned["error_code"] == "temporary_ban"
    await clock.advance(600)
    # Neither retries on its own.
    assert (await status_of(client, admin, a))["state"] == "logged_out"
    assert (await status_of(client, admin, b))["state"] == "error"


async def test_stop_start_and_api_logout(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = (await create_connection(client, admin))["id"]
    await link(client, admin, cid, clock)
    stopped = await client.post(f"{API}/connections/{cid}/stop", headers=admin)
    assert stopped.status_code == 202
    assert stopped.json()["state"] == "disconnected"
    await client.post(f"{API}/connections/{cid}/start", headers=admin)
    await wait_state(client, admin, cid, "ready")  # resumed without a new scan
    reconnect = await client.post(f"{API}/connections/{cid}/reconnect", headers=admin)
    assert reconnect.status_code == 202
    await wait_state(client, admin, cid, "ready")
    out = await client.post(f"{API}/connections/{cid}/logout", headers=admin)
    assert out.json()["state"] == "logged_out"
    again = await client.post(f"{API}/connections/{cid}/logout", headers=admin)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_linked"
    await client.post(f"{API}/connections/{cid}/start", headers=admin)
    await wait_state(client, admin, cid, "qr_ready")  # a new QR is needed


async def test_restart_restores_linked_connections(settings: Settings, clock: ManualClock) -> None:
    async with running_server(settings, clock) as srv:
        headers = await _login(srv)
        linked = (await create_connection(srv.http, headers, "Linked"))["id"]
        waiting = (await create_connection(srv.http, headers, "Waiting"))["id"]
        stopped = (await create_connection(srv.http, headers, "Stopped"))["id"]
        await link(srv.http, headers, linked, clock, phone="5511999990001")
        await link(srv.http, headers, stopped, clock, phone="5511999990003")
        await srv.http.post(f"{API}/connections/{stopped}/stop", headers=headers)
        await srv.http.post(f"{API}/connections/{waiting}/start", headers=headers)
        await wait_state(srv.http, headers, waiting, "qr_ready")

    restarted = ManualClock(clock.now())
    async with running_server(settings, restarted) as srv:
        headers = await _login(srv)
        await restarted.advance(settings.restore_jitter + 1)
        await restarted.advance(2)
        ready = await wait_state(srv.http, headers, linked, "ready")
        assert ready["phone"] == "5511999990001"
        assert (await status_of(srv.http, headers, stopped))["state"] == "disconnected"
        lost = await status_of(srv.http, headers, waiting)
        assert lost["state"] == "disconnected"
        assert lost["error_code"] == "server_restarted"


async def test_health_check_repairs_silent_connection(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    http = server.http
    cid = (await create_connection(http, admin))["id"]
    await link(http, admin, cid, clock)
    await http.post(f"{API}/simulator/connections/{cid}/silence", headers=admin)
    assert (await status_of(http, admin, cid))["state"] == "ready"  # still claims ready
    # Exactly up to the health check, no further: time past it would also run the
    # reconnect it schedules, and the state would be back to ready already.
    supervisor = server.runtime.supervisor
    checks = supervisor.health_checks
    while supervisor.health_checks == checks:
        step = clock.next_deadline()
        assert step is not None
        await clock.advance(step)

        # A pass that began finishes before time moves on: its repair schedules the
        # retry, and moving past that would reconnect before the state is seen.
        async def settled() -> bool:
            return not supervisor.health_checking

        await eventually(settled, what="the health check pass")
    await wait_state(http, admin, cid, "reconnecting")
    await clock.advance(await _until_retry(http, admin, cid, clock))
    await clock.advance(2)
    await wait_state(http, admin, cid, "ready")


async def test_concurrent_starts_open_one_session(server: Server, admin: dict[str, str]) -> None:
    http = server.http
    cid = (await create_connection(http, admin))["id"]
    answers = await asyncio.gather(
        *(http.post(f"{API}/connections/{cid}/start", headers=admin) for _ in range(5))
    )
    assert all(a.status_code == 202 for a in answers)
    await wait_state(http, admin, cid, "qr_ready")
    log = (await http.get(f"{API}/connections/{cid}/events", headers=admin)).json()["items"]
    assert [e["kind"] for e in log].count("starting") == 1
    assert [e["kind"] for e in log].count("qr") == 1


async def test_delete_mid_qr_and_unknown_ids(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    http = server.http
    cid = (await create_connection(http, admin))["id"]
    await http.post(f"{API}/connections/{cid}/start", headers=admin)
    await wait_state(http, admin, cid, "qr_ready")
    deleted = await http.delete(f"{API}/connections/{cid}", headers=admin)
    assert deleted.status_code == 204
    await clock.advance(200)  # the QR rotation would have gone on
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/start"),
        ("POST", "/stop"),
        ("POST", "/reconnect"),
        ("POST", "/logout"),
        ("GET", "/qr"),
        ("GET", "/status"),
        ("GET", "/events"),
        ("GET", "/stats"),
    ]:
        response = await http.request(
            method,
            f"{API}/connections/{cid}{path}",
            headers=admin,
            json={} if method == "PATCH" else None,
        )
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "connection_not_found"
    assert server.runtime.engine.background_tasks == 0


async def test_stats(client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock) -> None:
    cid = (await create_connection(client, admin))["id"]
    await create_connection(client, admin, "Other")
    await link(client, admin, cid, clock)
    stats = (await client.get(f"{API}/connections/{cid}/stats", headers=admin)).json()
    assert stats["messages_sent"] == 0
    assert stats["connected_since"] is not None
    org = (await client.get(f"{API}/stats", headers=admin)).json()
    assert org["connections"]["total"] == 2
    assert org["connections"]["by_state"]["ready"] == 1
    assert org["connections"]["by_state"]["idle"] == 1


async def test_connection_limit(settings_factory: object, clock: ManualClock) -> None:
    settings = settings_factory(max_connections_per_org=1)
    async with running_server(settings, clock) as srv:
        headers = await _login(srv)
        await create_connection(srv.http, headers)
        refused = await srv.http.post(f"{API}/connections", headers=headers, json={"name": "x"})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "connection_limit"


async def _until_retry(
    http: httpx.AsyncClient, headers: dict[str, str], cid: str, clock: ManualClock
) -> float:
    """Seconds of clock time until the scheduled retry, read from the public status."""
    status = await status_of(http, headers, cid)
    assert status["next_retry_at"] is not None, status
    due = datetime.fromisoformat(status["next_retry_at"])
    return max(0.0, (due - clock.now()).total_seconds()) + 0.001


async def _login(srv: Server) -> dict[str, str]:
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login

    return await login(srv.http, ADMIN_EMAIL, ADMIN_PASSWORD)
