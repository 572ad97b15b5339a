"""Checks for ``zapgate doctor``: can this machine run the neonize engine?

The library is probed in a child process, because loading it costs ~55 MiB, reconfigures
logging and, when broken, can abort the process that loads it.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zapgate.engines.neonize.library import fix_hint

PROBE_TIMEOUT = 60.0
_PROBE = """
import sys, warnings
sys.modules.setdefault("httpx._main", None)
warnings.simplefilter("ignore")
import importlib.metadata as md
print("version", md.version("neonize"))
from neonize._binder import gocode
print("library", gocode.GetVersion().decode())
"""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    optional: bool = False
    """A failed optional check costs a feature, not the engine."""


def run_checks(data_dir: Path, *, python: str = sys.executable) -> list[CheckResult]:
    return [*_library(python), _libmagic(), _ffmpeg(), _data_dir(data_dir)]


def _library(python: str) -> list[CheckResult]:
    try:
        # The interpreter is the server's own (or the engine's configured one), not input.
        proc = subprocess.run(  # noqa: S603
            [python, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [
            CheckResult("neonize", False, f"could not run {python}: {exc}"),
            CheckResult("neonize library", False, "not checked"),
        ]
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    last_error = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    version = lines.get("version")
    importable = CheckResult(
        "neonize",
        version is not None,
        f"neonize {version} importable"
        if version
        else f"neonize is not installed: {last_error} ({fix_hint()})",
    )
    library = lines.get("library")
    loads = CheckResult(
        "neonize library",
        library is not None,
        f"Go shared library {library} loads"
        if library
        else f"the Go shared library does not load: {last_error}",
    )
    return [importable, loads]


def _libmagic() -> CheckResult:
    found = ctypes.util.find_library("magic")
    return CheckResult(
        "libmagic",
        found is not None,
        f"found {found}"
        if found
        else "libmagic is missing (apt-get install libmagic1); neonize needs it",
    )


def _ffmpeg() -> CheckResult:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg and ffprobe:
        return CheckResult("ffmpeg", True, f"found {ffmpeg}", optional=True)
    # Not fatal: zapgate builds media messages itself; only turning a picture into a
    # sticker calls ffmpeg (services/stickers.py), and a WebP sticker needs no conversion.
    return CheckResult(
        "ffmpeg",
        False,
        "not installed: stickers can be sent only as WebP (no PNG/JPEG/GIF conversion), "
        "voice notes and audio are sent without a duration "
        "and videos without a preview frame",
        optional=True,
    )


def _data_dir(data_dir: Path) -> CheckResult:
    target = data_dir / "neonize"
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target, prefix=".doctor-"):
            pass
    except OSError as exc:
        return CheckResult("engine data directory", False, f"{target} is not writable: {exc}")
    free = shutil.disk_usage(target).free // (1024 * 1024)
    return CheckResult(
        "engine data directory",
        os.access(target, os.W_OK),
        f"{target} is writable ({free} MiB free)",
    )
