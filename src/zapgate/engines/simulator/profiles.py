"""Profiles on the simulated network: contacts' pictures and business accounts, each
account's blocklist and its own profile (the profile operations of the Engine protocol,
and the ``contact-profile`` control that plays a customer changing theirs).

WhatsApp's rules as modelled: a blocked contact's messages never reach the account that
blocked it, and sending to a contact one has blocked fails (``contact_blocked``), as the
phone app refuses it until unblocked. Kept in memory: a restarted simulator forgets it.
"""

from __future__ import annotations

import hashlib

from zapgate.domain.errors import EngineError, Invalid
from zapgate.domain.phones import normalize_phone
from zapgate.engines.profile_types import ContactProfile, ProfilePicture, ProfileUpdate
from zapgate.engines.simulator import lifecycle as lc
from zapgate.engines.simulator.profile_book import OwnProfile


def _phone_of(jid: str) -> str:
    try:
        return normalize_phone(jid)
    except Invalid as exc:
        raise EngineError("invalid_jid", exc.message, permanent=True) from exc


class SimulatorProfiles(lc.SessionLifecycle):
    # ---------------------------------------------------------------- the protocol

    async def contact_profile(self, session_id: str, jid: str) -> ContactProfile:
        await self._ready(session_id)
        phone = _phone_of(jid)
        book = self.network.profiles
        return ContactProfile(book.pictures.get(phone), phone in book.business)

    async def set_blocked(self, session_id: str, jid: str, blocked: bool) -> None:
        _, account = await self._ready(session_id)
        phone = _phone_of(jid)
        listed = self.network.profiles.blocklists.setdefault(account.phone, set())
        if blocked:
            listed.add(phone)
        else:
            listed.discard(phone)

    async def update_profile(self, session_id: str, update: ProfileUpdate) -> None:
        _, account = await self._ready(session_id)
        own = self.network.profiles.own.setdefault(account.phone, OwnProfile())
        if update.name is not None:
            own.name = update.name
        if update.status is not None:
            own.status = update.status
        if update.picture is not None:
            own.picture_sha256 = hashlib.sha256(update.picture).hexdigest()

    # ---------------------------------------------------------------- controls

    def set_contact_profile(
        self,
        phone: str,
        *,
        picture: bytes | None,
        mimetype: str = "image/jpeg",
        is_business: bool | None = None,
        keep_picture: bool = False,
    ) -> None:
        """The customer ``phone`` sets (or removes, with None) their picture; a business
        account says so. ``keep_picture`` changes only ``is_business``."""
        digits = normalize_phone(phone)
        book = self.network.profiles
        if not keep_picture:
            if picture is None:
                book.pictures.pop(digits, None)
            else:
                picture_id = hashlib.sha256(picture).hexdigest()[:16]
                book.pictures[digits] = ProfilePicture(picture_id, picture, mimetype)
        if is_business is True:
            book.business.add(digits)
        elif is_business is False:
            book.business.discard(digits)

    def own_profile(self, session_id: str) -> OwnProfile | None:
        """What the connection's account shows as its own profile (set through us)."""
        account = self.network.account(session_id)
        return None if account is None else self.network.profiles.own.get(account.phone)

    def blocked_by(self, session_id: str) -> list[str]:
        account = self.network.account(session_id)
        if account is None:
            return []
        return sorted(self.network.profiles.blocklists.get(account.phone, ()))
