"""The side panel of a group chat: the group, its participants, what the connection's
number may do in it (an admin changes it), and a refused change shown inline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zapgate.domain.errors import DomainError
from zapgate.domain.roles import Role
from zapgate.web.context import Visitor
from zapgate.web.routing import error_text


@dataclass
class GroupForm:
    """What was typed in a refused form (kept), and the refusal's code and text."""

    subject: str | None = None
    description: str | None = None
    phones: str = ""
    code: str = ""
    error: str = ""
    where: str = ""
    """Which part of the panel the error belongs to: info, participants, invite, leave."""
    invite: dict[str, str] | None = None
    notice: str = ""


@dataclass
class GroupPanel:
    chat: dict[str, Any]
    group: dict[str, Any] | None
    participants: list[dict[str, Any]] = field(default_factory=list)
    we_admin: bool = False
    may_manage: bool = False
    """The person's role lets them change groups (manager and above)."""
    form: GroupForm = field(default_factory=GroupForm)


def refusal(v: Visitor, exc: DomainError, where: str, form: GroupForm | None = None) -> GroupForm:
    form = form or GroupForm()
    key = f"group.error.{exc.code}"
    form.code = exc.code
    form.error = v.t(key) if v.t.has(key) else error_text(v.t, exc.code, exc.message)
    form.where = where
    return form


async def group_panel(
    v: Visitor, chat: dict[str, Any], form: GroupForm | None = None
) -> GroupPanel:
    """The group as WhatsApp answers it now (as last stored when the number is offline);
    a group the number is no longer in is a panel with the reason, never an error page."""
    form = form or GroupForm()
    panel = GroupPanel(chat=chat, group=None, form=form)
    panel.may_manage = v.principal.role.at_least(Role.MANAGER)
    try:
        group = await v.runtime.messaging.groups.get(
            v.principal, chat["connection_id"], chat["jid"]
        )
    except DomainError as exc:
        if not form.error:
            refusal(v, exc, "load", form)
        return panel
    panel.group = group
    conn = await v.runtime.connections.get(v.principal, chat["connection_id"])
    mine = {conn.phone, conn.jid, conn.lid} - {None}
    phones = [p["phone"] for p in group["participants"] if p.get("phone")]
    names = await v.runtime.messaging.contacts.names(v.principal, phones)
    for p in group["participants"]:
        me = bool(mine & {p.get("phone"), p.get("jid"), p.get("lid")})
        panel.participants.append({**p, "me": me, "name": names.get(p.get("phone") or "")})
        if me and p["is_admin"]:
            panel.we_admin = True
    # Admins first, then by name or phone, the number itself on top.
    panel.participants.sort(
        key=lambda p: (not p["me"], not p["is_admin"], (p["name"] or p["phone"] or "").lower())
    )
    return panel
