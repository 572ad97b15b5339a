"""What the profile operations of the Engine protocol take and answer: a contact's
profile (picture, business account) and changes to the connection's own profile."""

from __future__ import annotations

from dataclasses import dataclass

MAX_PICTURE_BYTES = 2 * 1024 * 1024
"""WhatsApp serves profile pictures of at most 640x640 JPEG, far below this."""
MAX_STATUS = 139
"""WhatsApp's limit for the "about" text."""
MAX_PUSH_NAME = 25
"""WhatsApp's limit for a profile name."""


@dataclass(frozen=True, slots=True)
class ProfilePicture:
    id: str
    """WhatsApp's id of the picture: a new one means the contact changed it."""
    data: bytes
    mimetype: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class ContactProfile:
    picture: ProfilePicture | None
    """None when the contact has none, or hides it from us."""
    is_business: bool | None = None
    """A WhatsApp Business account; None when the engine cannot tell."""


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """Changes to the connection's own profile; None leaves a field as it is."""

    name: str | None = None
    status: str | None = None
    picture: bytes | None = None
    """A JPEG image."""
