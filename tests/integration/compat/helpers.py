"""Helpers for the Evolution API layer's tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import eventually
from tests.integration.api.helpers import wait_state
from zapgate.util.clock import ManualClock

EVO = "/evolution"


async def org_key(http: httpx.AsyncClient, admin: dict[str, str], name: str = "evo") -> str:
    response = await http.post("/api/v1/api-keys", headers=admin, json={"name": name})
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def create_instance(
    http: httpx.AsyncClient, key: str, name: str, **extra: Any
) -> dict[str, Any]:
    response = await http.post(
        f"{EVO}/instance/create", headers={"apikey": key}, json={"instanceName": name, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def link_instance(
    http: httpx.AsyncClient,
    clock: ManualClock,
    key: str,
    admin: dict[str, str],
    name: str,
    instance_id: str,
    phone: str = "5511999990001",
) -> None:
    """Connect by QR and let the simulated phone scan it; wait for ``open``."""
    connect = await http.get(f"{EVO}/instance/connect/{name}", headers={"apikey": key})
    assert connect.status_code == 200, connect.text
    assert connect.json()["code"], connect.json()
    scan = await http.post(
        f"/api/v1/simulator/connections/{instance_id}/scan", headers=admin, json={"phone": phone}
    )
    assert scan.status_code == 204, scan.text
    await wait_state(http, admin, instance_id, "authenticated")
    await clock.advance(2)

    async def opened() -> bool:
        state = await http.get(f"{EVO}/instance/connectionState/{name}", headers={"apikey": key})
        return bool(state.json()["instance"]["state"] == "open")

    await eventually(opened, what="instance open")


async def linked_instance(
    http: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock, name: str = "loja"
) -> tuple[dict[str, str], str]:
    """A linked instance made with a fresh organization key: its own token's headers
    (``apikey``) and its id."""
    key = await org_key(http, admin)
    created = await create_instance(http, key, name)
    instance_id: str = created["instance"]["instanceId"]
    await link_instance(http, clock, key, admin, name, instance_id)
    return {"apikey": created["hash"]}, instance_id
