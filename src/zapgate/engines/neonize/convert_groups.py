"""neonize group notifications → group engine events.

whatsmeow reports one ``GroupInfoEvent`` per notification, a delta: a new name, a new
topic, members who joined, left, were promoted or demoted; pictures come as ``Picture``
events. Changes made by this number itself are dropped (``own``): the operation that
made them already reported them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zapgate.domain.groups import ParticipantAction
from zapgate.engines.events import (
    EngineEvent,
    GroupChanged,
    GroupInfo,
    GroupMember,
    GroupParticipantsChanged,
)
from zapgate.engines.group_types import GroupField
from zapgate.engines.neonize.convert import (
    GROUP_SERVER,
    LID_SERVER,
    USER_SERVER,
    jid_str,
    timestamp_of,
)


def member(jid: Any) -> GroupMember:
    text = jid_str(jid)
    return GroupMember(
        jid=text,
        phone=jid.User if jid.Server == USER_SERVER else None,
        lid=text if jid.Server == LID_SERVER else None,
    )


def _actor(ev: Any, field: str) -> GroupMember | None:
    return member(getattr(ev, field)) if ev.HasField(field) and getattr(ev, field).User else None


def _by_us(actor: GroupMember | None, own: frozenset[str]) -> bool:
    return actor is not None and actor.jid.split("@", 1)[0] in own


def group_change_events(
    session_id: str, ev: Any, own: frozenset[str] = frozenset()
) -> list[EngineEvent]:
    """The changes one ``GroupInfoEvent`` carries; ``own`` holds this number's users
    (phone and LID) so its own changes are left out."""
    actor = _actor(ev, "Sender")
    if _by_us(actor, own):
        return []
    jid = jid_str(ev.JID)
    at = timestamp_of(ev.Timestamp)
    out: list[EngineEvent] = []
    if ev.HasField("Name"):
        out.append(GroupChanged(session_id, jid, GroupField.SUBJECT, ev.Name.Name, actor, at))
    if ev.HasField("Topic"):
        topic = None if ev.Topic.TopicDeleted else (ev.Topic.Topic or None)
        out.append(GroupChanged(session_id, jid, GroupField.DESCRIPTION, topic, actor, at))
    for field, action in (
        ("Join", ParticipantAction.ADD),
        ("Leave", ParticipantAction.REMOVE),
        ("Promote", ParticipantAction.PROMOTE),
        ("Demote", ParticipantAction.DEMOTE),
    ):
        members = tuple(member(j) for j in getattr(ev, field))
        if members:
            out.append(GroupParticipantsChanged(session_id, jid, action, members, actor, at))
    return out


def picture_event(
    session_id: str, ev: Any, own: frozenset[str] = frozenset()
) -> GroupChanged | None:
    """A group's picture changed (or was removed); pictures of contacts are not ours."""
    if ev.JID.Server != GROUP_SERVER:
        return None
    actor = _actor(ev, "Author")
    if _by_us(actor, own):
        return None
    return GroupChanged(
        session_id,
        jid_str(ev.JID),
        GroupField.PICTURE,
        None if ev.Remove else "changed",
        actor,
        timestamp_of(ev.Timestamp),
    )


def joined_event(
    session_id: str, ev: Any, device: Any, group: GroupInfo, at: datetime
) -> GroupParticipantsChanged | None:
    """whatsmeow's ``JoinedGroup``: this number is in a group it was not in. Someone
    else added it (``Sender``, its phone in ``SenderPN`` when ``Sender`` is a LID): an
    ``add`` of its own number by them, carrying the group's description (``group``).
    None when it did it itself (a group it created, an invite it accepted: ``Reason``
    "invite"), or while its own JID is not known yet. Groups it made or joined through
    the API are announced by the API; those it made or joined from the phone are not
    announced."""
    if device is None or not device.JID.User or ev.Reason == "invite":
        return None
    own = own_users(device)
    actor = _actor(ev, "Sender")
    by_phone = _actor(ev, "SenderPN")
    if actor is None or _by_us(actor, own) or _by_us(by_phone, own):
        return None
    if by_phone is not None and actor.phone is None:
        actor = GroupMember(jid=actor.jid, phone=by_phone.phone, lid=actor.lid)
    user = device.JID.User
    me = GroupMember(jid=f"{user}@{USER_SERVER}", phone=user, lid=_lid(device))
    return GroupParticipantsChanged(
        session_id, group.jid, ParticipantAction.ADD, (me,), actor, at, group=group
    )


def _lid(device: Any) -> str | None:
    return f"{device.LID.User}@{LID_SERVER}" if device.LID.User else None


def own_users(device: Any) -> frozenset[str]:
    """This number's phone and LID users, from neonize's ``Device`` (``client.me``)."""
    if device is None:
        return frozenset()
    return frozenset(j.User for j in (device.JID, device.LID) if j.User)
