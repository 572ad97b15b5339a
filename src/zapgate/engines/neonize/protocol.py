"""The wire protocol between the engine supervisor and an engine worker process.

Frames are length-prefixed JSON: a 4-byte big-endian length, then that many bytes of
UTF-8 JSON. They travel over a socketpair whose worker end is inherited as a file
descriptor (``--fd``), never over stdout: the Go core prints to stdout at will.

Every frame is an object with ``"v"`` (:data:`VERSION`) and ``"kind"``:

worker → supervisor
    ``hello``  ``{pid, version}``: sent once, first; the supervisor refuses other versions.
    ``event``  ``{event}``: one engine event (see :func:`encode_event`).
    ``reply``  ``{id, ok, result}`` or ``{id, ok: false, error: {code, message, permanent}}``.
    ``log``    ``{level, logger, message}``: a log record (Python or Go) for the server's logs.

supervisor → worker
    ``request`` ``{id, op, args}`` with ``op`` one of :data:`OPS`; answered by one ``reply``.

Values are plain JSON; dataclasses from :mod:`zapgate.engines.base` become objects
(an event is ``{"name": <class name>, "fields": {...}}``), datetimes ISO-8601 strings, bytes base64.
This module is stdlib-only so that a worker stays small.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import struct
import types
import typing
from datetime import datetime
from enum import Enum
from typing import Any, Final, TypeVar, get_args, get_origin

from zapgate.domain.errors import EngineError
from zapgate.engines.events import EngineEvent

VERSION: Final = 1
HEADER = struct.Struct(">I")
MAX_FRAME: Final = 256 * 1024 * 1024
"""Largest frame accepted: a 64 MiB media file is ~86 MiB once base64-encoded."""

OPS: Final = frozenset(
    {
        "open",
        "pairing_code",
        "close",
        "logout",
        "delete",
        "send",
        "edit",
        "revoke",
        "mark_read",
        "presence",
        "own_presence",
        "check_numbers",
        "groups",
        "download",
        "ping",
        "group_create",
        "group_info",
        "group_update",
        "group_participants",
        "group_invite",
        "group_join",
        "group_leave",
        "contact_profile",
        "block",
        "own_profile",
        "configure",
        "shutdown",
    }
)

EVENT_TYPES: Final[dict[str, type[Any]]] = {cls.__name__: cls for cls in get_args(EngineEvent)}

T = TypeVar("T")


class ProtocolError(Exception):
    """A malformed frame, an unknown kind or a version mismatch."""


# ---------------------------------------------------------------- framing


def pack(frame: dict[str, Any]) -> bytes:
    body = json.dumps({"v": VERSION, **frame}, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return HEADER.pack(len(body)) + body


def unpack_length(header: bytes) -> int:
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    return int(size)


def parse(body: bytes) -> dict[str, Any]:
    try:
        frame = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from exc
    if not isinstance(frame, dict) or "kind" not in frame:
        raise ProtocolError("frame is not an object with a kind")
    if frame.get("v") != VERSION:
        raise ProtocolError(f"protocol version {frame.get('v')!r} != {VERSION}")
    return frame


# ---------------------------------------------------------------- values


def to_json(value: Any) -> Any:
    """Turn dataclasses, enums, datetimes, bytes and containers into plain JSON."""
    if value is None or isinstance(value, bool | int | float | str):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    raise TypeError(f"cannot encode {type(value).__name__}")


def from_json(tp: Any, data: Any) -> Any:
    """Rebuild a value of type ``tp`` (an engine dataclass's hint) from :func:`to_json` output."""
    if tp is Any:
        return data
    origin = get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        options = [arg for arg in get_args(tp) if arg is not type(None)]
        if data is None:
            return None
        if len(options) == 1:
            return from_json(options[0], data)
        raise ProtocolError(f"ambiguous union {tp}")
    if origin in (tuple, list):
        if not isinstance(data, list):
            raise ProtocolError(f"cannot decode {data!r} as {tp}")
        args = get_args(tp)
        items = [from_json(args[0], item) for item in data]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        _, value_tp = get_args(tp)
        return {key: from_json(value_tp, item) for key, item in data.items()}
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            return decode_dataclass(tp, data)
        if issubclass(tp, Enum):
            return tp(data)
        if tp is datetime:
            return datetime.fromisoformat(data)
        if tp is bytes:
            return base64.b64decode(data)
        if tp is float and isinstance(data, int):
            return float(data)
        if isinstance(data, tp):
            return data
    raise ProtocolError(f"cannot decode {data!r} as {tp}")


def decode_dataclass(cls: type[T], data: dict[str, Any]) -> T:
    if not isinstance(data, dict):
        raise ProtocolError(f"{cls.__name__} must be an object")
    hints = typing.get_type_hints(cls)
    kwargs = {
        f.name: from_json(hints[f.name], data[f.name])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name in data
    }
    return cls(**kwargs)


def encode_event(event: EngineEvent) -> dict[str, Any]:
    return {"name": type(event).__name__, "fields": to_json(event)}


def decode_event(data: dict[str, Any]) -> EngineEvent:
    name = data.get("name")
    cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ProtocolError(f"unknown event type {name!r}")
    event: EngineEvent = decode_dataclass(cls, data.get("fields") or {})
    return event


def error_payload(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, EngineError):
        return {"code": exc.code, "message": exc.message, "permanent": exc.permanent}
    return {"code": "engine_error", "message": f"{type(exc).__name__}: {exc}", "permanent": False}


def error_from_payload(payload: dict[str, Any]) -> EngineError:
    return EngineError(
        str(payload.get("code", "engine_error")),
        str(payload.get("message", "")),
        permanent=bool(payload.get("permanent", False)),
    )
