"""Settings → Exports: event exports to RabbitMQ and NATS JetStream, their delivery log
and manual redelivery.

Everything goes through ``runtime.exports`` (admin and above, tenancy checked there).
The broker URL is shown only masked (the row holds nothing else); a form answered with
an error is shown again with what was typed, except a URL that carries credentials:
those are never sent back to the browser, so it is asked for again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Response

from zapgate.domain.errors import DomainError
from zapgate.util.urls import userinfo
from zapgate.web.context import SignedIn, Visitor
from zapgate.web.render import go, html_response, toast_header
from zapgate.web.routing import WebRoute, error_text
from zapgate.web.states import DELIVERY_TONE
from zapgate.web.views.settings import settings_page
from zapgate.web.views.webhooks import ALL, EVENT_TYPES, Events, connection_names

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.webhooks import WebhookDeliveryRow, WebhookRow

router = APIRouter(route_class=WebRoute)

LIST_URL = "/app/settings/exports"
KINDS = ("rabbitmq", "nats")
_EXPORTS = 200
_DELIVERIES = 50

Kind = Annotated[Literal["rabbitmq", "nats"], Form()]
Url = Annotated[str, Form(max_length=2000)]
Name = Annotated[str, Form(max_length=255)]
Prefix = Annotated[str, Form(max_length=100)]
ConnectionId = Annotated[str, Form(max_length=64)]
Description = Annotated[str, Form(max_length=500)]
Checkbox = Annotated[bool, Form()]
"""Sent when ticked, absent (False) when not."""
Back = Annotated[Literal["list", "detail"], Form()]

# Which form field a service error is about, so it is shown beside that field.
_FIELD_OF = {
    "invalid_url": "url",
    "url_not_allowed": "url",
    "credentials_too_long": "url",
    "exchange_required": "exchange",
    "invalid_exchange": "exchange",
    "stream_required": "stream",
    "invalid_stream": "stream",
    "invalid_subject_prefix": "subject_prefix",
    "invalid_kind": "kind",
    "unknown_event_type": "events",
    "connection_not_found": "connection_id",
}

# Fields with a control to focus, in page order; any other error focuses the notice.
_FOCUS_ORDER = ("kind", "url", "exchange", "stream", "subject_prefix", "connection_id")


@dataclass
class ExportForm:
    """What a form showed or was sent: refilled after an error."""

    kind: str = "rabbitmq"
    url: str = ""
    exchange: str = ""
    stream: str = ""
    subject_prefix: str = ""
    events: list[str] | None = None
    connection_id: str = ""
    description: str = ""
    enabled: bool = True
    url_withheld: bool = False
    """The URL sent carried credentials: not refilled, the person types it again."""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def first_error(self) -> str | None:
        """The field the page focuses (and so scrolls to) when it is shown again."""
        for name in _FOCUS_ORDER:
            if name in self.errors:
                return name
        return "form" if self.errors else None

    @classmethod
    def of(cls, row: WebhookRow) -> ExportForm:
        return cls(
            kind=row.kind,
            exchange=row.exchange or "",
            stream=row.stream or "",
            subject_prefix=row.subject_prefix or "",
            events=list(row.events),
            connection_id=row.connection_id or "",
            description=row.description or "",
            enabled=row.enabled,
        )

    def refused(self, v: Visitor, exc: DomainError) -> ExportForm:
        if userinfo(self.url) is not None:
            self.url, self.url_withheld = "", True
        key = f"exports.error.{exc.code}"
        text = v.t(key) if v.t.has(key) else error_text(v.t, exc.code, exc.message)
        self.errors[_FIELD_OF.get(exc.code, "form")] = text
        return self


def _events(values: list[str] | None) -> list[str] | None:
    """The form's choice: "all events" wins; nothing chosen means all too."""
    chosen = [value for value in values or [] if value]
    if not chosen or ALL in chosen:
        return None
    return chosen


def _common(v: Visitor, names: dict[str, str]) -> dict[str, Any]:
    return {
        "connections": names,
        "all_events": ALL,
        "event_types": EVENT_TYPES,
        "kinds": KINDS,
        "seen": v.runtime.last_event_id(),
    }


async def _exports(v: Visitor) -> list[WebhookRow]:
    return (await v.runtime.exports.find(v.principal, limit=_EXPORTS)).items


async def _list_page(v: Visitor, form: ExportForm, *, status: int = 200) -> Response:
    names = await connection_names(v)
    response = settings_page(
        v, "exports", exports=await _exports(v), form=form, **_common(v, names)
    )
    response.status_code = status
    return response


@router.get("/app/settings/exports")
async def exports(v: SignedIn) -> Response:
    return await _list_page(v, ExportForm())


@router.get("/app/settings/exports/list")
async def export_list(v: SignedIn) -> Response:
    names = await connection_names(v)
    return html_response(
        v, "partials/export_list.html", exports=await _exports(v), **_common(v, names)
    )


