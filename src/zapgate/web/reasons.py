"""Why a connection is down, in words a shop owner understands.

The engines report reasons as they get them (the Go library's own English, a worker's
exit); the panel shows a translated plain reason (``reason.<kind>`` in the catalogs)
and keeps the raw text behind a "details" toggle. Matching is on the stable fragments
of those messages, after the error code's own text; anything unknown reads as a generic
line, never as nothing.
"""

from __future__ import annotations

import re

from zapgate.web.i18n import Translator
from zapgate.web.people import human_phone

# First match wins: a proxy failure may also mention a DNS lookup (of the proxy).
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("proxy", ("through proxy",)),
    (
        "dns",
        (
            "no such host",
            "name resolution",
            "name or service not known",
            "server misbehaving",
            "nodename nor servname",
        ),
    ),
    ("unreachable", ("network is unreachable", "no route to host", "connection refused")),
    ("timeout", ("i/o timeout", "timed out", "deadline exceeded", "timeout")),
    ("tls", ("x509", "tls:", "certificate")),
    ("worker", ("engine worker exited", "could not resume after a worker restart")),
    ("lost", ("connection to whatsapp lost", "the connection ended", "websocket")),
)


def reason_kind(message: str | None) -> str | None:
    text = (message or "").lower()
    for kind, fragments in _KINDS:
        if any(fragment in text for fragment in fragments):
            return kind
    return None


def plain_reason(t: Translator, code: str | None, message: str | None) -> str:
    """The sentence a person reads; the raw ``message`` goes behind "details". A code
    set on purpose (``qr_timeout``...) says more than the words of the message."""
    for key in (f"hint.{code}", f"error.{code}"):
        if code and t.has(key):
            return t(key)
    kind = reason_kind(message)
    return t(f"reason.{kind}") if kind is not None else t("reason.unknown")


# The connection log's fixed lines (sessions/planner.py, sessions/moves.py), by text.
_FIXED = {
    "started": "logmsg.started",
    "reconnect requested": "logmsg.reconnect_requested",
    "stopped by a user": "logmsg.stopped",
    "connected to WhatsApp": "logmsg.connected",
}
_RETRY = re.compile(r"^(?P<reason>.*); retry (?P<attempt>\d+) in [\d.]+s$", re.DOTALL)
_PHONE = re.compile(r"^(?P<what>linked to|pairing code issued for) \+(?P<phone>\d+)$")
_PLAIN_KINDS = frozenset(
    {"reconnecting", "disconnected", "error", "logged_out", "engine_fault", "connect_failure"}
)


def log_detail(t: Translator, kind: str, message: str | None) -> str:
    """A connection log line's detail in the visitor's language ("" when the raw
    message is all there is; the template shows it behind "details" then)."""
    if not message:
        return ""
    if message in _FIXED:
        return t(_FIXED[message])
    phone = _PHONE.match(message)
    if phone:
        key = "logmsg.linked" if phone["what"] == "linked to" else "logmsg.pairing_code"
        return t(key, phone=human_phone(phone["phone"]))
    retry = _RETRY.match(message)
    if retry:
        reason = plain_reason(t, None, retry["reason"])
        return t("logmsg.retry", reason=reason, attempt=retry["attempt"])
    if kind in _PLAIN_KINDS:
        return plain_reason(t, None, message)
    return ""
