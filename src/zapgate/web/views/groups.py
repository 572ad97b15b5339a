"""Panel: a group chat's side panel (subject, description, participants, invite link,
leaving) through the group use cases; a refusal is shown inside the panel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Response

from zapgate.domain.errors import DomainError, Invalid
from zapgate.domain.groups import ParticipantAction
from zapgate.web.context import SignedIn, Visitor
from zapgate.web.group_panel import GroupForm, group_panel, refusal
from zapgate.web.render import go, html_response
from zapgate.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)
Text = Annotated[str, Form(max_length=2048)]


async def _group_chat(v: Visitor, chat_id: str) -> dict[str, Any]:
    chat = await v.runtime.messaging.inbox.chat(v.principal, chat_id)
    if not chat.get("is_group"):
        raise Invalid("this chat is not a group", code="not_a_group")
    return chat


async def _render(
    v: Visitor, chat: dict[str, Any], form: GroupForm | None = None, *, status: int = 200
) -> Response:
    panel = await group_panel(v, chat, form)
    return html_response(v, "partials/group_panel.html", status=status, gp=panel)


def _status(exc: DomainError) -> int:
    return exc.status if 400 <= exc.status < 500 else 409


@router.get("/app/inbox/{chat_id}/group")
async def show(v: SignedIn, chat_id: str) -> Response:
    return await _render(v, await _group_chat(v, chat_id))


@router.post("/app/inbox/{chat_id}/group")
async def update(v: SignedIn, chat_id: str, subject: Text = "", description: Text = "") -> Response:
    chat = await _group_chat(v, chat_id)
    try:
        await v.runtime.messaging.groups.update(
            v.principal,
            chat["connection_id"],
            chat["jid"],
            subject=subject.strip() or None,
            description=description,
        )
    except DomainError as exc:
        form = refusal(v, exc, "info", GroupForm(subject=subject, description=description))
        return await _render(v, chat, form, status=_status(exc))
    return await _render(v, chat, GroupForm(notice=v.t("group.saved")))


def _phones(raw: str) -> list[str]:
    return [p.strip() for p in raw.replace(";", ",").replace("\n", ",").split(",") if p.strip()]


@router.post("/app/inbox/{chat_id}/group/participants")
async def participants(
    v: SignedIn,
    chat_id: str,
    action: Annotated[str, Form(max_length=16)],
    phones: Text = "",
) -> Response:
    chat = await _group_chat(v, chat_id)
    form = GroupForm(phones=phones if action == ParticipantAction.ADD else "")
    try:
        try:
            act = ParticipantAction(action)
        except ValueError:
            raise Invalid("unknown action", code="invalid_action") from None
        done = await v.runtime.messaging.groups.participants(
            v.principal, chat["connection_id"], chat["jid"], action=act, phones=_phones(phones)
        )
    except DomainError as exc:
        return await _render(v, chat, refusal(v, exc, "participants", form), status=_status(exc))
    failed = [r for r in done["results"] if not r["ok"]]
    if failed:
        # Some phones were refused by WhatsApp (not on it, already a member...): say which.
        form.code = "partial"
        form.where = "participants"
        form.error = "; ".join(f"{r['phone']}: {_result_text(v, r['error'])}" for r in failed)
        return await _render(v, chat, form, status=200)
    return await _render(v, chat, GroupForm(notice=v.t(f"group.done.{act.value}")))


def _result_text(v: Visitor, code: str | None) -> str:
    key = f"group.result.{code}"
    return v.t(key) if v.t.has(key) else (code or v.t("error.generic"))


@router.post("/app/inbox/{chat_id}/group/invite")
async def invite(v: SignedIn, chat_id: str, revoke: Annotated[bool, Form()] = False) -> Response:
    chat = await _group_chat(v, chat_id)
    try:
        link = await v.runtime.messaging.groups.invite(
            v.principal, chat["connection_id"], chat["jid"], revoke=revoke
        )
    except DomainError as exc:
        return await _render(v, chat, refusal(v, exc, "invite"), status=_status(exc))
    notice = v.t("group.invite_revoked") if revoke else ""
    return await _render(v, chat, GroupForm(invite=link, notice=notice))


@router.post("/app/inbox/{chat_id}/group/leave")
async def leave(v: SignedIn, chat_id: str) -> Response:
    chat = await _group_chat(v, chat_id)
    try:
        await v.runtime.messaging.groups.leave(v.principal, chat["connection_id"], chat["jid"])
    except DomainError as exc:
        return await _render(v, chat, refusal(v, exc, "leave"), status=_status(exc))
    return go(v, f"/app/inbox/{chat_id}")
