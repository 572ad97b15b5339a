"""A message body in AMQP content frames (``exports/amqp.body_frames``): whole when it
fits, or when the broker set no frame limit; split at the limit otherwise; nothing for
an empty body (as aiormq's own publish does)."""

from __future__ import annotations

from zapgate.exports.amqp import body_frames


def _parts(body: bytes, size: int) -> list[bytes]:
    return [frame.value for frame in body_frames(body, size)]


def test_a_body_that_fits_is_one_frame() -> None:
    assert _parts(b"abc", 10) == [b"abc"]
    assert _parts(b"a" * 10, 10) == [b"a" * 10]


def test_a_larger_body_is_split_at_the_limit_and_rejoins_whole() -> None:
    body = bytes(range(256)) * 4
    parts = _parts(body, 100)
    assert [len(p) for p in parts] == [100] * 10 + [24]
    assert b"".join(parts) == body
    assert _parts(b"a" * 11, 10) == [b"a" * 10, b"a"]


def test_no_frame_limit_sends_the_body_whole() -> None:
    # frame_max 0 ("no limit") makes aiormq's max_content_size negative.
    assert _parts(b"x" * 1000, -8) == [b"x" * 1000]
    assert _parts(b"x" * 1000, 0) == [b"x" * 1000]


def test_an_empty_body_has_no_frame() -> None:
    assert body_frames(b"", 10) == []
