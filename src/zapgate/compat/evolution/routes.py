"""The route table: every Evolution API v2 route and how zapgate serves it.

``supported`` and ``partial`` routes have handlers; ``not_supported`` ones answer 501
naming the route and the documentation page (never a pretend success), and so does
any other path under the prefix, so a wrong route never looks like a wrong base URL.
The isolation tests walk this table, so no route can skip authentication.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request

from .deps import caller, instance_of, not_implemented

Support = Literal["supported", "partial", "not_supported"]

ROUTES: tuple[tuple[str, str, Support], ...] = (
    ("POST", "/instance/create", "partial"),
    ("GET", "/instance/connect/{instance}", "supported"),
    ("GET", "/instance/connectionState/{instance}", "supported"),
    ("POST", "/instance/restart/{instance}", "supported"),
    ("DELETE", "/instance/logout/{instance}", "supported"),
    ("DELETE", "/instance/delete/{instance}", "supported"),
    ("GET", "/instance/fetchInstances", "supported"),
    ("POST", "/instance/setPresence/{instance}", "supported"),
    ("POST", "/message/sendText/{instance}", "partial"),
    ("POST", "/message/sendMedia/{instance}", "partial"),
    ("POST", "/message/sendWhatsAppAudio/{instance}", "supported"),
    ("POST", "/message/sendLocation/{instance}", "supported"),
    ("POST", "/message/sendContact/{instance}", "partial"),
    ("POST", "/message/sendReaction/{instance}", "supported"),
    ("POST", "/message/sendSticker/{instance}", "supported"),
    ("POST", "/message/sendPoll/{instance}", "partial"),
    ("POST", "/message/sendList/{instance}", "not_supported"),
    ("POST", "/message/sendButtons/{instance}", "not_supported"),
    ("POST", "/message/sendPtv/{instance}", "not_supported"),
    ("POST", "/message/sendStatus/{instance}", "not_supported"),
    ("POST", "/message/sendTemplate/{instance}", "not_supported"),
    ("POST", "/chat/whatsappNumbers/{instance}", "supported"),
    ("POST", "/chat/checkIsWhatsappNumber/{instance}", "supported"),
    ("POST", "/chat/markMessageAsRead/{instance}", "partial"),
    ("POST", "/chat/findMessages/{instance}", "partial"),
    ("POST", "/chat/findChats/{instance}", "supported"),
    ("POST", "/chat/findContacts/{instance}", "partial"),
    ("POST", "/chat/getBase64FromMediaMessage/{instance}", "partial"),
    ("POST", "/chat/sendPresence/{instance}", "partial"),
    ("DELETE", "/chat/deleteMessageForEveryone/{instance}", "not_supported"),
    ("POST", "/chat/updateMessage/{instance}", "not_supported"),
    ("POST", "/chat/fetchProfilePictureUrl/{instance}", "partial"),
    ("POST", "/chat/archiveChat/{instance}", "not_supported"),
    ("POST", "/chat/markChatUnread/{instance}", "not_supported"),
    ("POST", "/chat/updateBlockStatus/{instance}", "supported"),
    ("POST", "/chat/fetchProfile/{instance}", "partial"),
    ("POST", "/chat/fetchBusinessProfile/{instance}", "not_supported"),
    ("POST", "/chat/updateProfileName/{instance}", "supported"),
    ("POST", "/chat/updateProfileStatus/{instance}", "supported"),
    ("POST", "/chat/updateProfilePicture/{instance}", "supported"),
    ("DELETE", "/chat/removeProfilePicture/{instance}", "not_supported"),
    ("GET", "/chat/fetchPrivacySettings/{instance}", "not_supported"),
    ("POST", "/chat/updatePrivacySettings/{instance}", "not_supported"),
    ("GET", "/group/fetchAllGroups/{instance}", "partial"),
    ("GET", "/group/findGroupInfos/{instance}", "partial"),
    ("POST", "/group/create/{instance}", "partial"),
    ("GET", "/group/participants/{instance}", "partial"),
    ("POST", "/group/updateParticipant/{instance}", "supported"),
    ("GET", "/group/inviteCode/{instance}", "supported"),
    ("POST", "/group/revokeInviteCode/{instance}", "supported"),
    ("GET", "/group/acceptInviteCode/{instance}", "supported"),
    ("DELETE", "/group/leaveGroup/{instance}", "supported"),
    ("POST", "/group/updateGroupSubject/{instance}", "supported"),
    ("POST", "/group/updateGroupDescription/{instance}", "supported"),
    ("POST", "/group/updateGroupPicture/{instance}", "not_supported"),
    ("GET", "/group/inviteInfo/{instance}", "not_supported"),
    ("POST", "/group/sendInvite/{instance}", "not_supported"),
    ("POST", "/group/updateSetting/{instance}", "not_supported"),
    ("POST", "/group/toggleEphemeral/{instance}", "not_supported"),
    ("POST", "/settings/set/{instance}", "partial"),
    ("GET", "/settings/find/{instance}", "supported"),
    ("POST", "/webhook/set/{instance}", "partial"),
    ("GET", "/webhook/find/{instance}", "supported"),
)


def unsupported_router() -> APIRouter:
    """501 for the table's ``not_supported`` routes (authenticated first, like the
    rest: an unauthenticated caller learns nothing) and for any other path."""
    router = APIRouter()

    async def refuse(request: Request) -> None:
        who = await caller(request)
        name = request.path_params.get("instance")
        if name is not None:
            await instance_of(request, who, str(name))
        raise not_implemented(request.method, request.url.path)

    for method, path, support in ROUTES:
        if support == "not_supported":
            router.add_api_route(path, refuse, methods=[method], include_in_schema=False)
    router.add_api_route(
        "/{rest:path}",
        refuse,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    return router
