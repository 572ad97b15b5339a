"""The connection page: one label per log line, details in the visitor's language,
times with seconds, "Estatísticas", and a chart whose labels read at 375 and 1280 px."""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import TIMEOUT_MS, LiveServer, linked_connection, sign_in

pytestmark = pytest.mark.browser
WORDS = {
    "pt-BR": {"stats": "Estatísticas", "connected": "Conectada", "detail": "conectada ao WhatsApp"},
    "en": {"stats": "Statistics", "connected": "Connected", "detail": "connected to WhatsApp"},
}
SECONDS = re.compile(r"\d{1,2}:\d{2}:\d{2}")


@pytest.mark.parametrize("language", ["pt-BR", "en"])
def test_log_and_chart_read_well_on_a_laptop_and_a_phone(
    browser: Browser, live: LiveServer, language: str
) -> None:
    with live.api() as api:
        cid = linked_connection(api, "Recepção", "5511990008888")
    words = WORDS[language]
    for width, height in ((1280, 860), (375, 740)):
        ctx = browser.new_context(locale=language, viewport={"width": width, "height": height})
        ctx.set_default_timeout(TIMEOUT_MS)
        page = ctx.new_page()
        try:
            sign_in(page, live)
            page.goto(live.url + f"/app/connections/{cid}")
            expect(page.locator("#stats-title")).to_have_text(words["stats"])
            lines = page.get_by_test_id("log-line")
            connected = lines.filter(has_text=words["detail"])
            expect(connected).to_have_count(1)
            # One label: "Conectada", never "Conectada Conectada".
            assert connected.inner_text().count(words["connected"]) == 1
            assert SECONDS.search(connected.locator("time").inner_text())
            for i in range(lines.count()):
                text = lines.nth(i).inner_text()
                assert not re.search(r"(\b\w+\b) \1\b", text.split("\n")[0]), text

            labels = page.get_by_test_id("chart-labels").locator("span")
            visible = [labels.nth(i) for i in range(labels.count()) if labels.nth(i).is_visible()]
            assert len(visible) >= 7
            sizes = {v.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") for v in visible}
            assert all(10 <= s <= 14 for s in sizes), sizes
            boxes = [box for v in visible if (box := v.bounding_box()) is not None]
            assert len(boxes) == len(visible)
            for a, b in itertools.pairwise(boxes):
                assert a["x"] + a["width"] <= b["x"] + 0.5, (a, b)  # no overlap
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0
            page.locator("[aria-labelledby=chart-title]").screenshot(
                path=f"/tmp/panel-shots/chart-{language}-{width}.png"
            )
            page.screenshot(
                path=f"/tmp/panel-shots/connection-{language}-{width}.png", full_page=True
            )
        finally:
            ctx.close()
