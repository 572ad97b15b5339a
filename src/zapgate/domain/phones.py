"""Phone numbers and WhatsApp JIDs.

Numbers arrive in every shape people type them; inside zapgate they are E.164 digits
without the plus sign, the form WhatsApp uses in a user JID.
"""

from __future__ import annotations

import re

from zapgate.domain.errors import Invalid

USER_SERVER = "s.whatsapp.net"
GROUP_SERVER = "g.us"
LID_SERVER = "lid"

_SEPARATORS = re.compile(r"[\s().\-/]")
# E.164 allows at most 15 digits; the shortest real numbers (some island nations)
# have 7 digits with country code.
_DIGITS = re.compile(r"^[1-9][0-9]{6,14}$")
_GROUP = re.compile(r"^[0-9]{5,30}(-[0-9]{5,15})?@g\.us$")


def normalize_phone(raw: str) -> str:
    """Return E.164 digits for ``raw`` or raise :class:`Invalid` saying why."""
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid("phone number is empty", code="invalid_phone")
    value = raw.strip()
    if "@" in value:
        user, _, server = value.partition("@")
        if server not in (USER_SERVER, "c.us"):
            raise Invalid(f"{raw!r} is not a user JID", code="invalid_phone")
        value = user.split(":", 1)[0]
    value = _SEPARATORS.sub("", value)
    if value.startswith("+"):
        value = value[1:]
    elif value.startswith("00"):
        value = value[2:]
    if not _DIGITS.match(value):
        raise Invalid(
            f"{raw!r} is not a phone number: expected 7 to 15 digits with country code",
            code="invalid_phone",
        )
    return value


def user_jid(phone: str) -> str:
    return f"{normalize_phone(phone)}@{USER_SERVER}"


def is_group_jid(value: str) -> bool:
    return bool(_GROUP.match(value))


def normalize_recipient(raw: str) -> str:
    """A chat JID for ``raw``: a group JID as given, anything else as a phone."""
    value = raw.strip() if isinstance(raw, str) else raw
    if isinstance(value, str) and value.endswith("@" + GROUP_SERVER):
        if not is_group_jid(value):
            raise Invalid(f"{raw!r} is not a group JID", code="invalid_jid")
        return value
    return user_jid(value)


def account_jid(jid: str) -> str:
    """``jid`` without the device a linked session's own JID names
    (``5511…:12@s.whatsapp.net`` → ``5511…@s.whatsapp.net``): the account itself."""
    user, at, server = jid.partition("@")
    return f"{user.split(':', 1)[0]}{at}{server}"


def phone_of_jid(jid: str) -> str | None:
    user, _, server = jid.partition("@")
    if server != USER_SERVER:
        return None
    return user.split(":", 1)[0]
