"""Media types and download file names, in the forms HTTP headers can carry.

A media type reaches us from our users (uploads, ``POST /messages``), from remote
servers (a fetched URL) and from WhatsApp (an incoming message's mimetype), and goes
back out as a ``Content-Type``. One with a control character in it had made every
download of the file fail: a 500, or uvicorn dropping the connection ("Invalid HTTP
header value"). So a type is kept only in the strict grammar of RFC 9110
(``type/subtype`` tokens, optional ``; name=value`` parameters, printable ASCII), and a
file name is put in a header only as a quoted ASCII fallback plus its RFC 8187
``filename*`` form.
"""

from __future__ import annotations

import re
from urllib.parse import quote

OCTET_STREAM = "application/octet-stream"
MAX_MEDIA_TYPE = 200
"""The ``media.mimetype`` column's size."""
MAX_FILENAME = 300

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# The two alternatives share no character (no backslash in the first), so matching is
# linear however long the value.
_QUOTED = r'"(?:[ !#-\[\]-~]|\\[ -~])*"'
_TYPE = re.compile(rf"({_TOKEN})/({_TOKEN})")
_PARAMETER = re.compile(rf"[ \t]*;[ \t]*(?:({_TOKEN})=({_TOKEN}|{_QUOTED}))?")


def media_type(value: str | None) -> str | None:
    """``value`` written canonically (type, subtype and parameter names in lower case,
    parameters joined by ``"; "``), or None when it is not a media type."""
    if not value:
        return None
    text = value.strip(" \t")
    found = _TYPE.match(text)
    if found is None:
        return None
    parts = [f"{found[1]}/{found[2]}".lower()]
    at = found.end()
    while at < len(text):
        parameter = _PARAMETER.match(text, at)
        if parameter is None or parameter.end() == at:
            return None
        if parameter[1]:
            parts.append(f"{parameter[1].lower()}={parameter[2]}")
        at = parameter.end()
    canonical = "; ".join(parts)
    return canonical if len(canonical) <= MAX_MEDIA_TYPE else None


def served_media_type(stored: str) -> str:
    """What a stored type is served as: itself when valid (rows stored before types were
    checked may hold anything), else ``application/octet-stream``."""
    return media_type(stored) or OCTET_STREAM


def safe_filename(name: str | None) -> str | None:
    """The last path part of ``name`` without control or invisible formatting characters
    (a right-to-left override can show ``evil.exe`` as ``exe.pdf``); None if nothing is left."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(ch for ch in base if ch.isprintable()).strip()
    return printable[:MAX_FILENAME] or None


def content_disposition(kind: str, filename: str | None, *, default: str = "file") -> str:
    """A ``Content-Disposition`` of ``kind`` (``inline``, ``attachment``) for ``filename``:
    an ASCII fallback for old clients and the exact name, percent-encoded, for the rest."""
    name = safe_filename(filename) or default
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "_" for ch in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
