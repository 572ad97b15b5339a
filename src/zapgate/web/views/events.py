"""``/app/events``: the panel's live stream, authenticated by the session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from zapgate.web.context import SignedIn
from zapgate.web.live import stream
from zapgate.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)


@router.get("/app/events")
async def events(
    v: SignedIn, since: Annotated[int | None, Query(ge=0)] = None
) -> StreamingResponse:
    resume = v.request.headers.get("last-event-id", "")
    start = int(resume) if resume.isdigit() else since
    # Only this organization's events, and only while the session holds.
    follower = v.runtime.events.open_signals(v.principal, v.session(), since=start)
    return StreamingResponse(
        stream(follower, v.runtime.clock),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
