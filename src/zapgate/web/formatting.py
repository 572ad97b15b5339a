"""WhatsApp's text formatting as HTML, safely: the text is escaped first, then the
markers (``*bold*``, ``_italic_``, ``~strike~``, ```` ```mono``` ````) become fixed tags
around text that is already escaped, so no customer text can add markup of its own."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_MONO = re.compile(r"```(.+?)```", re.DOTALL)
# A marker opens after a non-word character (or the start) and right before a
# non-space, and closes right after a non-space and before a non-word character, as in
# WhatsApp: snake_case_names and 2*3*4 stay as they are.
_INLINE = (
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"), "strong"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"), "em"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"), "del"),
)


def _inline(text: str) -> str:
    html = str(escape(text))
    for pattern, tag in _INLINE:
        html = pattern.sub(rf"<{tag}>\1</{tag}>", html)
    return html


def whatsapp(text: object) -> Markup:
    if not isinstance(text, str) or not text:
        return Markup("")
    parts: list[str] = []
    at = 0
    for block in _MONO.finditer(text):
        parts.append(_inline(text[at : block.start()]))
        parts.append(f"<code>{escape(block.group(1))}</code>")
        at = block.end()
    parts.append(_inline(text[at:]))
    # Every part was escaped above; only our fixed tags are unescaped.
    return Markup("".join(parts))  # noqa: S704
