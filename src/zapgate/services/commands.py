"""Connection commands carried to the node that runs the connection (docs/cluster.md).

On one node every command runs here. In a cluster, the node that answers the request
checks who may do what (the caller's organization and role), then, when another node
holds the connection's lease, carries the command to it over an internal HTTP hop:
``POST /internal/v1/commands`` on the owner's ``ZAPGATE_NODE_URL``, signed with
HMAC-SHA256 under the cluster's shared ``ZAPGATE_SECRET_KEY`` over a timestamp and the
body (refused when older than :data:`HOP_WINDOW` seconds). The owner runs it on its
runner and answers the outcome; an error comes back with its stable code and status,
as if the command had run where it was asked. A command carries the time its asker stops
waiting (``ZAPGATE_NODE_TIMEOUT``): arriving later (the owner was paused), it is refused,
so that a command answered ``node_unreachable`` never runs after all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from zapgate.domain.errors import DomainError, Gone, Invalid, NotFound
from zapgate.domain.states import ConnectionState
from zapgate.engines.base import PairingCode
from zapgate.engines.neonize.protocol import ProtocolError
from zapgate.services.engine_calls import call_encoded, decode_result, encode_args
from zapgate.sessions.runner import RunsElsewhere
from zapgate.sessions.supervisor import Supervisor
from zapgate.sessions.traffic import behaviour_of
from zapgate.store.db import Database
from zapgate.store.tables.cluster import NodeRow
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

HOP_HEADER = "X-Zapgate-Hop"
HOP_WINDOW = 30.0
HOP_TIMEOUT = 30.0
"""How long the asking node waits for the owner's answer (``ZAPGATE_NODE_TIMEOUT``)."""
COMMANDS = (
    "start",
    "stop",
    "reconnect",
    "logout",
    "pairing_code",
    "qr",
    "configure",
    "wait_settled",
    "push_name",
    "engine",
)
"""What another node may ask of the owner; ``engine`` is one of the engine calls in
``services/engine_calls.CARRIED``. The :attr:`Commands.handlers` add theirs (``simulate``,
``delete``)."""


Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Unowned = Callable[[], Awaitable[dict[str, Any] | None]]


class HopRefused(DomainError):
    code = "forbidden"
    status = 403


class HopExpired(DomainError):
    """A command that reached its node after the asking node stopped waiting: that node
    already answered ``node_unreachable``, so the command must not run now."""

    code = "node_unreachable"
    status = 503


class RemoteError(DomainError):
    """An error the owner answered, carried back with its code and status."""

    def __init__(self, message: str, *, code: str, status: int, details: Any = None) -> None:
        super().__init__(message, code=code, details=details)
        self.status = status


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"{timestamp}.{mac.hexdigest()}"


