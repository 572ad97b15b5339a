"""Finding and removing the NUL character (U+0000) in text and JSON-like values."""

from __future__ import annotations

import pytest

from zapgate.domain.text import nul_location, without_nul


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("plain", None),
        ("a\x00b", ""),
        (["a", "b\x00"], "[1]"),
        (("a\x00",), "[0]"),
        ({"plan": "gold"}, None),
        ({"plan": "go\x00ld"}, "['plan']"),
        ({"pl\x00an": "gold"}, "['pl\\x00an']"),
        ({"plan": {"seats": [1, "t\x00wo"]}}, "['plan']['seats'][1]"),
        ({"n": 1, "ok": True, "none": None, "list": [1.5]}, None),
        (42, None),
        (None, None),
        ("%00", None),
    ],
)
def test_nul_location(value: object, where: str | None) -> None:
    assert nul_location(value) == where


def test_without_nul() -> None:
    assert without_nul("\x00a\x00\x00b\x00") == "ab"
    text = "unchanged"
    assert without_nul(text) is text
