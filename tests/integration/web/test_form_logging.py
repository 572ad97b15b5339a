"""The panel logs an invalid form by field and reason, never by value."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.integration.web.panel import Panel
from zapgate.web import i18n


async def test_an_invalid_form_is_logged_without_its_values(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    panel = Panel(client)
    await panel.get("/app/login")
    password = "correct-horse-" * 20  # past the 256-character limit
    form = {"email": "someone@example.com", "password": password, "csrf_token": panel.csrf}
    with caplog.at_level(logging.INFO, logger="zapgate.web.routing"):
        answer = await client.post("/app/login", data=form)
    assert answer.status_code == 422
    assert i18n.catalog("en")["error.invalid_form"] in answer.text
    (record,) = [r for r in caplog.records if r.getMessage() == "invalid panel request"]
    logged = str(vars(record))
    assert "correct-horse" not in logged
    assert "('body.password', 'string_too_long')" in logged
