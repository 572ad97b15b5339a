"""Engine calls carried to the node that runs the connection, as JSON (docs/cluster.md).

An engine call is a method of the :class:`~zapgate.engines.base.Engine` protocol named in
:data:`CARRIED`, the connection's id as its first argument, and arguments the protocol's
type hints describe. The asking node encodes the arguments by name
(:func:`encode_args`); the owner rebuilds them from the protocol's hints and calls its
engine (:func:`call_encoded`), answering the result as JSON or the engine's error as
``{"engine_error": {code, message, permanent}}``; the asking node rebuilds the result
(:func:`decode_result`) or raises the same :class:`EngineError`. The values travel in
the neonize worker protocol's encoding (dataclasses as objects, bytes as base64),
which already round-trips every one of these types.
"""

from __future__ import annotations

import inspect
import typing
from functools import cache
from typing import Any, Final

from zapgate.domain.errors import EngineError, NotFound
from zapgate.engines.base import Engine
from zapgate.engines.neonize.protocol import error_from_payload, error_payload, from_json, to_json

CARRIED: Final = frozenset(
    {
        "check_numbers",
        "get_groups",
        "create_group",
        "group_info",
        "update_group",
        "update_participants",
        "group_invite",
        "join_group",
        "leave_group",
        "contact_profile",
        "set_blocked",
        "update_profile",
        "edit_message",
        "revoke_message",
        "mark_read",
        "send_presence",
        "set_presence",
    }
)
"""The engine calls another node may ask for. Lifecycle calls (open, close, logout) go
through the runner's commands instead, sends through the outbox, and downloads are the
owner's inbound pipeline's own."""


@cache
def _shape(method: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The protocol's parameter names after the session id, and every hint."""
    if method not in CARRIED:
        raise NotFound(f"no such engine call: {method}", code="unknown_engine_call")
    function = getattr(Engine, method)
    names = tuple(inspect.signature(function).parameters)[2:]  # self, session_id
    return names, typing.get_type_hints(function)


def encode_args(method: str, args: tuple[Any, ...]) -> dict[str, Any]:
    names, _ = _shape(method)
    if len(args) > len(names):
        raise TypeError(f"{method} takes {len(names)} arguments after the session id")
    return {name: to_json(value) for name, value in zip(names, args, strict=False)}


async def call_encoded(
    engine: Engine, connection_id: str, method: str, args: dict[str, Any]
) -> dict[str, Any]:
    """Run the call here; its result, or the engine's error, as JSON."""
    names, hints = _shape(method)
    values = [from_json(hints[name], args[name]) for name in names if name in args]
    try:
        result = await getattr(engine, method)(connection_id, *values)
    except EngineError as exc:
        return {"engine_error": error_payload(exc)}
    return {"result": to_json(result)}


def decode_result(method: str, answer: dict[str, Any]) -> Any:
    """The call's result from the owner's answer; raises the owner's EngineError."""
    if "engine_error" in answer:
        raise error_from_payload(answer["engine_error"])
    _, hints = _shape(method)
    return from_json(hints["return"], answer.get("result"))
