"""``/app/events``: the panel's live stream, authenticated by the session cookie."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from zapgate.web.context import SignedIn
from zapgate.web.live import closing_signal, stream
from zapgate.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)


@router.get("/app/events")
async def events(v: SignedIn) -> StreamingResponse:
    organization_id = v.principal.organization_id
    # Only this organization's events ever enter the queue.
    sub = v.runtime.bus.subscribe(lambda e: e.organization_id == organization_id, maxsize=500)
    return StreamingResponse(
        stream(sub, closing_signal(v.request.app)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
