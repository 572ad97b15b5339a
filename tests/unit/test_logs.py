"""Log output: credentials in URLs, API keys and tokens never reach a log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from zapgate.logs import configure_logging, redact

KEY = "zg_" + "A1b2C3d4" * 5 + "xyz"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl-_x"
TOUCHED = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore", "aiosqlite")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide loggers: put them back afterwards."""
    saved = {}
    for name in TOUCHED:
        logger = logging.getLogger(name)
        saved[name] = (logger.handlers[:], logger.filters[:], logger.level, logger.propagate)
    yield
    for name, (handlers, filters, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.filters[:] = filters
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        (f"/api/v1/events/ws?token={KEY}&since=5", "/api/v1/events/ws?token=***&since=5"),
        (f"/x?since=1&ACCESS_TOKEN={JWT}", "/x?since=1&ACCESS_TOKEN=***"),
        ("/x?apikey=a&api_key=b&api-key=c&key=d", "/x?apikey=***&api_key=***&api-key=***&key=***"),
        ("/x?password=p;secret=s#frag", "/x?password=***;secret=***#frag"),
        ('"GET /x?token=abc HTTP/1.1" 200', '"GET /x?token=*** HTTP/1.1" 200'),
        (f"X-Api-Key: {KEY}", "X-Api-Key: zg_***"),
        (
            f"< Sec-WebSocket-Protocol: zapgate.bearer, {JWT}",
            "< Sec-WebSocket-Protocol: zapgate.bearer, ***",
        ),
        # Broker URLs: the password, or a lone user (NATS's token).
        ("to amqp://app:s3cret@mq:5672/prod failed", "to amqp://app:***@mq:5672/prod failed"),
        (
            "nats://tok3n@127.0.0.1:4222, nats://u:p%40ss@h",
            "nats://***@127.0.0.1:4222, nats://u:***@h",
        ),
        ("amqp://:pw@mq/ and mailto:me@example.com", "amqp://:***@mq/ and mailto:me@example.com"),
        ("amqp://u:p@ss@mq/vh", "amqp://u:***@mq/vh"),
        ("https://example.com/a@b and a@b.c", "https://example.com/a@b and a@b.c"),
        # Not credentials: other parameters, look-alike names, a key's shown prefix.
        ("/x?monkey=1&keys=2&token_count=3", "/x?monkey=1&keys=2&token_count=3"),
        ("key zg_A1b2C3d made", "key zg_A1b2C3d made"),
    ],
)
def test_redact_masks_credentials_and_nothing_else(text: str, clean: str) -> None:
    assert redact(text) == clean


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("fmt", ["json", "console"])
def test_configured_logging_writes_no_credential(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", fmt)
    error = logging.getLogger("uvicorn.error")
    # uvicorn's line for every WebSocket, at INFO, and the websockets library's at DEBUG.
    error.info(
        '%s - "WebSocket %s" [accepted]',
        "127.0.0.1:50000",
        f"/api/v1/events/ws?token={KEY}&since=3",
    )
    error.debug("< GET %s HTTP/1.1", f"/api/v1/events/ws?access_token={JWT}")
    logging.getLogger("uvicorn.access").warning(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET", f"/s?apikey={KEY}", "1.1", 401
    )
    try:
        raise ValueError(f"cannot fetch https://hook.test/in?token={JWT}")
    except ValueError:
        logging.getLogger("zapgate.test").exception(
            "webhook failed", extra={"url": f"https://hook.test/in?key={KEY}"}
        )
    output = capsys.readouterr().err
    assert KEY not in output
    assert JWT not in output
    assert KEY[:12] not in output
    lines = output.strip().splitlines()
    if fmt == "json":
        entries = [json.loads(line) for line in lines]
        assert entries[0]["msg"] == (
            '127.0.0.1:50000 - "WebSocket /api/v1/events/ws?token=***&since=3" [accepted]'
        )
        assert entries[1]["msg"] == "< GET /api/v1/events/ws?access_token=*** HTTP/1.1"
        assert entries[2]["msg"] == '127.0.0.1:50000 - "GET /s?apikey=*** HTTP/1.1" 401'
        assert entries[3]["url"] == "https://hook.test/in?key=***"
        assert "ValueError: cannot fetch https://hook.test/in?token=***" in entries[3]["exc"]
    else:
        assert "WebSocket /api/v1/events/ws?token=***&since=3" in lines[0]
        assert "url=https://hook.test/in?key=***" in output


@pytest.mark.usefixtures("restore_logging")
def test_a_handler_added_to_uvicorns_loggers_gets_clean_records() -> None:
    configure_logging("INFO", "console")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    error = logging.getLogger("uvicorn.error")
    keep = Keep()
    error.addHandler(keep)
    try:
        error.info('%s - "WebSocket %s" 403', "127.0.0.1:1", f"/ws?token={KEY}")
    finally:
        error.removeHandler(keep)
    assert [r.getMessage() for r in seen] == ['127.0.0.1:1 - "WebSocket /ws?token=***" 403']
