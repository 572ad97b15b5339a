"""Media types keep RFC 9110's grammar; file names reach headers only in safe forms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zapgate.domain.mediatypes import (
    content_disposition,
    media_type,
    safe_filename,
    served_media_type,
)


@pytest.mark.parametrize(
    ("given_type", "canonical"),
    [
        ("image/png", "image/png"),
        ("  Image/PNG\t", "image/png"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", None),
        ("text/plain;charset=UTF-8", "text/plain; charset=UTF-8"),
        (
            "Text/Plain ; Charset=utf-8 ;; format=flowed;",
            "text/plain; charset=utf-8; format=flowed",
        ),
        ('audio/ogg; codecs="opus; x"', 'audio/ogg; codecs="opus; x"'),
        ('text/plain; name="a \\"b\\""', 'text/plain; name="a \\"b\\""'),
        ("application/x-tar+gzip", "application/x-tar+gzip"),
    ],
)
def test_valid_types_are_written_canonically(given_type: str, canonical: str | None) -> None:
    expected = canonical if canonical is not None else given_type
    assert media_type(given_type) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "image",
        "image/",
        "/png",
        "image/png/x",
        "image /png",
        "image/png\x00",
        "image/png\x01",
        "image/png\r\nSet-Cookie: a=b",
        "image/png\n",
        "image/pngé",
        "image/✓",
        "text/plain; charset",
        "text/plain; charset=",
        "text/plain; charset=a b",
        'text/plain; name="unterminated',
        'text/plain; name="bad\x07"',
        "text/plain charset=utf-8",
        "image/" + "x" * 200,
    ],
)
def test_anything_else_is_not_a_media_type(bad: str) -> None:
    assert media_type(bad) is None
    assert served_media_type(bad) == "application/octet-stream"


# Random text is almost never a media type (none in 500 examples): without these the
# property below was never checked.
LIKE_A_MEDIA_TYPE = st.from_regex(
    r"[ \t]*[A-Za-z0-9.+-]{1,12}/[A-Za-z0-9.+-]{1,12}"
    r'( *; *[A-Za-z]{1,8}=([A-Za-z0-9-]{1,8}|"[^"\\]{0,8}"))*[ \t]*',
    fullmatch=True,
)


@given(st.text(max_size=80) | LIKE_A_MEDIA_TYPE)
def test_a_media_type_is_always_header_safe_and_stable(value: str) -> None:
    canonical = media_type(value)
    if canonical is not None:
        assert all(" " <= ch <= "~" for ch in canonical)
        assert media_type(canonical) == canonical


def test_file_names_lose_paths_and_invisible_characters() -> None:
    assert safe_filename("C:\\Users\\ana\\nota.pdf") == "nota.pdf"
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("evil\u202efdp.exe") == "evilfdp.exe"
    assert safe_filename("a\r\nb\x00.txt") == "ab.txt"
    assert safe_filename(" \x01 ") is None
    assert safe_filename(None) is None
    assert safe_filename("n" * 400) == "n" * 300


@given(st.text(max_size=60))
def test_content_disposition_is_always_header_safe(name: str) -> None:
    header = content_disposition("attachment", name)
    assert all(" " <= ch <= "~" for ch in header)
    assert header.startswith('attachment; filename="')
    assert header.count('"') == 2


def test_content_disposition_keeps_the_exact_name_encoded() -> None:
    assert content_disposition("inline", 'orçamento "final".pdf') == (
        'inline; filename="or_amento _final_.pdf"; '
        "filename*=UTF-8''or%C3%A7amento%20%22final%22.pdf"
    )
    assert content_disposition("inline", "\x00", default="file-0190") == (
        "inline; filename=\"file-0190\"; filename*=UTF-8''file-0190"
    )
