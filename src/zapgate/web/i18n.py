"""Two message catalogs (``i18n/en.json``, ``i18n/pt_BR.json``) and language choice.

A key missing from a catalog renders as ``⟦key⟧`` and is logged, so it shows up in a
page (and in the test that renders every page) instead of passing unnoticed.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)

LANGUAGES = ("pt-BR", "en")
DEFAULT_LANGUAGE = "en"
_FILES = {"pt-BR": "pt_BR.json", "en": "en.json"}
MISSING_MARK = "⟦"


@cache
def catalog(language: str) -> dict[str, str]:
    text = resources.files("zapgate.web").joinpath("i18n", _FILES[language]).read_text("utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def normalize(language: str | None) -> str | None:
    if not language:
        return None
    value = language.strip().lower()
    if value.startswith("pt"):
        return "pt-BR"
    if value.startswith("en"):
        return "en"
    return None


def from_accept_language(header: str | None) -> str:
    """pt-BR for any ``pt*`` the browser prefers over English; English otherwise."""
    if not header:
        return DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag))
    for _q, _p, tag in sorted(ranked):
        found = normalize(tag)
        if found:
            return found
    return DEFAULT_LANGUAGE


class Translator:
    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._messages = catalog(self.language)

    def __call__(self, key: str, **values: Any) -> str:
        text = self._messages.get(key)
        if text is None:
            log.warning("untranslated panel text", extra={"key": key, "lang": self.language})
            return f"{MISSING_MARK}{key}⟧"
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._messages

    @property
    def html_lang(self) -> str:
        return self.language
