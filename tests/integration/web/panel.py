"""A small browser-less client for the panel: keeps cookies, reads the CSRF token."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

CSRF = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')
UNTRANSLATED = re.compile(r"⟦[^⟧]*⟧")


class Panel:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.csrf = ""

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        response = await self.http.get(path, **kw)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def post(
        self, path: str, data: dict[str, Any] | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {"x-csrf-token": self.csrf, "hx-request": "true", **kw.pop("headers", {})}
        return await self.http.post(path, data=data or {}, headers=headers, **kw)

    async def login(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
        await self.get("/app/login")
        response = await self.http.post(
            "/app/login", data={"email": email, "password": password, "csrf_token": self.csrf}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/app"
        await self.get("/app")


def untranslated(html: str) -> list[str]:
    return UNTRANSLATED.findall(html)
