"""The simulator control use cases: tenancy checks in front of the simulator engine."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict
from typing import Any

from zapgate.domain.behaviour import check_proxy_url, proxy_display
from zapgate.domain.errors import Invalid, NotFound
from zapgate.domain.messages import ContactCard, Location
from zapgate.domain.polls import checked_poll
from zapgate.domain.roles import Role
from zapgate.engines.events import Reaction
from zapgate.engines.simulator.engine import SimulatorEngine
from zapgate.engines.simulator.inbound import SimMedia
from zapgate.engines.simulator.settings import SimulatorSettings
from zapgate.services.connections import ConnectionService
from zapgate.services.context import Principal


class SimulationService:
    def __init__(self, engine: SimulatorEngine, connections: ConnectionService, *, max_media: int):
        self.engine = engine
        self._connections = connections
        self._max_media = max_media

    async def _session(self, principal: Principal, connection_id: str) -> str:
        principal.require(Role.AGENT)
        row = await self._connections.get(principal, connection_id)
        return row.id

    async def scan(
        self, principal: Principal, connection_id: str, *, phone: str, push_name: str | None
    ) -> None:
        sid = await self._session(principal, connection_id)
        await self.engine.scan(sid, phone, push_name)

    async def enter_pairing_code(self, principal: Principal, connection_id: str, code: str) -> None:
        sid = await self._session(principal, connection_id)
        await self.engine.enter_pairing_code(sid, code)

    async def incoming(self, principal: Principal, connection_id: str, body: dict[str, Any]) -> str:
        sid = await self._session(principal, connection_id)
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
        sid = await self._session(principal, connection_id)
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
        sid = await self._session(principal, connection_id)
        results = await self.engine.group_action(
            sid, group=group, actor=actor, action=action, value=value, phones=phones
        )
        return [asdict(r) for r in results]

    async def call(
        self, principal: Principal, connection_id: str, *, from_phone: str, is_video: bool
    ) -> dict[str, Any]:
        sid = await self._session(principal, connection_id)
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
        sid = await self._session(principal, connection_id)
        await self.engine.presence(sid, from_phone=from_phone, presence=presence, group=group)

    async def activity(self, principal: Principal, connection_id: str) -> dict[str, Any]:
        """What the network saw this connection do besides sending: read receipts,
        chat presence, and when it announced itself available."""
        sid = await self._session(principal, connection_id)
        own = self.engine.own_profile(sid)
        return {
            "reads": [asdict(r) for r in self.engine.reads(sid)],
            "presences": [asdict(r) for r in self.engine.presences(sid)],
            "online": self.engine.online(sid),
            "profile": asdict(own) if own is not None else None,
            "blocked": self.engine.blocked_by(sid),
        }

    async def drop(self, principal: Principal, connection_id: str) -> None:
        await self.engine.drop(await self._session(principal, connection_id))

    async def logout_from_phone(self, principal: Principal, connection_id: str) -> None:
        await self.engine.logout_from_phone(await self._session(principal, connection_id))

    async def ban(self, principal: Principal, connection_id: str, seconds: float) -> None:
        await self.engine.ban(await self._session(principal, connection_id), seconds)

    async def silence(self, principal: Principal, connection_id: str, silent: bool) -> None:
        await self.engine.silence(await self._session(principal, connection_id), silent)

    async def outbox(self, principal: Principal, connection_id: str) -> list[dict[str, Any]]:
        sid = await self._session(principal, connection_id)
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
        return self.engine.update_settings(**resolved).model_dump()

    async def set_on_whatsapp(self, principal: Principal, phone: str, on: bool | None) -> None:
        principal.require(Role.AGENT)
        await self.engine.set_on_whatsapp(phone, on)

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


def simulation_or_404(value: SimulationService | None) -> SimulationService:
    if value is None:
        raise NotFound("the simulator is not the engine of this server", code="not_found")
    return value
