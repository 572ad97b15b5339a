"""What a send request must hold, checked before anything is read or stored: content
that fits its type, and a ``send_at`` that is neither in the past nor too far ahead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from zapgate.domain.errors import Invalid
from zapgate.domain.messages import ContactCard, Location, MessageType
from zapgate.domain.polls import Poll

# A send_at this far in the past is a client bug, not clock skew.
PAST_TOLERANCE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class MediaInput:
    """Exactly one of ``media_id``, ``url``, ``base64``."""

    media_id: str | None = None
    url: str | None = None
    base64: str | None = None
    filename: str | None = None
    mimetype: str | None = None
    caption: str | None = None


def _require(condition: bool, message: str, code: str = "missing_content") -> None:
    if not condition:
        raise Invalid(message, code=code)


def check_shape(
    kind: MessageType,
    *,
    text: str | None,
    media: MediaInput | None,
    location: Location | None,
    contact: ContactCard | None,
    reaction_to: str | None,
    template_id: str | None,
    poll: Poll | None = None,
) -> None:
    if kind is MessageType.CALL:
        raise Invalid("a call is not a message one sends", code="invalid_type")
    if kind is MessageType.TEXT:
        _require(
            bool(text and text.strip()) or template_id is not None, "a text message needs text"
        )
    elif kind.has_media:
        _require(media is not None, f"a {kind.value} message needs media")
        assert media is not None
        given = [v for v in (media.media_id, media.url, media.base64) if v]
        _require(
            len(given) == 1, "media needs exactly one of media_id, url, base64", "invalid_media"
        )
    elif kind is MessageType.LOCATION:
        _require(location is not None, "a location message needs location")
    elif kind is MessageType.CONTACT:
        _require(contact is not None, "a contact message needs contact")
    elif kind is MessageType.REACTION:
        _require(reaction_to is not None, "a reaction needs reaction.message_id")
    elif kind is MessageType.POLL:
        _require(poll is not None, "a poll message needs poll")


def due(send_at: datetime | None, now: datetime, *, max_ahead: timedelta) -> datetime:
    """When the message should go: now, or its ``send_at``."""
    if send_at is None:
        return now
    if send_at.tzinfo is None:
        raise Invalid("send_at needs a timezone (e.g. Z or +00:00)", code="invalid_send_at")
    if send_at < now - PAST_TOLERANCE:
        raise Invalid("send_at is in the past", code="send_at_in_past")
    if send_at > now + max_ahead:
        raise Invalid(
            f"send_at is more than {max_ahead.days} days ahead",
            code="send_at_too_far",
        )
    return max(send_at, now)
