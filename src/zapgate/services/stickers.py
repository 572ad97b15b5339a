"""Stickers: WhatsApp shows a sticker only as a WebP, 512x512 by convention. A WebP is
sent as it is; a PNG, JPEG or GIF is converted by ffmpeg (its first frame, scaled to
fit 512x512 on a transparent square). Nothing else can become a sticker.

ffmpeg runs as a child process fed through pipes, with a time limit: a picture that
makes it hang or fail is a 422, not a stuck request. Without ffmpeg a WebP still goes
and a conversion answers 503 ``sticker_conversion_unavailable`` (``zapgate doctor``
says whether it is installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil

from zapgate.domain.errors import Invalid, Unavailable

WEBP = "image/webp"
CONVERTIBLE = frozenset({"image/png", "image/jpeg", "image/gif"})
SIZE = 512
TIMEOUT = 20.0
"""Seconds one conversion may take; a still picture takes well under one."""
MAX_OUTPUT = 1024 * 1024
"""WhatsApp's limit for a sticker."""

_FILTER = (
    f"scale={SIZE}:{SIZE}:force_original_aspect_ratio=decrease,format=rgba,"
    f"pad={SIZE}:{SIZE}:(ow-iw)/2:(oh-ih)/2:color=0x00000000"
)


def is_webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


async def sticker_webp(data: bytes, mimetype: str) -> bytes | None:
    """The WebP to send for a file of type ``mimetype``: None when it is one already."""
    kind = mimetype.split(";", 1)[0].strip().lower()
    if kind == WEBP:
        if not is_webp(data):
            raise Invalid("the sticker says image/webp but is not a WebP", code="invalid_sticker")
        return None
    if kind not in CONVERTIBLE:
        raise Invalid(
            f"a sticker is a WebP, PNG, JPEG or GIF image, not {kind}", code="invalid_sticker"
        )
    return await convert(data)


async def convert(data: bytes, *, ffmpeg: str | None = None, timeout: float = TIMEOUT) -> bytes:
    program = shutil.which(ffmpeg or "ffmpeg")
    if program is None:
        raise Unavailable(
            "converting a picture to a sticker needs ffmpeg, which is not installed; "
            "send a WebP instead",
            code="sticker_conversion_unavailable",
        )
    process = await asyncio.create_subprocess_exec(
        program,
        *("-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-frames:v", "1"),
        *("-vf", _FILTER, "-c:v", "libwebp", "-quality", "80", "-f", "webp", "pipe:1"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(data), timeout)
    except BaseException as exc:
        # Timed out, or the request went away: the child never outlives its request.
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.shield(process.wait())
        if isinstance(exc, TimeoutError):
            raise Invalid(
                "the picture could not be converted to a sticker in time", code="invalid_sticker"
            ) from None
        raise
    if process.returncode != 0 or not is_webp(out):
        reason = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise Invalid(
            f"the picture could not be converted to a sticker: {reason[0][:200]}",
            code="invalid_sticker",
        )
    if len(out) > MAX_OUTPUT:
        raise Invalid("the converted sticker is larger than 1 MiB", code="invalid_sticker")
    return out
