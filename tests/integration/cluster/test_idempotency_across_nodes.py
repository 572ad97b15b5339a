"""An Idempotency-Key holds across nodes: the same send given to two nodes at once (a
client retrying through a load balancer) is one message, whichever node answers."""

from __future__ import annotations

import asyncio

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, login
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import ready_connection, wait_status
from zapgate.util.clock import ManualClock


async def test_one_key_sent_to_two_nodes_at_once_is_one_message(
    nodes: tuple[Server, Server],
) -> None:
    a, b = nodes
    clock_a: ManualClock = a.runtime.clock  # type: ignore[assignment]
    ha = await login(a.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    hb = await login(b.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    cid = await ready_connection(a, ha, clock_a)
    body = {"connection_id": cid, "to": "+5511977770001", "text": "pedido 42"}
    accepted: set[str] = set()
    for round_ in range(5):
        key = {"Idempotency-Key": f"order-42-{round_}"}
        answers = await asyncio.gather(
            a.http.post(f"{API}/messages", headers=ha | key, json=body),
            b.http.post(f"{API}/messages", headers=hb | key, json=body),
        )
        assert [r.status_code for r in answers] in ([202, 202], [202, 200], [200, 202]), [
            r.text for r in answers
        ]
        assert len({r.json()["id"] for r in answers}) == 1
        accepted.add(answers[0].json()["id"])
        # The same key with another request is refused on either node.
        other = await b.http.post(
            f"{API}/messages", headers=hb | key, json=body | {"text": "pedido 43"}
        )
        assert other.status_code == 409, other.text
        assert other.json()["error"]["code"] == "idempotency_key_reused"
    for mid in accepted:  # each sent once, by the owner
        await wait_status(a, ha, clock_a, mid, "sent", "delivered", "read")
