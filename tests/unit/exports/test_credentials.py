"""An export's URL as stored: masked, its credentials sealed; joined again to connect."""

from __future__ import annotations

import pytest

from zapgate.domain.errors import Invalid
from zapgate.exports.credentials import (
    MAX_USERINFO,
    SECRET_WIDTH,
    conceal,
    needs_sealing,
    reveal,
    scrub,
)
from zapgate.util.secretbox import SecretBox, SecretUnreadable, sealed_length
from zapgate.webhooks.urls import MAX_URL_LENGTH, UrlRefused

BOX = SecretBox("k" * 48)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://app:s3cret@mq.internal:5672/prod", "amqp://app:***@mq.internal:5672/prod"),
        (
            "amqps://u:p%40ss@[2001:db8::1]:5671/vh?heartbeat=30",
            "amqps://u:***@[2001:db8::1]:5671/vh?heartbeat=30",
        ),
        ("amqp://u:p@ss@mq/", "amqp://u:***@mq/"),
        ("nats://tok3n@127.0.0.1:4222", "nats://***@127.0.0.1:4222"),
        ("nats://:only-password@h:4222", "nats://:***@h:4222"),
    ],
)
def test_credentials_are_sealed_and_put_back(url: str, shown: str) -> None:
    stored = conceal(BOX, "e1", url)
    assert stored.url == shown
    assert stored.secret.startswith("v1:")
    assert len(stored.secret) <= SECRET_WIDTH
    assert reveal(BOX, "e1", stored.url, stored.secret) == url
    assert not needs_sealing(stored.url, stored.secret)
    # Sealed for this export: another export's row does not open it.
    with pytest.raises(SecretUnreadable):
        reveal(BOX, "e2", stored.url, stored.secret)


def test_a_url_without_credentials_is_stored_as_it_is() -> None:
    stored = conceal(BOX, "e1", "nats://127.0.0.1:4222")
    assert (stored.url, stored.secret) == ("nats://127.0.0.1:4222", "")
    assert reveal(BOX, "e1", stored.url, stored.secret) == "nats://127.0.0.1:4222"
    assert not needs_sealing(stored.url, stored.secret)


def test_a_row_from_before_encryption_is_read_as_it_is_and_needs_sealing() -> None:
    url = "amqp://app:s3cret@mq/"
    assert reveal(BOX, "e1", url, "") == url
    assert needs_sealing(url, "")


def test_another_key_cannot_put_them_back() -> None:
    stored = conceal(BOX, "e1", "amqp://app:s3cret@mq/")
    with pytest.raises(SecretUnreadable) as refused:
        reveal(SecretBox("another-key-of-at-least-32-chars!"), "e1", stored.url, stored.secret)
    assert "SECRET_KEY" in str(refused.value)


def test_user_parts_up_to_the_column_width_are_accepted() -> None:
    assert sealed_length(MAX_USERINFO) <= SECRET_WIDTH < sealed_length(MAX_USERINFO + 1)
    longest = "u:" + "p" * (MAX_USERINFO - 2)
    assert len(conceal(BOX, "e1", f"amqp://{longest}@mq/").secret) <= SECRET_WIDTH
    with pytest.raises(Invalid) as refused:
        conceal(BOX, "e1", f"amqp://{longest}x@mq/")
    assert refused.value.code == "credentials_too_long"


def test_a_masked_url_past_the_column_is_refused() -> None:
    # "a" becomes "***": two characters longer than what was checked.
    url = "nats://a@h/" + "x" * (MAX_URL_LENGTH - 11)
    assert len(url) == MAX_URL_LENGTH
    with pytest.raises(UrlRefused) as refused:
        conceal(BOX, "e1", url)
    assert refused.value.code == "invalid_url"


def test_scrub_removes_credentials_from_a_librarys_error() -> None:
    url = "amqp://app:s3cret-pass@mq:5672/"
    said = f"cannot connect to {url} (user app:s3cret-pass, password s3cret-pass)"
    clean = scrub(said, url)
    assert "s3cret" not in clean
    assert "amqp://app:***@mq:5672/" in clean
    assert scrub("nothing to hide", "nats://h:4222") == "nothing to hide"
    # A password too short to guard anything is not hunted through the text.
    assert scrub("a connection to b", "amqp://u:b@mq/") == "a connection to b"
