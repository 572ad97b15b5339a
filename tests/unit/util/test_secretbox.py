"""SecretBox: sealed values open only with the same key, for the same context, unaltered."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from zapgate.util.secretbox import (
    PREFIX,
    SecretBox,
    SecretUnreadable,
    is_sealed,
    sealed_length,
)

KEY = "k" * 48
BOX = SecretBox(KEY)


@pytest.mark.parametrize("plain", ["guest:guest", "", "s3cr3t ção ✓ " * 20])
def test_a_sealed_value_opens_to_what_was_sealed(plain: str) -> None:
    sealed = BOX.seal(plain, context="export:1")
    assert sealed.startswith(PREFIX)
    assert is_sealed(sealed)
    if plain:
        assert plain.encode() not in base64.urlsafe_b64decode(sealed[3:])
    assert BOX.open(sealed, context="export:1") == plain
    # Another box from the same secret (a restart) opens it too.
    assert SecretBox(KEY).open(sealed, context="export:1") == plain


def test_each_seal_has_its_own_nonce() -> None:
    assert BOX.seal("same", context="c") != BOX.seal("same", context="c")


def test_a_value_sealed_by_an_earlier_build_still_opens() -> None:
    # Sealed once with KEY: a change to the key derivation (the info string, the hash)
    # or to the format would make every stored credential unreadable.
    stored = "v1:AAECAwQFBgcICQoLcuG6a2AGQ0ww5CKwgVRuQDHrZMEEpWdVxBlz"
    assert BOX.open(stored, context="export:1") == "guest:guest"


def test_the_key_is_derived_not_the_secret_itself() -> None:
    # The access tokens are signed with the secret's bytes: a value sealed under them
    # (the first 32 bytes as an AES key) must not be what this box makes or opens.
    nonce = bytes(range(12))
    raw = AESGCM(KEY.encode()[:32]).encrypt(nonce, b"guest:guest", b"export:1")
    forged = PREFIX + base64.urlsafe_b64encode(nonce + raw).decode()
    with pytest.raises(SecretUnreadable):
        BOX.open(forged, context="export:1")


def test_another_key_cannot_open_it_and_says_so() -> None:
    sealed = BOX.seal("guest:guest", context="export:1")
    with pytest.raises(SecretUnreadable) as refused:
        SecretBox("another-secret-key-of-32-characters").open(sealed, context="export:1")
    assert "SECRET_KEY" in str(refused.value)
    assert "guest" not in str(refused.value)


def test_another_context_cannot_open_it() -> None:
    sealed = BOX.seal("guest:guest", context="export:1")
    with pytest.raises(SecretUnreadable):
        BOX.open(sealed, context="export:2")


def _flip(sealed: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(sealed[3:]))
    raw[index] ^= 0x01
    return PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("index", [0, 11, 12, -17, -1])
def test_any_altered_byte_is_detected(index: int) -> None:
    sealed = BOX.seal("guest:guest", context="export:1")
    with pytest.raises(SecretUnreadable):
        BOX.open(_flip(sealed, index), context="export:1")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("guest:guest", "known version"),
        ("v2:AAAA", "known version"),
        ("v1:%%%%", "damaged"),
        ("v1:AAAA", "too short"),
        ("v1:ção", "damaged"),
    ],
)
def test_damaged_or_unknown_values_are_refused_with_a_reason(value: str, words: str) -> None:
    with pytest.raises(SecretUnreadable) as refused:
        BOX.open(value, context="export:1")
    assert words in str(refused.value)


def test_truncated_values_are_refused() -> None:
    sealed = BOX.seal("guest:guest", context="export:1")
    with pytest.raises(SecretUnreadable):
        BOX.open(sealed[:-4], context="export:1")


def test_sealed_length_is_exact() -> None:
    for size in range(0, 300, 7):
        assert len(BOX.seal("x" * size, context="c")) == sealed_length(size)


def test_a_box_needs_a_key() -> None:
    with pytest.raises(ValueError, match="secret key"):
        SecretBox("")
