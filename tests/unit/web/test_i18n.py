"""The two catalogs agree, every key a template or view uses exists, languages resolve."""

from __future__ import annotations

import re
import string
from importlib import resources
from pathlib import Path

import pytest

from zapgate.web import i18n

WEB = Path(str(resources.files("zapgate.web")))
# t('key') / t("key") with a literal key; dynamic keys (t('state.' ~ x)) are checked by
# rendering every page in both languages (tests/integration/web, tests/e2e).
LITERAL = re.compile(r"""\bt\(\s*['"]([a-z0-9_.\-]+)['"]""")


def _used_keys() -> set[str]:
    found: set[str] = set()
    for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")]:
        for key in LITERAL.findall(path.read_text("utf-8")):
            if not key.endswith("."):
                found.add(key)
    return found


def test_catalogs_have_the_same_keys() -> None:
    en, pt = i18n.catalog("en"), i18n.catalog("pt-BR")
    assert set(en) - set(pt) == set()
    assert set(pt) - set(en) == set()


def test_placeholders_match_between_languages() -> None:
    en, pt = i18n.catalog("en"), i18n.catalog("pt-BR")
    names = string.Formatter()
    for key, text in en.items():
        wanted = {f for _, f, _, _ in names.parse(text) if f}
        got = {f for _, f, _, _ in names.parse(pt[key]) if f}
        assert wanted == got, key


def test_every_literal_key_exists() -> None:
    used = _used_keys()
    assert len(used) > 100
    missing = sorted(used - set(i18n.catalog("en")))
    assert missing == []


def test_missing_key_is_marked_not_hidden() -> None:
    t = i18n.Translator("en")
    assert t("no.such.key").startswith(i18n.MISSING_MARK)
    assert t("qr.code_n", index=2, total=6) == "code 2 of 6"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("pt-BR,pt;q=0.9,en;q=0.8", "pt-BR"),
        ("pt-PT", "pt-BR"),
        ("en-US,en;q=0.9,pt-BR;q=0.8", "en"),
        ("de-DE,de;q=0.9", "en"),
        ("de;q=1,pt;q=0.5", "pt-BR"),
        ("en;q=0.2,pt;q=0.8", "pt-BR"),
        ("*", "en"),
    ],
)
def test_accept_language(header: str | None, expected: str) -> None:
    assert i18n.from_accept_language(header) == expected
