"""QR code images for the panel and the API (segno writes SVG and PNG without Pillow)."""

from __future__ import annotations

import base64
import io

import segno


def qr_svg(code: str) -> bytes:
    out = io.BytesIO()
    segno.make(code, error="l").save(out, kind="svg", scale=6, border=2, xmldecl=False)
    return out.getvalue()


def qr_png(code: str) -> bytes:
    out = io.BytesIO()
    segno.make(code, error="l").save(out, kind="png", scale=6, border=2)
    return out.getvalue()


def data_url(code: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(code)).decode()