@router.post("/app/settings/exports")
async def create_export(
    v: SignedIn,
    kind: Kind,
    url: Url,
    exchange: Name = "",
    stream: Name = "",
    subject_prefix: Prefix = "",
    events: Events = None,
    connection_id: ConnectionId = "",
    description: Description = "",
    enabled: Checkbox = False,
) -> Response:
    form = ExportForm(
        kind=kind,
        url=url,
        exchange=exchange,
        stream=stream,
        subject_prefix=subject_prefix,
        events=_events(events),
        connection_id=connection_id,
        description=description,
        enabled=enabled,
    )
    try:
        await v.runtime.exports.create(
            v.principal,
            kind=kind,
            url=url,
            exchange=exchange.strip() or None,
            stream=stream.strip() or None,
            subject_prefix=subject_prefix.strip() or None,
            events=form.events,
            connection_id=connection_id or None,
            enabled=enabled,
            description=description.strip() or None,
        )
    except DomainError as exc:
        if exc.status != 422 and exc.code != "connection_not_found":
            raise
        return await _list_page(v, form.refused(v, exc), status=422)
    return go(v, LIST_URL)


async def _detail_page(
    v: Visitor, export_id: str, form: ExportForm | None, *, cursor: str = "", status: int = 200
) -> Response:
    export = await v.runtime.exports.get(v.principal, export_id)
    log = await v.runtime.exports.deliveries(
        v.principal, export_id, limit=_DELIVERIES, cursor=cursor or None
    )
    response = settings_page(
        v,
        "exports",
        template="pages/settings_export.html",
        export=export,
        form=form or ExportForm.of(export),
        deliveries=log.items,
        next_cursor=log.next_cursor,
        paged=bool(cursor),
        tone=DELIVERY_TONE,
        **_common(v, await connection_names(v)),
    )
    response.status_code = status
    return response


@router.get("/app/settings/exports/{export_id}")
async def export_detail(
    v: SignedIn, export_id: str, cursor: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    return await _detail_page(v, export_id, None, cursor=cursor)


@router.post("/app/settings/exports/{export_id}")
async def update_export(
    v: SignedIn,
    export_id: str,
    url: Url = "",
    exchange: Name = "",
    stream: Name = "",
    subject_prefix: Prefix = "",
    events: Events = None,
    connection_id: ConnectionId = "",
    description: Description = "",
    enabled: Checkbox = False,
) -> Response:
    current = await v.runtime.exports.get(v.principal, export_id)
    form = ExportForm(
        kind=current.kind,
        url=url,
        exchange=exchange,
        stream=stream,
        subject_prefix=subject_prefix,
        events=_events(events),
        connection_id=connection_id,
        description=description,
        enabled=enabled,
    )
    # A blank URL keeps the stored one (and its credentials, which are never shown).
    changes: dict[str, Any] = {"url": url.strip()} if url.strip() else {}
    if current.kind == "rabbitmq":
        changes["exchange"] = exchange.strip() or None
    else:
        changes["stream"] = stream.strip() or None
    try:
        await v.runtime.exports.update(
            v.principal,
            export_id,
            subject_prefix=subject_prefix.strip() or None,
            events=form.events,
            connection_id=connection_id or None,
            enabled=enabled,
            description=description.strip() or None,
            **changes,
        )
    except DomainError as exc:
        if exc.status != 422 and exc.code != "connection_not_found":
            raise
        return await _detail_page(v, export_id, form.refused(v, exc), status=422)
    return go(v, f"{LIST_URL}/{export_id}")


@router.post("/app/settings/exports/{export_id}/enabled")
async def set_enabled(
    v: SignedIn, export_id: str, enabled: Annotated[bool, Form()], back: Back = "list"
) -> Response:
    await v.runtime.exports.update(v.principal, export_id, enabled=enabled)
    return go(v, LIST_URL if back == "list" else f"{LIST_URL}/{export_id}")


@router.post("/app/settings/exports/{export_id}/delete")
async def delete_export(v: SignedIn, export_id: str) -> Response:
    await v.runtime.exports.delete(v.principal, export_id)
    return go(v, LIST_URL)


def _row(v: Visitor, export_id: str, delivery: WebhookDeliveryRow, **headers: str) -> Response:
    return html_response(
        v,
        "partials/export_delivery.html",
        export_id=export_id,
        d=delivery,
        tone=DELIVERY_TONE,
        headers=headers,
    )


@router.post("/app/settings/exports/{export_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(v: SignedIn, export_id: str, delivery_id: str) -> Response:
    row = await v.runtime.exports.redeliver(v.principal, export_id, delivery_id)
    if not v.is_htmx:
        return go(v, f"{LIST_URL}/{export_id}")
    return _row(v, export_id, row, **toast_header(v.t("webhooks.redelivering")))
