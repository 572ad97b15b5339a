"""The simulator control use cases: tenancy checks in front of the simulator engine."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from zapgate.domain.behaviour import check_proxy_url, proxy_display
from zapgate.domain.errors import Invalid, NotFound
from zapgate.domain.messages import ContactCard, Location
from zapgate.domain.phones import normalize_phone
from zapgate.domain.polls import checked_poll
from zapgate.domain.roles import Role
from zapgate.engines.events import Reaction
from zapgate.engines.simulator.engine import SimulatorEngine
from zapgate.engines.simulator.inbound import SimMedia
from zapgate.engines.simulator.settings import SimulatorSettings
from zapgate.services.connections import ConnectionService
from zapgate.services.context import Principal
from zapgate.util.tasks import TaskOwner

if TYPE_CHECKING:
    from zapgate.cluster.node import ClusterNode

log = logging.getLogger(__name__)

OPS = frozenset(
    {
        "scan",
        "enter_pairing_code",
        "incoming",
        "receipt",
        "group_action",
        "call",
        "presence",
        "activity",
        "drop",
        "logout_from_phone",
        "ban",
        "silence",
        "outbox",
    }
)
"""The per-connection controls, carried to the node running the connection."""

SHARED = "simulator:"
"""Wake-up payload prefix of a node-wide control (settings, numbers on WhatsApp, the
network switch): the node it was asked of applies it, then every other node does."""
SHARED_MAX = 7_000
"""Bytes of such a payload at most (PostgreSQL's NOTIFY takes under 8,000)."""


class SimulationService:
    def __init__(
        self,
        engine: SimulatorEngine,
        connections: ConnectionService,
        *,
        max_media: int,
        node: ClusterNode | None = None,
    ):
        """``node``: in a cluster, node-wide controls are shared with every node through
        its wake-ups (each node's simulator is its own; docs/cluster.md)."""
        self.engine = engine
        self._connections = connections
        self._max_media = max_media
        self._node = node
        self._tasks = TaskOwner("simulation")
        self._in_order = asyncio.Lock()
        self._closed = False
        connections.commands.handlers["simulate"] = self._answer
        if node is not None:
            node.wakeups.subscribe(self._told)

    # Node-wide: applied here, then announced; every other node applies what it is told.
    # A node started later begins with the defaults.

    def _share(self, op: str, args: dict[str, Any]) -> None:
        if self._node is None:
            return
        payload = SHARED + json.dumps({"node": self._node.id, "op": op, "args": args})
        self._node.wakeups.announce(payload)

    def _shareable(self, op: str, args: dict[str, Any]) -> None:
        """Refuse, before anything is applied, a control too large to tell the others."""
        if self._node is not None and len(json.dumps({"op": op, "args": args})) > SHARED_MAX:
            raise Invalid(
                "this change is too large to share with the other nodes of the cluster",
                code="too_large_for_cluster",
            )

    def _told(self, payload: str) -> None:
        if not payload.startswith(SHARED) or self._node is None:
            return
        try:
            told = json.loads(payload[len(SHARED) :])
            if told["node"] == self._node.id:
                return  # applied here when it was asked
            op, args = str(told["op"]), dict(told["args"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed simulator control from another node")
            return
        if self._closed:
            return
        self._tasks.spawn(self._apply(op, args), name=f"simulator {op} from another node")

    async def _apply(self, op: str, args: dict[str, Any]) -> None:
        # One after the other, in the order told: tasks start in the order they were
        # spawned, and the lock hands itself over first come, first served.
        async with self._in_order:
            await self._apply_now(op, args)

    async def _apply_now(self, op: str, args: dict[str, Any]) -> None:
        match op:
            case "settings":
                self.engine.update_settings(**args)
            case "numbers":
                await self.engine.set_on_whatsapp(str(args["phone"]), args["on"])
            case "network":
                await self.engine.set_network(bool(args["up"]))
            case _:
                log.warning("unknown simulator control from another node", extra={"op": op})

    async def close(self) -> None:
        """Stop applying what other nodes tell (before the sessions close)."""
        self._closed = True
        await self._tasks.close(timeout=2.0)

    async def _session(self, principal: Principal, connection_id: str) -> str:
        principal.require(Role.AGENT)
        row = await self._connections.get(principal, connection_id)
        return row.id

    # Per connection: run where the connection runs (docs/cluster.md). The public
    # methods check the caller here; ``_do_<op>`` acts on the owner's simulator and
    # answers JSON, so a control carried to another node answers the same.

    async def _carry(self, principal: Principal, connection_id: str, op: str, **kw: Any) -> Any:
        sid = await self._session(principal, connection_id)
        supervisor = self._connections.supervisor
        if supervisor.node_id is None or supervisor.find(sid) is not None:
            return await self.here(sid, op, kw)
        answer = await self._connections.commands.run(sid, "simulate", {"op": op, "kwargs": kw})
        return answer.get("result")

    async def here(self, session_id: str, op: str, kwargs: dict[str, Any]) -> Any:
        if op not in OPS:
            raise NotFound(f"no such simulator control: {op}", code="unknown_command")
        return await getattr(self, f"_do_{op}")(session_id, **kwargs)

    async def _answer(self, session_id: str, args: dict[str, Any]) -> dict[str, Any]:
        """The owner's side of a carried control (``services/commands.py``)."""
        try:
            op, kwargs = str(args["op"]), dict(args.get("kwargs") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise Invalid("a simulator control needs op and kwargs", code="bad_command") from exc
        return {"result": await self.here(session_id, op, kwargs)}

    async def scan(
        self, principal: Principal, connection_id: str, *, phone: str, push_name: str | None
    ) -> None:
        await self._carry(principal, connection_id, "scan", phone=phone, push_name=push_name)

    async def _do_scan(self, sid: str, phone: str, push_name: str | None) -> None:
        await self.engine.scan(sid, phone, push_name)

    async def enter_pairing_code(self, principal: Principal, connection_id: str, code: str) -> None:
        await self._carry(principal, connection_id, "enter_pairing_code", code=code)

    async def _do_enter_pairing_code(self, sid: str, code: str) -> None:
        await self.engine.enter_pairing_code(sid, code)

    async def incoming(self, principal: Principal, connection_id: str, body: dict[str, Any]) -> str:
        return str(await self._carry(principal, connection_id, "incoming", body=body))

    async def _do_incoming(self, sid: str, body: dict[str, Any]) -> str:
        if body.get("type") == "poll_vote":
            if not body.get("poll_message_id"):
                raise Invalid("a poll_vote needs poll_message_id", code="missing_content")
            return await self.engine.vote(
                sid,
                from_phone=body["from_"],
                poll_message_id=body["poll_message_id"],
                options=list(body.get("options") or []),
                push_name=body.get("push_name"),
            )
        poll = None
        if body.get("poll"):
            raw_poll = body["poll"]
            poll = checked_poll(raw_poll["question"], raw_poll["options"], raw_poll["multiple"])
        media = None
        if body.get("media"):
            raw = body["media"]
            try:
                data = base64.b64decode(raw["base64"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise Invalid("media.base64 is not valid base64", code="invalid_media") from exc
            if len(data) > self._max_media:
                raise Invalid("media is larger than the limit", code="media_too_large")
            media = SimMedia(data=data, mimetype=raw["mimetype"], filename=raw.get("filename"))
        location = Location(**body["location"]) if body.get("location") else None
        contact = ContactCard(**body["contact"]) if body.get("contact") else None
        reaction = None
        if body.get("reaction"):
            reaction = Reaction(
                target_id=body["reaction"]["message_id"], emoji=body["reaction"]["emoji"]
            )
        return await self.engine.incoming(
            sid,
            from_phone=body["from_"],
            text=body.get("text"),
            type=body.get("type"),
            caption=body.get("caption"),
            push_name=body.get("push_name"),
            media=media,
            group=body.get("group"),
            group_name=body.get("group_name"),
            quoted_id=body.get("quoted_id"),
            location=location,
            contact=contact,
            reaction=reaction,
            mentions=tuple(body.get("mentions") or ()),
            message_id=body.get("message_id"),
            poll=poll,
            as_lid=bool(body.get("as_lid")),
            with_phone=body.get("with_phone", True) is not False,
        )

    async def receipt(
        self, principal: Principal, connection_id: str, *, wa_message_id: str, type: str
    ) -> None:
        await self._carry(
            principal, connection_id, "receipt", wa_message_id=wa_message_id, type=type
        )

    async def _do_receipt(self, sid: str, wa_message_id: str, type: str) -> None:
        await self.engine.receipt(sid, wa_message_id, type)

    async def group_action(
        self,
        principal: Principal,
        connection_id: str,
        *,
        group: str,
        actor: str,
        action: str,
        value: str | None,
        phones: list[str],
    ) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = await self._carry(
            principal,
            connection_id,
            "group_action",
            group=group,
            actor=actor,
            action=action,
            value=value,
            phones=phones,
        )
        return results

    async def _do_group_action(self, sid: str, **kw: Any) -> list[dict[str, Any]]:
        return [asdict(r) for r in await self.engine.group_action(sid, **kw)]

    async def call(
        self, principal: Principal, connection_id: str, *, from_phone: str, is_video: bool
    ) -> dict[str, Any]:
        answer: dict[str, Any] = await self._carry(
            principal, connection_id, "call", from_phone=from_phone, is_video=is_video
        )
        return answer

    async def _do_call(self, sid: str, from_phone: str, is_video: bool) -> dict[str, Any]:
        event = await self.engine.call(sid, from_phone=from_phone, is_video=is_video)
        return {"call_id": event.call_id, "rejected": event.rejected}

    async def presence(
        self,
        principal: Principal,
        connection_id: str,
        *,
        from_phone: str,
        presence: str,
        group: str | None = None,
    ) -> None:
        await self._carry(
            principal,
            connection_id,
            "presence",
            from_phone=from_phone,
            presence=presence,
            group=group,
        )

    async def _do_presence(self, sid: str, **kw: Any) -> None:
        await self.engine.presence(sid, **kw)

    async def activity(self, principal: Principal, connection_id: str) -> dict[str, Any]:
        """What the network saw this connection do besides sending: read receipts,
        chat presence, and when it announced itself available."""
        answer: dict[str, Any] = await self._carry(principal, connection_id, "activity")
        return answer

    async def _do_activity(self, sid: str) -> dict[str, Any]:
        own = self.engine.own_profile(sid)
        return {
            "reads": [asdict(r) for r in self.engine.reads(sid)],
            "presences": [asdict(r) for r in self.engine.presences(sid)],
            "online": self.engine.online(sid),
            "profile": asdict(own) if own is not None else None,
            "blocked": self.engine.blocked_by(sid),
        }

    async def drop(self, principal: Principal, connection_id: str) -> None:
        await self._carry(principal, connection_id, "drop")

    async def _do_drop(self, sid: str) -> None:
        await self.engine.drop(sid)

    async def logout_from_phone(self, principal: Principal, connection_id: str) -> None:
        await self._carry(principal, connection_id, "logout_from_phone")

    async def _do_logout_from_phone(self, sid: str) -> None:
        await self.engine.logout_from_phone(sid)

    async def ban(self, principal: Principal, connection_id: str, seconds: float) -> None:
        await self._carry(principal, connection_id, "ban", seconds=seconds)

    async def _do_ban(self, sid: str, seconds: float) -> None:
        await self.engine.ban(sid, seconds)

    async def silence(self, principal: Principal, connection_id: str, silent: bool) -> None:
        await self._carry(principal, connection_id, "silence", silent=silent)

    async def _do_silence(self, sid: str, silent: bool) -> None:
        await self.engine.silence(sid, silent)

    async def outbox(self, principal: Principal, connection_id: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = await self._carry(principal, connection_id, "outbox")
        return entries

    async def _do_outbox(self, sid: str) -> list[dict[str, Any]]:
        return [asdict(entry) for entry in self.engine.outbox(sid)]

    def settings(self, principal: Principal, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes``; a ``None`` puts that setting back to its default."""
        principal.require(Role.ADMIN)
        if changes.get("dead_proxies") is not None:
            # Matched by scheme, host and port: whoever dials through them, they are down.
            changes = {
                **changes,
                "dead_proxies": tuple(
                    proxy_display(check_proxy_url(url)) for url in changes["dead_proxies"]
                ),
            }
        defaults = SimulatorSettings()
        resolved = {
            name: getattr(defaults, name) if value is None else value
            for name, value in changes.items()
        }
        self._shareable("settings", resolved)
        applied = self.engine.update_settings(**resolved).model_dump()
        self._share("settings", {name: applied[name] for name in resolved})
        return applied

    async def set_on_whatsapp(self, principal: Principal, phone: str, on: bool | None) -> None:
        principal.require(Role.AGENT)
        await self.engine.set_on_whatsapp(phone, on)
        self._share("numbers", {"phone": normalize_phone(phone), "on": on})

    async def set_contact_profile(
        self,
        principal: Principal,
        phone: str,
        *,
        picture: dict[str, Any] | None,
        keep_picture: bool,
        is_business: bool | None,
    ) -> None:
        principal.require(Role.AGENT)
        data = None
        mimetype = "image/jpeg"
        if picture is not None:
            try:
                data = base64.b64decode(picture["base64"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise Invalid("picture.base64 is not valid base64", code="invalid_media") from exc
            mimetype = picture["mimetype"]
        self.engine.set_contact_profile(
            phone,
            picture=data,
            mimetype=mimetype,
            is_business=is_business,
            keep_picture=keep_picture,
        )

    async def set_network(self, principal: Principal, up: bool) -> None:
        principal.require(Role.ADMIN)
        await self.engine.set_network(up)
        self._share("network", {"up": up})


def simulation_or_404(value: SimulationService | None) -> SimulationService:
    if value is None:
        raise NotFound("the simulator is not the engine of this server", code="not_found")
    return value
