"""The group operations, run in the worker on a session's neonize client.

neonize raises its own exception per call with whatsmeow's error text; the text says
which WhatsApp error it was (``403 forbidden``, ``404 item-not-found``...), and that is
turned into the engine's stable codes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from zapgate.domain.errors import EngineError
from zapgate.domain.groups import ParticipantAction
from zapgate.engines.events import GroupInfo
from zapgate.engines.group_types import (
    INVITE_URL_PREFIX,
    GroupInvite,
    GroupUpdate,
    ParticipantResult,
    invite_code,
)
from zapgate.engines.neonize import convert, protocol

if TYPE_CHECKING:
    from zapgate.engines.neonize.session import WorkerSession

OPS = frozenset(
    {
        "group_create",
        "group_info",
        "group_update",
        "group_participants",
        "group_invite",
        "group_join",
        "group_leave",
    }
)

# whatsmeow's texts for the WhatsApp errors a group operation meets.
_NOT_ADMIN = ("403", "forbidden", "not-authorized", "not authorized")
_NOT_FOUND = ("404", "item-not-found", "not a participant", "not-participant")
_BAD_INVITE = ("406", "410", "gone", "not-acceptable", "invalid invite", "revoked")


def failure(exc: Exception, *, invite: bool = False) -> EngineError:
    text = str(exc).lower()
    if invite and any(k in text for k in (*_BAD_INVITE, *_NOT_FOUND)):
        return EngineError("invite_invalid", str(exc), permanent=True)
    if any(k in text for k in _NOT_ADMIN):
        return EngineError("not_group_admin", str(exc), permanent=True)
    if any(k in text for k in _NOT_FOUND):
        return EngineError("group_not_found", str(exc), permanent=True)
    return EngineError("group_failed", str(exc))


def _result(phone: str, part: Any) -> ParticipantResult:
    if part is None:
        return ParticipantResult(phone, False, None, "no_answer")
    error = int(part.Error)
    jid = convert.jid_str(part.JID) or None
    return ParticipantResult(phone, error == 0, jid, str(error) if error else None)


def run(session: WorkerSession, op: str, args: dict[str, Any]) -> Any:
    """Carry out one group operation; raises :class:`EngineError`."""
    client = session.ready_client()
    gate = session.gate
    jid = convert.make_jid(str(args["jid"])) if "jid" in args else None
    try:
        with gate.hold():
            if op == "group_create":
                members = [convert.make_jid(f"{p}@{convert.USER_SERVER}") for p in args["phones"]]
                info = client.create_group(str(args["subject"]), members)
                return convert.group_info(session.session_id, info)
            if op == "group_info":
                return convert.group_info(session.session_id, client.get_group_info(jid))
            if op == "group_update":
                return _update(client, jid, protocol.decode_dataclass(GroupUpdate, args["update"]))
            if op == "group_participants":
                from neonize.utils.enum import ParticipantChange

                phones = [str(p) for p in args["phones"]]
                answer = client.update_group_participants(
                    jid,
                    [convert.make_jid(f"{p}@{convert.USER_SERVER}") for p in phones],
                    ParticipantChange(ParticipantAction(args["action"]).value),
                )
                by_user = {p.JID.User: p for p in answer}
                by_user.update({p.PhoneNumber.User: p for p in answer if p.PhoneNumber.User})
                return [_result(phone, by_user.get(phone)) for phone in phones]
            if op == "group_invite":
                link = client.get_group_invite_link(jid, bool(args.get("revoke")))
                code = invite_code(link)
                return GroupInvite(code, INVITE_URL_PREFIX + code)
            if op == "group_join":
                joined = client.join_group_with_link(invite_code(str(args["code"])))
                return convert.group_info(session.session_id, client.get_group_info(joined))
            client.leave_group(jid)
            return None
    except EngineError:
        raise
    except Exception as exc:
        raise failure(exc, invite=op == "group_join") from exc


def _update(client: Any, jid: Any, update: GroupUpdate) -> None:
    if update.subject is not None:
        client.set_group_name(jid, update.subject)
    if update.description is not None:
        current = client.get_group_info(jid)
        previous = current.GroupTopic.TopicID if current.HasField("GroupTopic") else ""
        # An empty new id lets whatsmeow pick one.
        client.set_group_topic(jid, previous, "", update.description)
    if update.picture is not None:
        client.set_group_photo(jid, update.picture)


class NeonizeGroups:
    """The engine side: each operation is one request to the session's worker."""

    _call: Callable[[str, str, dict[str, Any]], Awaitable[Any]]
    """The request to the session's worker (``NeonizeEngine._call``)."""

    async def create_group(self, session_id: str, subject: str, phones: list[str]) -> GroupInfo:
        result = await self._call(
            session_id, "group_create", {"subject": subject, "phones": phones}
        )
        return protocol.decode_dataclass(GroupInfo, result)

    async def group_info(self, session_id: str, jid: str) -> GroupInfo:
        result = await self._call(session_id, "group_info", {"jid": jid})
        return protocol.decode_dataclass(GroupInfo, result)

    async def update_group(self, session_id: str, jid: str, update: GroupUpdate) -> None:
        await self._call(session_id, "group_update", {"jid": jid, "update": update})

    async def update_participants(
        self, session_id: str, jid: str, action: ParticipantAction, phones: list[str]
    ) -> list[ParticipantResult]:
        result = await self._call(
            session_id, "group_participants", {"jid": jid, "action": action, "phones": phones}
        )
        results: list[ParticipantResult] = protocol.from_json(list[ParticipantResult], result)
        return results

    async def group_invite(self, session_id: str, jid: str, revoke: bool = False) -> GroupInvite:
        result = await self._call(session_id, "group_invite", {"jid": jid, "revoke": revoke})
        return protocol.decode_dataclass(GroupInvite, result)

    async def join_group(self, session_id: str, code: str) -> GroupInfo:
        result = await self._call(session_id, "group_join", {"code": code})
        return protocol.decode_dataclass(GroupInfo, result)

    async def leave_group(self, session_id: str, jid: str) -> None:
        await self._call(session_id, "group_leave", {"jid": jid})
