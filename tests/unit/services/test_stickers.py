"""Sticker conversion: what is refused, and a converter that fails, hangs or is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from zapgate.domain.errors import Invalid, Unavailable
from zapgate.services.stickers import convert, sticker_webp

WEBP = b"RIFF\x1a\0\0\0WEBPVP8L" + b"\0" * 20


async def test_a_webp_needs_no_conversion_and_other_kinds_are_refused() -> None:
    assert await sticker_webp(WEBP, "image/webp") is None
    for data, mimetype in [(b"%PDF-1.7", "application/pdf"), (b"GIF8", "video/mp4")]:
        with pytest.raises(Invalid) as caught:
            await sticker_webp(data, mimetype)
        assert caught.value.code == "invalid_sticker"
    with pytest.raises(Invalid) as caught:
        await sticker_webp(b"not a webp", "image/webp")
    assert caught.value.code == "invalid_sticker"


async def test_without_ffmpeg_a_conversion_is_unavailable() -> None:
    with pytest.raises(Unavailable) as caught:
        await convert(b"\x89PNG", ffmpeg="/nonexistent/ffmpeg")
    assert caught.value.code == "sticker_conversion_unavailable"


def fake_ffmpeg(tmp_path: Path, body: str) -> str:
    script = tmp_path / "ffmpeg"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


async def test_a_failing_converter_is_a_422_with_its_reason(tmp_path: Path) -> None:
    program = fake_ffmpeg(tmp_path, "cat >/dev/null; echo 'pipe:0: Invalid data' >&2; exit 1")
    with pytest.raises(Invalid) as caught:
        await convert(b"\x89PNG broken", ffmpeg=program)
    assert caught.value.code == "invalid_sticker"
    assert "Invalid data" in caught.value.message
    # Exit 0 without a WebP is no success either.
    quiet = fake_ffmpeg(tmp_path, "cat >/dev/null; printf 'hello'")
    with pytest.raises(Invalid):
        await convert(b"\x89PNG", ffmpeg=quiet)


async def test_a_hanging_converter_is_killed_at_its_time_limit(tmp_path: Path) -> None:
    program = fake_ffmpeg(tmp_path, "exec sleep 30")
    with pytest.raises(Invalid) as caught:
        await convert(b"\x89PNG", ffmpeg=program, timeout=0.2)
    assert caught.value.code == "invalid_sticker"
    assert "in time" in caught.value.message


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
async def test_a_gif_becomes_a_webp() -> None:
    # A 1x1 GIF.
    gif = bytes.fromhex(
        "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
    )
    out = await convert(gif)
    assert out[:4] == b"RIFF"
    assert out[8:12] == b"WEBP"
