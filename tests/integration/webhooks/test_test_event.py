"""``webhook.test``: a real, signed delivery to the one webhook asked, through the pipeline."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import eventually
from tests.integration.api.helpers import API
from tests.integration.servers import Receiver, receiving
from tests.integration.webhooks.test_delivery import add_webhook, deliveries
from zapgate.config import Settings


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(webhook_allow_private=True)


async def test_a_test_event_reaches_only_the_webhook_asked(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    async with receiving(Receiver()) as asked, receiving(Receiver()) as other:
        # Subscribed to something else entirely: a test arrives all the same.
        hook = await add_webhook(client, admin, asked.url, events=["message.received"])
        await add_webhook(client, admin, other.url)  # every event, but not this test
        sent = await client.post(f"{API}/webhooks/{hook['id']}/test", headers=admin)
        assert sent.status_code == 202, sent.text
        assert sent.json()["type"] == "webhook.test"

        async def got() -> bool:
            return len(asked.requests) == 1

        await eventually(got, what="the test delivery")
        request = asked.requests[0]
        assert request.headers["x-zapgate-event"] == "webhook.test"
        assert request.headers.get("x-zapgate-signature")
        assert request.envelope["data"]["webhook_id"] == hook["id"]
        assert request.envelope["data"] == {"webhook_id": hook["id"], "test": True}
        # Managers read the event log; the URL (a token in it, often) is for admins only.
        assert "url" not in request.envelope["data"]
        log = await deliveries(client, admin, hook["id"])
        assert [d["event_type"] for d in log] == ["webhook.test"]
        assert other.requests == [] or all(
            r.headers["x-zapgate-event"] != "webhook.test" for r in other.requests
        )


async def test_a_disabled_or_unknown_webhook_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    hook = await add_webhook(client, admin, "http://127.0.0.1:9/hook")
    await client.patch(f"{API}/webhooks/{hook['id']}", headers=admin, json={"enabled": False})
    refused = await client.post(f"{API}/webhooks/{hook['id']}/test", headers=admin)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "webhook_disabled"
    missing = await client.post(f"{API}/webhooks/nope/test", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "webhook_not_found"
