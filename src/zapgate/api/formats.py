"""The formats of the API's recurring strings, as the OpenAPI document shows them: phone
numbers, chat recipients, e-mail addresses and page cursors.

The patterns describe the documented forms. The schema does not enforce them: the
checks behind it answer a bad value with a precise code and message (``invalid_phone``,
``invalid_jid``, ``invalid_email``, ``invalid_cursor``) where the schema could only say
``validation_error``, and they take a little more than the patterns show (a "00"
international prefix, for one).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

# 7 to 15 digits, the first not 0 (the country code), with the separators people type
# and an optional "+"; or a user JID (``<digits>[:<device>]@s.whatsapp.net``). See
# ``domain/phones.normalize_phone``, which also takes a "00" international prefix.
_SEP = r"[\s().\-/]*"
_PHONE = (
    rf"\+?{_SEP}[1-9](?:{_SEP}[0-9]){{6,14}}{_SEP}"
    r"|[1-9][0-9]{6,14}(:[0-9]+)?@(s\.whatsapp\.net|c\.us)"
)
_GROUP = r"[0-9]{5,30}(-[0-9]{5,15})?@g\.us"
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"

_PHONE_DOC: dict[str, Any] = {
    "pattern": f"^({_PHONE})$",
    "description": "A phone number with its country code, in any common form, or its WhatsApp JID.",
    "examples": ["+55 (11) 99999-0001", "5511999990001", "5511999990001@s.whatsapp.net"],
}

Phone = Annotated[str, Field(min_length=1, max_length=40, json_schema_extra=_PHONE_DOC)]
PhoneOrEmpty = Annotated[
    str,
    Field(
        max_length=40,
        json_schema_extra={
            **_PHONE_DOC,
            "pattern": f"^({_PHONE})?$",
            "description": f"{_PHONE_DOC['description']} An empty string means none.",
        },
    ),
]
Recipient = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        json_schema_extra={
            "pattern": f"^({_PHONE}|{_GROUP})$",
            "description": "A phone number with its country code (in any common form, "
            "or its JID), or a group JID (`...@g.us`).",
            "examples": ["+55 (11) 99999-0001", "120363025246125486@g.us"],
        },
    ),
]
Email = Annotated[str, Field(min_length=3, max_length=320, json_schema_extra={"format": "email"})]
EmailOrEmpty = Annotated[
    str,
    Field(
        max_length=320,
        json_schema_extra={
            "pattern": r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$",
            "description": "An e-mail address; an empty string means none.",
        },
    ),
]
NextCursor = Annotated[
    str | None,
    Field(
        description="Pass it as `cursor` for the next page; null on the last page.",
        json_schema_extra={"pattern": CURSOR_PATTERN},
    ),
]
