"""``POST /internal/v1/commands``: a command another node of the cluster carries here,
to the node that runs the connection (``services/commands.py``). Signed with the
cluster's shared secret, not a user's credential: the asking node checked the caller.
Not part of the public API (absent from the OpenAPI document)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from zapgate.api.deps import RuntimeDep
from zapgate.domain.errors import Invalid

router = APIRouter(include_in_schema=False)


@router.post("/internal/v1/commands")
async def run_command(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    commands = runtime.connections.commands
    body = await request.body()
    commands.verify(request.headers.get("x-zapgate-hop"), body)
    try:
        asked = json.loads(body)
        connection_id, command = str(asked["connection_id"]), str(asked["command"])
        args = dict(asked.get("args") or {})
    except (ValueError, KeyError, TypeError) as exc:
        raise Invalid(
            "a command needs connection_id, command and args", code="bad_command"
        ) from exc
    return await commands.run_here(connection_id, command, args)
