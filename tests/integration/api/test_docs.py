"""``/api/docs`` works on a closed network: Swagger UI comes from the package, not a CDN."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from zapgate.app import create_app
from zapgate.config import Settings


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # The docs need neither the database nor the runtime: the app is not started.
    settings = Settings(_env_file=None, data_dir=tmp_path, engine="simulator", secret_key="s" * 40)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_docs_reference_no_other_host(http: httpx.AsyncClient) -> None:
    docs = await http.get("/api/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert re.findall(r"(?:https?:)?//[\w.-]+", docs.text) == []
    links = re.findall(r'(?:src|href)="([^"]*)"', docs.text)
    assert len(links) == 3  # script, style sheet, icon
    assert all(link.startswith("/api/docs/assets/") for link in links), links
    assert "url: '/api/v1/openapi.json'" in docs.text
    # No online validator badge: it would send the document's URL to a third party.
    assert '"validatorUrl": null' in docs.text


async def test_docs_assets_are_served(http: httpx.AsyncClient) -> None:
    docs = (await http.get("/api/docs")).text
    kinds = {}
    for link in re.findall(r'(?:src|href)="([^"]*)"', docs):
        asset = await http.get(link)
        assert asset.status_code == 200, link
        kinds[link.split("?")[0].rsplit("/", 1)[1]] = asset.headers["content-type"]
        assert len(asset.content) > 500, link
    assert kinds["swagger-ui-bundle.js"].startswith(("text/javascript", "application/javascript"))
    assert kinds["swagger-ui.css"].startswith("text/css")
    assert kinds["favicon-32x32.png"] == "image/png"
    licence = await http.get("/api/docs/assets/LICENSE.txt")
    assert licence.status_code == 200
    assert "Apache License" in licence.text


async def test_docs_csp_allows_exactly_the_page_and_its_assets(http: httpx.AsyncClient) -> None:
    docs = await http.get("/api/docs")
    policy = {}
    for part in docs.headers["content-security-policy"].split(";"):
        name, _, value = part.strip().partition(" ")
        policy[name] = value
    inline = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert policy["script-src"].split() == ["'self'", f"'sha256-{digest}'"]
    assert policy["default-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert "'self'" in policy["style-src"].split()
    assert policy["frame-ancestors"] == "'none'"
