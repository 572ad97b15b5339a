"""neonize group notifications → group change events, through the library's own
dispatch of real protobufs; and the group operations against the library's calls."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from neonize.events import GroupInfoEv, JoinedGroupEv, PictureEv
from neonize.proto import Neonize_pb2 as npb
from neonize_harness import Harness

from zapgate.domain.groups import ParticipantAction
from zapgate.engines.events import (
    EngineEvent,
    GroupChanged,
    GroupInfo,
    GroupMember,
    GroupParticipantsChanged,
)
from zapgate.engines.group_types import GroupField, ParticipantResult
from zapgate.engines.neonize import convert_groups, group_ops

ANA = npb.JID(User="5511977770001", Server="s.whatsapp.net")
BIA_LID = npb.JID(User="123456789012345", Server="lid")
ME = npb.JID(User="5511999990001", Server="s.whatsapp.net")
GROUP = npb.JID(User="120363000000000001", Server="g.us")
GJID = "120363000000000001@g.us"
TS = 1_767_268_800
AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ANA_MEMBER = GroupMember("5511977770001@s.whatsapp.net", phone="5511977770001")


def changes(h: Harness) -> list[EngineEvent]:
    return [e for e in h.events if not isinstance(e, GroupInfo)]


def failing_fetch() -> Harness:
    reply = npb.GetGroupInfoReturnFunction(Error="not connected").SerializeToString()
    return Harness(GetGroupInfo=lambda uuid, jid, size: reply)


def test_subject_and_description_changes_by_another_member() -> None:
    h = failing_fetch()
    h.push(
        GroupInfoEv(
            JID=GROUP,
            Sender=ANA,
            Timestamp=TS,
            Name=npb.GroupName(Name="VIP"),
            Topic=npb.GroupTopic(Topic="avisos", TopicID="t1"),
        )
    )
    assert changes(h) == [
        GroupChanged("s1", GJID, GroupField.SUBJECT, "VIP", ANA_MEMBER, AT),
        GroupChanged("s1", GJID, GroupField.DESCRIPTION, "avisos", ANA_MEMBER, AT),
    ]


def test_deleted_description_is_none() -> None:
    h = failing_fetch()
    h.push(
        GroupInfoEv(JID=GROUP, Sender=ANA, Timestamp=TS, Topic=npb.GroupTopic(TopicDeleted=True))
    )
    (event,) = changes(h)
    assert isinstance(event, GroupChanged)
    assert event.value is None


@pytest.mark.parametrize(
    ("field", "action"),
    [
        ("Join", ParticipantAction.ADD),
        ("Leave", ParticipantAction.REMOVE),
        ("Promote", ParticipantAction.PROMOTE),
        ("Demote", ParticipantAction.DEMOTE),
    ],
)
def test_participant_changes(field: str, action: ParticipantAction) -> None:
    h = failing_fetch()
    h.push(GroupInfoEv(JID=GROUP, Sender=ANA, Timestamp=TS, **{field: [ME, BIA_LID]}))
    assert changes(h) == [
        GroupParticipantsChanged(
            "s1",
            GJID,
            action,
            (
                GroupMember("5511999990001@s.whatsapp.net", phone="5511999990001"),
                GroupMember("123456789012345@lid", lid="123456789012345@lid"),
            ),
            ANA_MEMBER,
            AT,
        )
    ]


def test_own_changes_are_not_reported_again() -> None:
    ev = GroupInfoEv(JID=GROUP, Sender=ME, Timestamp=TS, Name=npb.GroupName(Name="VIP"))
    own = convert_groups.own_users(npb.Device(JID=ME, LID=BIA_LID))
    assert convert_groups.group_change_events("s1", ev, own) == []
    assert len(convert_groups.group_change_events("s1", ev)) == 1


def test_group_picture_changed_and_removed() -> None:
    h = Harness()
    h.push(PictureEv(JID=GROUP, Author=ANA, Timestamp=TS))
    h.push(PictureEv(JID=GROUP, Author=ANA, Timestamp=TS, Remove=True))
    h.push(PictureEv(JID=ANA, Author=ANA, Timestamp=TS))  # a contact's own picture
    assert [(e.field, e.value) for e in h.events if isinstance(e, GroupChanged)] == [
        (GroupField.PICTURE, "changed"),
        (GroupField.PICTURE, None),
    ]
    assert len(h.events) == 2


@pytest.mark.parametrize(
    ("text", "invite", "code"),
    [
        (
            "failed to update participants: server returned error 403: forbidden",
            False,
            "not_group_admin",
        ),
        (
            "failed to get group info: server returned error 404: item-not-found",
            False,
            "group_not_found",
        ),
        ("failed to join group: server returned error 410: gone", True, "invite_invalid"),
        ("failed to join group: server returned error 404: item-not-found", True, "invite_invalid"),
        ("websocket not connected", False, "group_failed"),
    ],
)
def test_library_errors_become_stable_codes(text: str, invite: bool, code: str) -> None:
    assert group_ops.failure(RuntimeError(text), invite=invite).code == code


def test_participant_answers_map_to_per_phone_results() -> None:
    ok = npb.GroupParticipant(JID=ANA)
    refused = npb.GroupParticipant(
        JID=npb.JID(User="5511977770002", Server="s.whatsapp.net"), Error=403
    )
    assert group_ops._result("5511977770001", ok) == ParticipantResult(
        "5511977770001", True, "5511977770001@s.whatsapp.net"
    )
    assert group_ops._result("5511977770002", refused).error == "403"
    assert group_ops._result("5511977770003", None).error == "no_answer"


ME_DEVICE = npb.JID(User="5511999990001", Server="s.whatsapp.net", Device=12)
ME_LID = npb.JID(User="987654321098765", Server="lid", Device=12)
ME_MEMBER = GroupMember(
    "5511999990001@s.whatsapp.net", phone="5511999990001", lid="987654321098765@lid"
)


def _joined(h: Harness, **fields: object) -> None:
    h.client.me = npb.Device(JID=ME_DEVICE, LID=ME_LID)
    info = npb.GroupInfo(JID=GROUP, GroupName=npb.GroupName(Name="Clientes"))
    h.push(JoinedGroupEv(GroupInfo=info, **fields))


def test_added_to_a_group_by_another_member_is_an_add_of_our_own_number() -> None:
    h = Harness()
    _joined(h, Sender=ANA, Type="new")
    info, added = h.events
    assert isinstance(info, GroupInfo)
    assert (info.jid, info.name) == (GJID, "Clientes")
    assert isinstance(added, GroupParticipantsChanged)
    assert (added.jid, added.action, added.participants, added.actor) == (
        GJID,
        ParticipantAction.ADD,
        (ME_MEMBER,),
        ANA_MEMBER,
    )
    assert added.group == info  # stored whole before it is announced


def test_a_member_known_by_lid_adds_us_with_their_phone() -> None:
    h = Harness()
    _joined(h, Sender=BIA_LID, SenderPN=ANA)
    _, added = h.events
    assert isinstance(added, GroupParticipantsChanged)
    assert added.actor == GroupMember(
        "123456789012345@lid", phone="5511977770001", lid="123456789012345@lid"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"Sender": ME, "Type": "new"},  # a group we created (through the API or the phone)
        {"Sender": ME_LID, "Type": "new"},  # the same, named by our LID
        {"Sender": BIA_LID, "SenderPN": ME},  # our LID unknown to the device, our phone given
        {"Sender": ANA, "Reason": "invite"},  # we joined by an invite link
        {},  # nobody named
    ],
)
def test_joining_by_our_own_doing_only_describes_the_group(fields: dict[str, object]) -> None:
    h = Harness()
    _joined(h, **fields)
    (info,) = h.events
    assert isinstance(info, GroupInfo)


def test_a_join_before_our_own_jid_is_known_only_describes_the_group() -> None:
    h = Harness()
    h.push(JoinedGroupEv(GroupInfo=npb.GroupInfo(JID=GROUP), Sender=ANA))
    assert [type(e) for e in h.events] == [GroupInfo]
