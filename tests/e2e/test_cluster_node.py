"""In a cluster the panel shows superadmins which node runs a connection; others not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import _truncate_pg, run_in_thread
from tests.e2e.conftest import LiveServer, sign_in

pytestmark = pytest.mark.browser


def test_superadmins_see_the_node_running_a_connection(
    page: Page, server_factory: Callable[..., LiveServer], pg_database: str
) -> None:
    run_in_thread(lambda: _truncate_pg(pg_database))
    live = server_factory(database_url=pg_database, cluster=True, node_id="painel-1")
    with live.api() as api:
        cid = api.post("/connections", json={"name": "Recepção"}).json()["id"]
        made = api.post(
            "/users",
            json={"email": "gerente@example.com", "password": "gerente-1", "role": "owner"},
        )
        assert made.status_code == 201, made.text
    sign_in(page, live)
    page.goto(f"{live.url}/app/connections/{cid}")
    expect(page.get_by_test_id("node")).to_have_text("Roda no nó painel-1")

    page.get_by_role("button", name="Sair").click()
    sign_in(page, live, "gerente@example.com", "gerente-1")
    page.goto(f"{live.url}/app/connections/{cid}")
    expect(page.get_by_test_id("state")).to_be_visible()
    expect(page.get_by_test_id("node")).to_have_count(0)
