"""Structured logging on the standard library: console or one JSON object per line.

Fields passed with ``extra=`` are kept as structured fields. Secrets never reach
here: callers log ids, never keys, tokens or passwords. Other code logs URLs, though:
uvicorn logs every WebSocket's path with its query (``/events/ws?token=...``) at INFO,
and the websockets library more at DEBUG. So every record is passed through
:class:`RedactSecrets`, which masks credentials in query strings, API keys and access
tokens wherever they appear.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


MASK = "***"
_SECRET_PARAM = re.compile(
    r"(?<=[?&;])((?:access_|refresh_)?token|api[_-]?key|key|password|secret)=[^&;#\s\"']*",
    re.IGNORECASE,
)
_API_KEY = re.compile(r"\bzg_[A-Za-z0-9_-]{20,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_USERINFO = re.compile(r"(?<=://)([^\s/?#@:]*)(:?)[^\s/?#]*@")
"""The user part of a URL: a broker URL's password, or NATS's lone token. Up to the
last ``@`` before the path, as URL parsers read it: a password may hold a raw ``@``."""


def redact(text: str) -> str:
    """``text`` with credentials in URLs (query parameters, ``user:password@``), API
    keys and access tokens masked."""
    if "@" in text and "://" in text:
        text = _USERINFO.sub(_userinfo, text)
    if "=" in text:
        text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={MASK}", text)
    if "zg_" in text:
        text = _API_KEY.sub("zg_" + MASK, text)
    if "eyJ" in text:
        text = _JWT.sub(MASK, text)
    return text


def _userinfo(found: re.Match[str]) -> str:
    user, colon = found.group(1), found.group(2)
    return f"{user}:{MASK}@" if colon else f"{MASK}@"


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value  # %d and %f still format it
    shown = str(value)  # a URL object, an exception
    clean = redact(shown)
    return value if clean == shown else clean


class RedactSecrets(logging.Filter):
    """Masks credentials in a record's message, arguments, extra fields and traceback.

    Installed on our handler (every record it writes) and on uvicorn's loggers, so a
    handler added to those later (a test's, an operator's) gets clean records too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redacted(v) for k, v in record.args.items()}
        for name in [*_extras(record), "color_message"]:
            if hasattr(record, name):
                setattr(record, name, _redacted(getattr(record, name)))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# The loggers uvicorn writes request paths to (``uvicorn.error`` also carries the
# websockets library's handshake logging).
URL_LOGGERS = ("uvicorn.error", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            line += f"  {fields}"
        if record.exc_info:
            line += "\n" + (record.exc_text or self.formatException(record.exc_info))
        return line


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # alembic: store/migrate.py says in one line what it migrated.
    for noisy in ("uvicorn.access", "httpx", "httpcore", "aiosqlite", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # uvicorn installs its own handlers; route its loggers through ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # A uvicorn started earlier in this process set its own levels; ours is the one.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, RedactSecrets)]:
            logger.removeFilter(old)
        logger.addFilter(RedactSecrets())
