"""Settings → Webhooks → one webhook's delivery log: the live table, one delivery's
request body and attempts, and "send a test event" (``webhook.test``)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from zapgate.web.context import SignedIn, Visitor
from zapgate.web.render import html_response
from zapgate.web.routing import WebRoute
from zapgate.web.states import DELIVERY_TONE

router = APIRouter(route_class=WebRoute)
_DELIVERIES = 50


async def _payload(v: Visitor, event_id: int) -> str:
    """The event's envelope as zapgate sends it (pretty-printed), or "" once the
    event left the log (retention)."""
    page = await v.runtime.events.find(v.principal, since=event_id - 1, limit=1)
    event = page.items[0] if page.items else None
    if event is None or event.id != event_id:
        return ""
    return json.dumps(event.envelope(), indent=2, ensure_ascii=False)


@router.get("/app/settings/webhooks/{webhook_id}/deliveries")
async def deliveries(v: SignedIn, webhook_id: str) -> Response:
    hook = await v.runtime.webhooks.get(v.principal, webhook_id)
    log = await v.runtime.webhooks.deliveries(v.principal, webhook_id, limit=_DELIVERIES)
    return html_response(
        v,
        "partials/webhook_deliveries.html",
        hook=hook,
        deliveries=log.items,
        paged=False,
        tone=DELIVERY_TONE,
        seen=v.runtime.last_event_id(),
    )


@router.get("/app/settings/webhooks/{webhook_id}/deliveries/{delivery_id}")
async def delivery(v: SignedIn, webhook_id: str, delivery_id: str) -> Response:
    detail = await v.runtime.webhooks.delivery(v.principal, webhook_id, delivery_id)
    return html_response(
        v,
        "partials/webhook_delivery_detail.html",
        d=detail.delivery,
        attempts=detail.attempts,
        payload=await _payload(v, detail.delivery.event_id),
        tone=DELIVERY_TONE,
    )


@router.post("/app/settings/webhooks/{webhook_id}/test")
async def send_test(v: SignedIn, webhook_id: str) -> Response:
    await v.runtime.webhooks.send_test(v.principal, webhook_id)
    trigger = {
        "zg-toast": {"message": v.t("webhooks.test_sent"), "tone": "ok"},
        "zg-live": [f"deliveries:{webhook_id}"],
    }
    if not v.is_htmx:
        return Response(
            status_code=303, headers={"Location": f"/app/settings/webhooks/{webhook_id}"}
        )
    return Response(status_code=204, headers={"HX-Trigger": json.dumps(trigger)})
