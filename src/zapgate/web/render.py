"""Jinja2 rendering (autoescaped, strict) and the headers every panel response carries."""

from __future__ import annotations

import hashlib
import json
import string
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from fastapi import Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from zapgate.domain.chats import ChatStatus
from zapgate.domain.messages import Direction
from zapgate.web.chart import tick_percent
from zapgate.web.formatting import whatsapp
from zapgate.web.people import human_phone
from zapgate.web.reasons import log_detail, plain_reason
from zapgate.web.session import PRE_COOKIE, set_cookie
from zapgate.web.states import CHAT_TONE, STATE_STYLE, state_tone

# Scripts only from our own origin: a message that slipped through escaping still could
# not run inline code. Styles allow inline attributes for the server-drawn SVG chart.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _digits(value: object) -> str:
    """Only the ASCII digits of a phone number as someone typed it (a ``tel:`` link)."""
    return "".join(ch for ch in value if ch in string.digits) if isinstance(value, str) else ""


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _utc(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _utc_seconds(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def field_text(value: Any) -> str:
    """A contact's custom field value as the panel shows and edits it (text)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@cache
def static_version() -> str:
    """A digest of the static files: their URLs change when they do (long caching)."""
    digest = hashlib.sha256()
    root = resources.files("zapgate.web").joinpath("static")
    for name in ("app.css", "app.js", "theme.js", "vendor/htmx.min.js"):
        digest.update(root.joinpath(name).read_bytes())
    return digest.hexdigest()[:12]


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("zapgate.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["phone"] = human_phone
    env.filters["digits"] = _digits
    env.filters["iso"] = _iso
    env.filters["utc"] = _utc
    env.filters["utc_seconds"] = _utc_seconds
    env.filters["field_text"] = field_text
    env.filters["whatsapp"] = whatsapp
    env.globals["state_tone"] = state_tone
    env.globals["tick_percent"] = tick_percent
    env.globals["plain_reason"] = plain_reason
    env.globals["log_detail"] = log_detail
    env.globals["STATE_STYLE"] = STATE_STYLE
    env.globals["CHAT_TONE"] = CHAT_TONE
    env.globals["ChatStatus"] = ChatStatus
    env.globals["Direction"] = Direction
    env.globals["static"] = lambda path: f"/static/{path}?v={static_version()}"
    return env


def render_html(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def html_response(
    visitor: Any,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    body = render_html(template, v=visitor, t=visitor.t, **context)
    response = HTMLResponse(
        body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
    )
    if visitor.new_pre:
        set_cookie(visitor.request, response, PRE_COOKIE, visitor.new_pre, max_age=7 * 86400)
    return response


def toast_header(message: str, tone: str = "ok") -> dict[str, str]:
    """An ``HX-Trigger`` that makes the page show a short notice (see app.js)."""
    return {"HX-Trigger": json.dumps({"zg-toast": {"message": message, "tone": tone}})}


def go(visitor: Any, url: str) -> Response:
    """After a successful form: htmx navigates with ``HX-Location``, plain forms with 303."""
    if visitor.is_htmx:
        return Response(status_code=200, headers={"HX-Location": url, "HX-Reswap": "none"})
    return RedirectResponse(url, status_code=303)
