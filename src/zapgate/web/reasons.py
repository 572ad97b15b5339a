"""Why a connection is down, in words a shop owner understands.

The engines report reasons as they get them (the Go library's own English, a worker's
exit); the panel shows a translated plain reason (``reason.<kind>`` in the catalogs)
and keeps the raw text behind a "details" toggle. Matching is on the stable fragments
of those messages, after the error code's own text; anything unknown reads as a generic
line, never as nothing.
"""

from __future__ import annotations

from zapgate.web.i18n import Translator

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
