"""The QR modal: live QR with countdown, pairing code, and the simulator's demo scan."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Response

from zapgate.domain.errors import Gone, NotFound
from zapgate.services.qr import data_url
from zapgate.web.context import SignedIn, Visitor
from zapgate.web.render import html_response
from zapgate.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)


async def modal_context(
    v: Visitor, connection_id: str, *, pairing: str = "", pairing_until: str = ""
) -> dict[str, Any]:
    seen = v.runtime.last_event_id()
    row = await v.runtime.connections.get(v.principal, connection_id)
    qr: dict[str, Any] | None = None
    expired = False
    if row.state == "qr_ready":
        try:
            code = await v.runtime.connections.qr(v.principal, connection_id)
        except Gone:
            expired = True
        except NotFound:
            qr = None
        else:
            qr = {
                "image": data_url(code.code),
                "expires_at": code.expires_at,
                "remaining": max(0, int((code.expires_at - v.runtime.clock.now()).total_seconds())),
                "index": code.index,
                "total": code.total,
            }
    until: datetime | None = None
    if pairing and pairing_until:
        try:
            until = datetime.fromisoformat(pairing_until)
        except ValueError:
            until = None
    return {
        "c": row,
        "qr": qr,
        "expired": expired or row.error_code == "qr_timeout",
        "pairing": pairing if row.state == "pairing_code_ready" else "",
        "pairing_until": until,
        "simulator": v.runtime.simulation is not None,
        "now": v.runtime.clock.now(),
        "seen": seen,
    }


@router.get("/app/connections/{connection_id}/qr")
async def qr_modal(
    v: SignedIn,
    connection_id: str,
    pairing: Annotated[str, Query(max_length=16)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    context = await modal_context(v, connection_id, pairing=pairing, pairing_until=until)
    return html_response(v, "partials/qr_modal.html", **context)


@router.post("/app/connections/{connection_id}/connect")
async def connect(v: SignedIn, connection_id: str) -> Response:
    """Start linking (or resume) and open the modal that follows it."""
    await v.runtime.connections.start(v.principal, connection_id)
    return html_response(v, "partials/qr_modal.html", **await modal_context(v, connection_id))


@router.post("/app/connections/{connection_id}/pairing-code")
async def pairing_code(
    v: SignedIn, connection_id: str, phone: Annotated[str, Form(max_length=40)]
) -> Response:
    code = await v.runtime.connections.pairing_code(v.principal, connection_id, phone=phone)
    context = await modal_context(
        v, connection_id, pairing=code.code, pairing_until=code.expires_at.isoformat()
    )
    return html_response(v, "partials/qr_modal.html", **context)


@router.post("/app/connections/{connection_id}/simulate-scan")
async def simulate_scan(v: SignedIn, connection_id: str) -> Response:
    """Simulator only: a virtual phone scans the QR so a demo links without a phone."""
    simulation = v.runtime.simulation
    if simulation is None:
        raise NotFound("the simulator is not the engine of this server", code="not_found")
    # A fresh number each time: the simulated network keeps one account per phone.
    phone = "55119" + "".join(secrets.choice("123456789") for _ in range(8))
    await simulation.scan(v.principal, connection_id, phone=phone, push_name=v.me.org.name)
    return Response(status_code=204)