class Commands:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        supervisor: Supervisor,
        *,
        secret: str,
        timeout: float = HOP_TIMEOUT,
    ) -> None:
        self._db = db
        self._clock = clock
        self._supervisor = supervisor
        self._secret = secret
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self.handlers: dict[str, Handler] = {}
        """Commands answered above this module (``simulate``: ``services/simulation.py``)."""
        self.transport: httpx.AsyncBaseTransport | None = None
        """Tests: how the hop reaches other nodes (default: the network)."""
        self.forwarded = 0
        self._nonces: dict[str, float] = {}
        """Nonces of the hops run here, to their expiry (in order: the window is fixed)."""

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------ asking

    async def run(
        self,
        connection_id: str,
        command: str,
        args: dict[str, Any] | None = None,
        *,
        unowned: Unowned | None = None,
    ) -> dict[str, Any]:
        """Run ``command`` where the connection runs; its result (see :meth:`run_here`).

        ``unowned``: what to do here when no node runs the connection (default: answer
        ``connection_moving``); it answers None when a node claimed it meanwhile, which
        is then asked."""
        args = args or {}
        try:
            return await self.run_here(connection_id, command, args)
        except RunsElsewhere:
            pass
        for _ in range(2):
            owner = await self._owner_url(connection_id)
            if owner is None:
                if unowned is None:
                    raise _moving()
                done = await unowned()
                if done is not None:
                    return done
                continue  # a node claimed it meanwhile: ask that one
            node_id, url = owner
            try:
                return await self._hop(node_id, url, connection_id, command, args)
            except RemoteError as exc:
                # The node named had just given it up (and ran nothing): ask again.
                if exc.code != RunsElsewhere.code:
                    raise
        raise _moving()

    async def engine_call(self, connection_id: str, method: str, *args: Any) -> Any:
        """``engine.<method>(connection_id, *args)`` where the connection runs.

        On one node, or when this node runs it, a direct call (no encoding, no hop);
        else an engine call of ``engine_calls.CARRIED`` carried to the owner, whose
        result or :class:`EngineError` (same code) comes back as if it ran here."""
        supervisor = self._supervisor
        if supervisor.node_id is None or supervisor.find(connection_id) is not None:
            return await getattr(supervisor.engine, method)(connection_id, *args)
        encoded = {"method": method, "args": encode_args(method, args)}
        return decode_result(method, await self.run(connection_id, "engine", encoded))

    async def ready(self, connection_ids: list[str]) -> list[str]:
        """Those of ``connection_ids`` that are ``ready``, in order: as their runner
        says here; as their row says for those another node runs (cluster only)."""
        supervisor = self._supervisor
        found: set[str] = set()
        remote: list[str] = []
        for cid in connection_ids:
            runner = supervisor.find(cid)
            if runner is not None:
                if runner.state is ConnectionState.READY:
                    found.add(cid)
            elif supervisor.node_id is not None:
                remote.append(cid)
        if remote:
            async with self._db.read() as s:
                rows = await s.scalars(
                    select(ConnectionRow.id).where(
                        ConnectionRow.id.in_(remote),
                        ConnectionRow.state == ConnectionState.READY.value,
                        ConnectionRow.node_id.is_not(None),
                    )
                )
                found.update(rows.all())
        return [cid for cid in connection_ids if cid in found]

    async def is_ready(self, connection_id: str | None) -> bool:
        return connection_id is not None and bool(await self.ready([connection_id]))

    async def _owner_url(self, connection_id: str) -> tuple[str, str] | None:
        """(node, URL) of the node that runs the connection; None when none does."""
        async with self._db.read() as s:
            row = (
                await s.execute(
                    select(ConnectionRow.node_id, NodeRow.url)
                    .outerjoin(NodeRow, NodeRow.id == ConnectionRow.node_id)
                    .where(ConnectionRow.id == connection_id)
                )
            ).first()
        if row is None:
            raise NotFound("connection not found")
        node_id, url = row
        if node_id is None:
            return None
        if not url:
            raise RunsElsewhere(
                f"node {node_id} runs this connection and has no ZAPGATE_NODE_URL",
                code="node_unreachable",
            )
        return str(node_id), str(url)

    async def _hop(
        self, node_id: str, url: str, connection_id: str, command: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        # Addressed to one node, and once: the owner refuses it elsewhere or a second time.
        asked = {"connection_id": connection_id, "command": command, "args": args}
        nonce, expires = secrets.token_hex(16), time.time() + self._timeout
        body = json.dumps({**asked, "node": node_id, "nonce": nonce, "expires": expires})
        data = body.encode()
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=self.transport)
        headers = {
            HOP_HEADER: sign(self._secret, str(int(time.time())), data),
            "Content-Type": "application/json",
        }
        try:
            answer = await self._client.post(
                f"{url.rstrip('/')}/internal/v1/commands", content=data, headers=headers
            )
        except httpx.HTTPError as exc:
            raise RunsElsewhere(
                f"the node running this connection does not answer ({type(exc).__name__})",
                code="node_unreachable",
            ) from exc
        self.forwarded += 1
        outcome: dict[str, Any] = answer.json()
        if answer.status_code != 200:
            error = outcome.get("error", {})
            raise RemoteError(
                str(error.get("message", "the owner refused the command")),
                code=str(error.get("code", "error")),
                status=answer.status_code,
                details=error.get("details"),
            )
        return outcome

    # ------------------------------------------------------------ answering

    def verify(self, header: str | None, body: bytes) -> None:
        """Raise unless ``header`` signs ``body`` with the shared secret, recently."""
        if not header or "." not in header:
            raise HopRefused("internal commands need a signature")
        timestamp = header.split(".", 1)[0]
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise HopRefused("bad internal signature")
        age = abs(time.time() - int(timestamp))
        good = hmac.compare_digest(sign(self._secret, timestamp, body), header)
        if not good or age > HOP_WINDOW:
            raise HopRefused("bad internal signature")
        try:
            asked = json.loads(body)
        except ValueError:
            return  # signed but not JSON: the route answers ``bad_command``
        if not isinstance(asked, dict):
            return
        if asked.get("node") != self._supervisor.node_id:
            raise HopRefused("this command is addressed to another node")
        nonce = asked.get("nonce")
        if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
            raise HopRefused("internal commands need a nonce")
        expires = asked.get("expires")
        if isinstance(expires, int | float) and time.time() > expires:
            log.warning(
                "refused a command that came after its asking node stopped waiting",
                extra={
                    "command": asked.get("command"),
                    "connection_id": asked.get("connection_id"),
                },
            )
            raise HopExpired(
                "this command reached the node running the connection after the asking "
                "node had stopped waiting; it was not run"
            )
        now = time.monotonic()
        while self._nonces:
            oldest, expiry = next(iter(self._nonces.items()))
            if expiry > now:
                break
            del self._nonces[oldest]
        if nonce in self._nonces:
            raise HopRefused("this command was already carried here (a replay)")
        self._nonces[nonce] = now + 2 * HOP_WINDOW

    async def run_here(
        self, connection_id: str, command: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        """Run on this node's runner; raises ``RunsElsewhere`` when it has none."""
        if command not in COMMANDS and command not in self.handlers:
            raise NotFound(f"no such command: {command}", code="unknown_command")
        runner = self._supervisor.get(connection_id)
        handler = self.handlers.get(command)
        if handler is not None:
            return await handler(connection_id, args)
        if command == "pairing_code":
            code = await runner.pairing_code(str(args["phone"]))
            return {"code": code.code, "expires_at": code.expires_at.isoformat()}
        if command == "qr":
            current = runner.qr
            if current is not None and current.expires_at > self._clock.now():
                return {
                    "code": current.code,
                    "expires_at": current.expires_at.isoformat(),
                    "index": current.index,
                    "total": current.total,
                }
            if runner.qr_expired:
                raise Gone(
                    "the last QR code expired; start the connection again", code="qr_expired"
                )
            raise NotFound("no QR code is waiting to be scanned", code="qr_not_available")
        if command == "configure":
            async with self._db.read() as s:
                row = await s.get(ConnectionRow, connection_id)
            if row is not None:
                await runner.configure(behaviour_of(row, self._supervisor.box))
            return {}
        if command == "engine":
            try:
                method, encoded = str(args["method"]), dict(args.get("args") or {})
                return await call_encoded(self._supervisor.engine, connection_id, method, encoded)
            except (ProtocolError, KeyError, TypeError, ValueError) as exc:
                raise Invalid(f"a bad engine call: {exc}", code="bad_command") from exc
        if command == "wait_settled":
            await runner.wait_settled(float(args["timeout"]))
            return {}
        if command == "push_name":
            runner.push_name = str(args["name"])
            return {}
        action: Callable[[], Awaitable[None]] = getattr(runner, command)
        await action()
        return {}


def _moving() -> RunsElsewhere:
    return RunsElsewhere(
        "this connection is moving between nodes; retry in a few seconds",
        code="connection_moving",
    )


def pairing_from(result: dict[str, Any]) -> PairingCode:
    return PairingCode(
        code=str(result["code"]), expires_at=datetime.fromisoformat(result["expires_at"])
    )
