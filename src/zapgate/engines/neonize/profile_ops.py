"""The profile operations, run in the worker on a session's neonize client: a contact's
picture and business account, the blocklist, the own name, "about" text and picture.

WhatsApp answers a picture request with a signed, expiring CDN URL; the worker fetches
the bytes itself (through the connection's proxy, when it has one) and only bytes go
back to the server, so no WhatsApp URL ever reaches zapgate's API or a browser.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from zapgate.domain.errors import EngineError
from zapgate.engines.neonize import convert, protocol
from zapgate.engines.profile_types import (
    MAX_PICTURE_BYTES,
    ContactProfile,
    ProfilePicture,
    ProfileUpdate,
)

if TYPE_CHECKING:
    from zapgate.engines.neonize.session import WorkerSession

OPS = frozenset({"contact_profile", "block", "own_profile"})
PICTURE_HOSTS = (".whatsapp.net", ".whatsapp.com", ".fbcdn.net")
"""Where WhatsApp serves profile pictures; the worker fetches from nowhere else."""
FETCH_TIMEOUT = 20.0

# whatsmeow's texts when there is no picture to see: none set (404), or hidden from us
# by the contact's privacy settings (401).
_NO_PICTURE = ("404", "item-not-found", "not set", "401", "not-authorized", "hidden")

Fetch = Callable[[str, str | None], bytes]
"""``(url, proxy)`` → the bytes at ``url``."""


def fetch_picture(url: str, proxy: str | None) -> bytes:
    """The picture at WhatsApp's ``url``, fetched through ``proxy`` when given."""
    import httpx

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host.endswith(PICTURE_HOSTS):
        raise EngineError("picture_failed", f"unexpected picture host {host!r}", permanent=True)
    try:
        with (
            httpx.Client(proxy=proxy, timeout=FETCH_TIMEOUT, follow_redirects=False) as http,
            http.stream("GET", url) as answer,
        ):
            answer.raise_for_status()
            data = b""
            for chunk in answer.iter_bytes():
                data += chunk
                if len(data) > MAX_PICTURE_BYTES:
                    raise EngineError(
                        "picture_failed", "the picture is larger than allowed", permanent=True
                    )
            return data
    except httpx.HTTPStatusError as exc:
        # Not the exception's text: it holds WhatsApp's signed URL, which stays here.
        status = exc.response.status_code
        raise EngineError("picture_failed", f"WhatsApp answered {status} for the picture") from exc
    except httpx.HTTPError as exc:
        raise EngineError(
            "picture_failed", f"fetching the picture failed: {type(exc).__name__}"
        ) from exc


def _no_picture(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(k in text for k in _NO_PICTURE)


def is_business(answers: Any) -> bool | None:
    """Whether ``get_user_info``'s answer says business: WhatsApp gives a business
    account a verified name (certificate and details); None when there is no answer."""
    for answer in answers:
        if answer.HasField("UserInfo"):
            return bool(answer.UserInfo.HasField("VerifiedName"))
    return None


def contact_profile(session: WorkerSession, jid_text: str, fetch: Fetch) -> ContactProfile:
    from neonize.proto.Neonize_pb2 import GetProfilePictureParams

    client = session.ready_client()
    jid = convert.make_jid(jid_text)
    picture = None
    try:
        with session.gate.hold():
            info = client.get_profile_picture(jid, GetProfilePictureParams(Preview=False))
    except Exception as exc:
        if not _no_picture(exc):
            raise EngineError("picture_failed", str(exc)) from exc
        info = None
    if info is not None and info.URL:
        # Outside the gate: a download holds no library state.
        data = fetch(info.URL, session.proxy)
        picture = ProfilePicture(id=info.ID or info.DirectPath, data=data, mimetype="image/jpeg")
    try:
        with session.gate.hold():
            business = is_business(client.get_user_info(jid))
    except Exception:
        # Not knowing is an answer: the picture is still worth having.
        business = None
    return ContactProfile(picture, business)


def set_blocked(session: WorkerSession, jid_text: str, blocked: bool) -> None:
    from neonize.utils.enum import BlocklistAction

    client = session.ready_client()
    action = BlocklistAction.BLOCK if blocked else BlocklistAction.UNBLOCK
    try:
        with session.gate.hold():
            client.update_blocklist(convert.make_jid(jid_text), action)
    except Exception as exc:
        raise EngineError("block_failed", str(exc)) from exc


def update_profile(session: WorkerSession, update: ProfileUpdate) -> None:
    client = session.ready_client()
    try:
        with session.gate.hold():
            if update.name is not None:
                client.set_profile_name(update.name)
            if update.status is not None:
                client.set_status_message(update.status)
            if update.picture is not None:
                client.set_profile_photo(update.picture)
    except Exception as exc:
        raise EngineError("profile_failed", str(exc)) from exc


def run(session: WorkerSession, op: str, args: dict[str, Any], fetch: Fetch = fetch_picture) -> Any:
    """Carry out one profile operation; raises :class:`EngineError`."""
    if op == "contact_profile":
        return contact_profile(session, str(args["jid"]), fetch)
    if op == "block":
        set_blocked(session, str(args["jid"]), bool(args["blocked"]))
        return None
    update_profile(session, protocol.decode_dataclass(ProfileUpdate, args["update"]))
    return None


class NeonizeProfiles:
    """The engine side: each operation is one request to the session's worker."""

    _call: Callable[[str, str, dict[str, Any]], Awaitable[Any]]

    async def contact_profile(self, session_id: str, jid: str) -> ContactProfile:
        result = await self._call(session_id, "contact_profile", {"jid": jid})
        return protocol.decode_dataclass(ContactProfile, result)

    async def set_blocked(self, session_id: str, jid: str, blocked: bool) -> None:
        await self._call(session_id, "block", {"jid": jid, "blocked": blocked})

    async def update_profile(self, session_id: str, update: ProfileUpdate) -> None:
        await self._call(session_id, "own_profile", {"update": update})
