"""``/api/docs``: Swagger UI served from the package, so it works on a closed network.

FastAPI's own docs page loads Swagger UI and its favicon from a CDN: blank where the
server has no way out, and a third party learns who reads the docs. The files are
vendored in ``api/static/swagger-ui/`` (swagger-ui-dist, Apache-2.0; its licence and
notice beside them) and served under ``/api/docs/assets``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/assets"
SWAGGER_UI_VERSION = "5.36.0"
"""The vendored swagger-ui-dist; it is in the asset URLs, so browsers fetch a new one."""

# The online validator badge would send the document's URL to validator.swagger.io.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _asset(root: str, name: str) -> str:
    return f"{root}{ASSETS_PATH}/{name}?v={SWAGGER_UI_VERSION}"


def content_security_policy(html: str) -> str:
    """Scripts from this origin and the page's own inline start-up script (by its hash);
    Swagger UI sets inline styles and draws icons as ``data:`` images."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    )


def install_docs(app: FastAPI, *, openapi_url: str) -> None:
    """Serve Swagger UI at ``DOCS_PATH`` for the document at ``openapi_url``."""

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=_asset(root, "swagger-ui-bundle.js"),
            swagger_css_url=_asset(root, "swagger-ui.css"),
            swagger_favicon_url=_asset(root, "favicon-32x32.png"),
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
        html = bytes(page.body).decode()
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": content_security_policy(html),
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin",
            },
        )

    app.add_route(DOCS_PATH, swagger_ui, include_in_schema=False)
    assets = resources.files("zapgate.api").joinpath("static", "swagger-ui")
    app.mount(ASSETS_PATH, StaticFiles(directory=str(assets)), name="swagger-ui")
