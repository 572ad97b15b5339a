"""A connection's reason in plain words, whatever the engine said."""

from __future__ import annotations

import pytest

from zapgate.web.i18n import Translator
from zapgate.web.reasons import log_detail, plain_reason, reason_kind

GO_DNS = (
    "connect failed: failed to dial whatsapp web websocket: failed to WebSocket dial: failed "
    'to send handshake request: Get "https://web.whatsapp.com/ws/chat": dial tcp: lookup '
    "web.whatsapp.com on 10.255.255.53:53: no such host"
)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (GO_DNS, "dns"),
        ("dial tcp 157.240.1.1:443: connect: network is unreachable", "unreachable"),
        ("dial tcp 157.240.1.1:443: i/o timeout", "timeout"),
        ("tls: failed to verify certificate: x509: unknown authority", "tls"),
        ("connect through proxy http://p:8080 failed: no such host", "proxy"),
        ("engine worker exited (signal 9)", "worker"),
        ("websocket read failed: connection reset by peer", "lost"),
        ("something nobody foresaw", None),
        (None, None),
    ],
)
def test_engine_messages_are_recognised(message: str | None, kind: str | None) -> None:
    assert reason_kind(message) == kind


def test_translated_in_both_languages_code_first_and_never_empty() -> None:
    pt, en = Translator("pt-BR"), Translator("en")
    assert plain_reason(pt, None, GO_DNS).startswith("Não foi possível alcançar o WhatsApp")
    assert plain_reason(en, None, GO_DNS).startswith("WhatsApp (web.whatsapp.com) could not")
    assert plain_reason(en, "qr_timeout", "websocket closed") == en("hint.qr_timeout")
    assert plain_reason(pt, None, "???") == pt("reason.unknown")


def test_log_lines_read_in_the_visitors_language() -> None:
    pt, en = Translator("pt-BR"), Translator("en")
    assert log_detail(pt, "connected", "connected to WhatsApp") == "conectada ao WhatsApp"
    assert log_detail(en, "paired", "linked to +5511999990001") == (
        "linked to the phone +55 11 99999-0001"
    )
    retry = log_detail(
        pt, "reconnecting", "dial tcp: lookup web.whatsapp.com: no such host; retry 3 in 1.9s"
    )
    assert retry.startswith("Não foi possível alcançar o WhatsApp")
    assert "(tentativa 3)" in retry
    assert log_detail(en, "qr", "qr code 2 of 6") == ""  # only the raw text, behind details
    assert log_detail(en, "error", None) == ""
