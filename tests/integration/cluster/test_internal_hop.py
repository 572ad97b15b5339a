"""The internal command hop: refused without the cluster's signature, run with it."""

from __future__ import annotations

import json
import secrets
import time

import httpx

from tests.conftest import Server
from zapgate.services.commands import HOP_HEADER, HOP_WINDOW, sign

URL = "/internal/v1/commands"


def asking(
    cid: str,
    command: str,
    args: dict[str, object] | None = None,
    *,
    node: str | None = None,
    nonce: str | None = None,
    expires: float | None = None,
) -> str:
    """A command as a node sends it: addressed to a node (None: a single node), once,
    and (``expires``) run only until its asker stops waiting."""
    asked = {
        "connection_id": cid,
        "command": command,
        "args": args or {},
        "node": node,
        "nonce": secrets.token_hex(16) if nonce is None else nonce,
    }
    return json.dumps(asked if expires is None else {**asked, "expires": expires})


async def test_unsigned_stale_or_forged_commands_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str], server: Server
) -> None:
    made = await client.post("/api/v1/connections", headers=admin, json={"name": "hop"})
    body = asking(made.json()["id"], "start")
    secret = server.runtime.settings.secret()
    now = int(time.time())
    for header in (
        None,
        "garbage",
        "9" * 400 + ".00",  # a timestamp too large for any clock
        sign("x" * 40, str(now), body.encode()),  # another cluster's secret
        sign(secret, str(now - int(HOP_WINDOW) - 5), body.encode()),  # replayed later
        sign(secret, str(now), b"{}"),  # signature of another body
    ):
        headers = {HOP_HEADER: header} if header else {}
        answer = await client.post(URL, content=body, headers=headers)
        assert answer.status_code == 403, (header, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"
    # Not even a user's credential opens it.
    answer = await client.post(URL, content=body, headers=admin)
    assert answer.status_code == 403

    signed = {HOP_HEADER: sign(secret, str(now), body.encode())}
    answer = await client.post(URL, content=body, headers=signed)
    assert answer.status_code == 200, answer.text
    # The same signed command again (a replay from the wire), or one for another node.
    again = await client.post(URL, content=body, headers=signed)
    assert (again.status_code, again.json()["error"]["code"]) == (403, "forbidden")
    for other in (asking(made.json()["id"], "stop", node="node-b"), asking("x", "stop", nonce="")):
        refused = await client.post(
            URL, content=other, headers={HOP_HEADER: sign(secret, str(now), other.encode())}
        )
        assert refused.status_code == 403, refused.text
    status = await client.get(f"/api/v1/connections/{made.json()['id']}", headers=admin)
    assert status.json()["state"] != "idle"

    unknown = asking(made.json()["id"], "explode")
    answer = await client.post(
        URL, content=unknown, headers={HOP_HEADER: sign(secret, str(now), unknown.encode())}
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "unknown_command"
    bad = json.dumps({"command": 1, "nonce": secrets.token_hex(16)}).encode()
    answer = await client.post(URL, content=bad, headers={HOP_HEADER: sign(secret, str(now), bad)})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "bad_command"


async def test_a_command_arriving_after_its_asker_gave_up_is_not_run(
    client: httpx.AsyncClient, admin: dict[str, str], server: Server
) -> None:
    """An owner paused past the asking node's wait gets the command when it wakes: the
    asker has answered ``node_unreachable`` already, so it must not run (a delete the
    user was told failed must not happen after all)."""
    made = await client.post("/api/v1/connections", headers=admin, json={"name": "hop"})
    cid = made.json()["id"]
    secret = server.runtime.settings.secret()

    async def ask(expires: float) -> httpx.Response:
        body = asking(cid, "start", expires=expires)
        header = sign(secret, str(int(time.time())), body.encode())
        return await client.post(URL, content=body, headers={HOP_HEADER: header})

    late = await ask(time.time() - 1)
    assert (late.status_code, late.json()["error"]["code"]) == (503, "node_unreachable")
    status = await client.get(f"/api/v1/connections/{cid}", headers=admin)
    assert status.json()["state"] == "idle"
    in_time = await ask(time.time() + 30)
    assert in_time.status_code == 200, in_time.text
    status = await client.get(f"/api/v1/connections/{cid}", headers=admin)
    assert status.json()["state"] != "idle"


async def test_carried_engine_calls_are_an_allow_list(
    client: httpx.AsyncClient, admin: dict[str, str], server: Server
) -> None:
    made = await client.post("/api/v1/connections", headers=admin, json={"name": "hop"})
    secret = server.runtime.settings.secret()

    async def ask(args: dict[str, object]) -> httpx.Response:
        body = asking(made.json()["id"], "engine", args)
        header = sign(secret, str(int(time.time())), body.encode())
        return await client.post(URL, content=body, headers={HOP_HEADER: header})

    # Only the listed engine calls: never a lifecycle call, a send or a private method.
    for method in ("logout", "send", "delete_session", "_sink", "close"):
        answer = await ask({"method": method, "args": {}})
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "unknown_engine_call"
    answer = await ask({"method": "check_numbers", "args": {"phones": "not a list"}})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "bad_command"
    # A listed call on a session that is not running: the engine's error, as data.
    answer = await ask({"method": "check_numbers", "args": {"phones": ["5511977770001"]}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["engine_error"]["code"] == "not_connected"
