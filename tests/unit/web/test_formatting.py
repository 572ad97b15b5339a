"""WhatsApp formatting: rendered, and never a way in for markup."""

from __future__ import annotations

import pytest

from zapgate.web.formatting import whatsapp


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("*bold* and _italic_ ~gone~", "<strong>bold</strong> and <em>italic</em> <del>gone</del>"),
        ("```a *not bold* <b>```", "<code>a *not bold* &lt;b&gt;</code>"),
        ("*_both_*", "<strong><em>both</em></strong>"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("* not bold *", "* not bold *"),
        ("line *one\ntwo*", "line *one\ntwo*"),
        ("", ""),
    ],
)
def test_markers(text: str, html: str) -> None:
    assert str(whatsapp(text)) == html


@pytest.mark.parametrize(
    "hostile",
    [
        "*<script>alert(1)</script>*",
        "_<img src=x onerror=alert(2)>_",
        '~"><svg onload=alert(3)>~',
        "```</code><script>alert(4)</script>```",
        "*a&b* _<i>x</i>_",
    ],
)
def test_hostile_text_stays_text(hostile: str) -> None:
    html = str(whatsapp(hostile))
    assert "<script" not in html
    assert "<img" not in html
    assert "<svg" not in html
    assert "<i>" not in html
    assert "&lt;" in html
    # Only our own tags remain.
    for tag in ("strong", "em", "del", "code"):
        html = html.replace(f"<{tag}>", "").replace(f"</{tag}>", "")
    assert "<" not in html
    assert ">" not in html
