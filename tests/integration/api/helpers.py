"""Small helpers for API tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import eventually

API = "/api/v1"


async def create_connection(
    http: httpx.AsyncClient, headers: dict[str, str], name: str = "Shop", **extra: Any
) -> dict[str, Any]:
    response = await http.post(f"{API}/connections", headers=headers, json={"name": name, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def status_of(http: httpx.AsyncClient, headers: dict[str, str], cid: str) -> dict[str, Any]:
    response = await http.get(f"{API}/connections/{cid}/status", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_state(
    http: httpx.AsyncClient, headers: dict[str, str], cid: str, state: str, timeout: float = 10
) -> dict[str, Any]:
    last: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal last
        last = await status_of(http, headers, cid)
        return last["state"] == state

    try:
        await eventually(reached, timeout=timeout, what=f"state {state}")
    except AssertionError as exc:
        raise AssertionError(f"wanted {state}, last status {last}") from exc
    return last


async def link(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    cid: str,
    clock: Any,
    phone: str = "5511999990001",
    push_name: str = "Barbearia",
) -> dict[str, Any]:
    """Start a connection, scan its QR with the simulated phone and wait for ``ready``."""
    assert (await http.post(f"{API}/connections/{cid}/start", headers=headers)).status_code == 202
    await wait_state(http, headers, cid, "qr_ready")
    scan = await http.post(
        f"{API}/simulator/connections/{cid}/scan",
        headers=headers,
        json={"phone": phone, "push_name": push_name},
    )
    assert scan.status_code == 204, scan.text
    await wait_state(http, headers, cid, "authenticated")
    await clock.advance(2)
    return await wait_state(http, headers, cid, "ready")
