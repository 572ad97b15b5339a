"""Groups on the simulated network: the group operations of the Engine protocol, and
other members acting on a group (the ``group-action`` control).

WhatsApp's rules as modelled: any member may change the subject, description and
picture; only admins change participants and see or revoke the invite link; whoever
creates a group is its super admin. A change made by a connection is reported to the
*other* linked connections in the group, never back to the one that made it (its caller
already knows), like a change made by another member is reported to this one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable

from zapgate.domain.errors import EngineError, Forbidden, Invalid, NotFound
from zapgate.domain.groups import ParticipantAction
from zapgate.domain.phones import normalize_phone, user_jid
from zapgate.engines.events import (
    EngineEvent,
    GroupChanged,
    GroupInfo,
    GroupMember,
    GroupParticipantsChanged,
)
from zapgate.engines.group_types import (
    INVITE_URL_PREFIX,
    GroupField,
    GroupInvite,
    GroupUpdate,
    ParticipantResult,
    invite_code,
)
from zapgate.engines.simulator import lifecycle as lc
from zapgate.engines.simulator.inbound import group_info
from zapgate.engines.simulator.qr import group_jid_for, lid_for
from zapgate.engines.simulator.state import Group

SUBJECT_MAX = 100
"""WhatsApp refuses longer subjects."""
DESCRIPTION_MAX = 2048


def member(phone: str) -> GroupMember:
    return GroupMember(jid=user_jid(phone), phone=phone, lid=lid_for(phone))


def _subject(value: str) -> str:
    subject = value.strip()
    if not subject or len(subject) > SUBJECT_MAX:
        raise EngineError(
            "invalid_subject", f"a subject has 1 to {SUBJECT_MAX} characters", permanent=True
        )
    return subject


def _new_invite() -> str:
    return secrets.token_urlsafe(16)[:22]


class SimulatorGroups(lc.SessionLifecycle):
    # ---------------------------------------------------------------- protocol

    async def create_group(self, session_id: str, subject: str, phones: list[str]) -> GroupInfo:
        _, account = await self._ready(session_id)
        name = _subject(subject)
        members = [account.phone]
        for raw in phones:
            phone = _phone(raw)
            if self.network.is_on_whatsapp(phone) and phone not in members:
                members.append(phone)
        jid = group_jid_for(f"{account.phone}:{name}:{os.urandom(8).hex()}")
        group = Group(jid, name, members, admins=[account.phone])
        self.network.add_group(group)
        return group_info(session_id, group)

    async def group_info(self, session_id: str, jid: str) -> GroupInfo:
        _, account = await self._ready(session_id)
        return group_info(session_id, self._membership(jid, account.phone))

    async def update_group(self, session_id: str, jid: str, update: GroupUpdate) -> None:
        _, account = await self._ready(session_id)
        group = self._membership(jid, account.phone)
        changes: list[tuple[GroupField, str | None]] = []
        if update.subject is not None:
            group.name = _subject(update.subject)
            changes.append((GroupField.SUBJECT, group.name))
        if update.description is not None:
            if len(update.description) > DESCRIPTION_MAX:
                raise EngineError(
                    "invalid_description", "the description is too long", permanent=True
                )
            group.topic = update.description or None
            changes.append((GroupField.DESCRIPTION, group.topic))
        if update.picture is not None:
            group.picture = hashlib.sha256(update.picture).hexdigest()[:20]
            changes.append((GroupField.PICTURE, group.picture))
        self.network.group_saved()
        actor = member(account.phone)
        for field, value in changes:
            self._notify(group, account.phone, _changed(group.jid, field, value, actor, self))

    async def update_participants(
        self, session_id: str, jid: str, action: ParticipantAction, phones: list[str]
    ) -> list[ParticipantResult]:
        _, account = await self._ready(session_id)
        group = self._membership(jid, account.phone)
        if not group.is_admin(account.phone):
            raise EngineError("not_group_admin", f"not an admin of {jid}", permanent=True)
        return self._change_participants(group, account.phone, ParticipantAction(action), phones)

    async def group_invite(self, session_id: str, jid: str, revoke: bool = False) -> GroupInvite:
        _, account = await self._ready(session_id)
        group = self._membership(jid, account.phone)
        if not group.is_admin(account.phone):
            raise EngineError("not_group_admin", f"not an admin of {jid}", permanent=True)
        if revoke or group.invite is None:
            group.invite = _new_invite()
            self.network.group_saved()
        return GroupInvite(group.invite, INVITE_URL_PREFIX + group.invite)

    async def join_group(self, session_id: str, code: str) -> GroupInfo:
        _, account = await self._ready(session_id)
        group = self.network.group_by_invite(invite_code(code))
        if group is None:
            raise EngineError(
                "invite_invalid", "the invite link is invalid or was revoked", permanent=True
            )
        if account.phone not in group.participants:
            group.participants.append(account.phone)
            self.network.group_saved()
            self._notify(
                group,
                account.phone,
                lambda sid: GroupParticipantsChanged(
                    sid,
                    group.jid,
                    ParticipantAction.ADD,
                    (member(account.phone),),
                    member(account.phone),
                    self.clock.now(),
                ),
            )
        return group_info(session_id, group)

    async def leave_group(self, session_id: str, jid: str) -> None:
        _, account = await self._ready(session_id)
        group = self._membership(jid, account.phone)
        group.participants.remove(account.phone)
        if account.phone in group.admins:
            group.admins.remove(account.phone)
        self.network.group_saved()
        self._notify(
            group,
            account.phone,
            lambda sid: GroupParticipantsChanged(
                sid,
                group.jid,
                ParticipantAction.REMOVE,
                (member(account.phone),),
                member(account.phone),
                self.clock.now(),
            ),
        )

    # ---------------------------------------------------------------- control

    async def group_action(
        self,
        session_id: str,
        *,
        group: str,
        actor: str,
        action: str,
        value: str | None = None,
        phones: list[str] | None = None,
    ) -> list[ParticipantResult]:
        """Another member ``actor`` changes a group this connection is in; the change is
        reported to this connection (and any other linked member) as WhatsApp would."""
        account = self.network.account(session_id)
        target = self.network.group(group)
        if account is None or target is None or account.phone not in target.participants:
            raise NotFound("this connection is not in that group", code="group_not_found")
        phone = normalize_phone(actor)
        if phone not in target.participants:
            raise Invalid(f"{phone} is not a member of the group", code="actor_not_member")
        if phone == account.phone:
            raise Invalid("the connection acts through the groups API", code="invalid_actor")
        if action in {f.value for f in GroupField if f is not GroupField.PICTURE}:
            self._set_field(target, phone, GroupField(action), value)
            return []
        try:
            kind = ParticipantAction(action)
        except ValueError:
            raise Invalid(f"unknown group action {action!r}", code="invalid_action") from None
        if not target.is_admin(phone):
            raise Forbidden(f"{phone} is not an admin of the group", code="not_group_admin")
        return self._change_participants(target, phone, kind, phones or [])

    def _set_field(self, group: Group, actor: str, field: GroupField, value: str | None) -> None:
        if value is None:
            raise Invalid(f"a {field.value} change needs a value", code="missing_value")
        if field is GroupField.SUBJECT:
            try:
                group.name = _subject(value)
            except EngineError as exc:
                raise Invalid(exc.message, code=exc.code) from None
            new: str | None = group.name
        else:
            group.topic = new = value or None
        self.network.group_saved()
        self._notify(group, actor, _changed(group.jid, field, new, member(actor), self))

    # ---------------------------------------------------------------- shared

    def _membership(self, jid: str, phone: str) -> Group:
        group = self.network.group(jid)
        if group is None or phone not in group.participants:
            raise EngineError("group_not_found", f"not a member of {jid}", permanent=True)
        return group

    def _change_participants(
        self, group: Group, actor: str, action: ParticipantAction, phones: list[str]
    ) -> list[ParticipantResult]:
        results = [self._apply(group, action, _phone(raw)) for raw in phones]
        self.network.group_saved()
        changed = tuple(member(r.phone) for r in results if r.ok)
        if changed:
            # Whoever was removed hears about it too, then is out of the group.
            audience = set(group.participants) | {m.phone for m in changed if m.phone}
            self._notify(
                group,
                actor,
                lambda sid: GroupParticipantsChanged(
                    sid, group.jid, action, changed, member(actor), self.clock.now()
                ),
                audience,
            )
        return results

    def _apply(self, group: Group, action: ParticipantAction, phone: str) -> ParticipantResult:
        jid = user_jid(phone)
        present = phone in group.participants
        if action is ParticipantAction.ADD:
            if not self.network.is_on_whatsapp(phone):
                return ParticipantResult(phone, False, None, "not_on_whatsapp")
            if present:
                return ParticipantResult(phone, False, jid, "already_member")
            group.participants.append(phone)
            return ParticipantResult(phone, True, jid)
        if not present:
            return ParticipantResult(phone, False, jid, "not_member")
        if not group.admins and group.participants:
            group.admins.append(group.participants[0])
        if action is ParticipantAction.REMOVE:
            group.participants.remove(phone)
            if phone in group.admins:
                group.admins.remove(phone)
        elif action is ParticipantAction.PROMOTE:
            if phone not in group.admins:
                group.admins.append(phone)
        elif phone in group.admins:
            group.admins.remove(phone)
        return ParticipantResult(phone, True, jid)

    def _notify(
        self,
        group: Group,
        actor: str,
        make: Callable[[str], EngineEvent],
        audience: set[str] | None = None,
    ) -> None:
        """Report a change to every linked connection in the group but the actor's."""
        phones = audience if audience is not None else set(group.participants)
        for account in self.network.accounts():
            if account.phone in phones and account.phone != actor:
                self._deliver(account.session_id, make(account.session_id))


def _phone(raw: str) -> str:
    try:
        return normalize_phone(raw)
    except Invalid as exc:
        raise EngineError("invalid_phone", exc.message, permanent=True) from exc


def _changed(
    jid: str, field: GroupField, value: str | None, actor: GroupMember, engine: lc.SessionLifecycle
) -> Callable[[str], EngineEvent]:
    def make(session_id: str) -> EngineEvent:
        return GroupChanged(session_id, jid, field, value, actor, engine.clock.now())

    return make
