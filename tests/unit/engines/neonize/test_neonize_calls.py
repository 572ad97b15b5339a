"""neonize call offers → CallReceived, through the library's own dispatch of real
protobufs; rejected through the library's RejectCall when the connection says so."""

from __future__ import annotations

from datetime import UTC, datetime

from neonize.events import CallOfferEv
from neonize.proto import Neonize_pb2 as npb
from neonize_harness import Harness

from zapgate.domain.behaviour import Behaviour, SyncHistory
from zapgate.engines import base
from zapgate.engines.events import CallReceived
from zapgate.engines.neonize.calls import connect_failure, device_props


def jid(user: str, server: str) -> npb.JID:
    """A JID as whatsmeow serializes it: every required field set."""
    return npb.JID(User=user, Server=server, RawAgent=0, Device=0, Integrator=0, IsEmpty=False)


ANA = jid("5511977770001", "s.whatsapp.net")
ANA_LID = jid("123456789012345", "lid")
TS = 1_767_268_800
AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def offer(*, video: bool = False, group: bool = False) -> CallOfferEv:
    attrs = [npb.NodeAttrs(name="call-id", text="CALL1")]
    if group:
        attrs.append(npb.NodeAttrs(name="group-jid", text="120363000000000001@g.us"))
    children = [npb.Node(Tag="audio", Attrs=[npb.NodeAttrs(name="enc", text="opus")])]
    if video:
        children.append(npb.Node(Tag="video", Attrs=[npb.NodeAttrs(name="enc", text="vp8")]))
    return CallOfferEv(
        basicCallMeta=npb.BasicCallMeta(
            timestamp=TS,
            callCreator=ANA_LID,
            callCreatorAlt=ANA,
            callID="CALL1",
            **{"from": ANA_LID},
        ),
        callRemoteMeta=npb.CallRemoteMeta(remotePlatform="android", remoteVersion="2.25"),
        data=npb.Node(Tag="offer", Attrs=attrs, Nodes=children),
    )


def rejecting() -> Harness:
    spec = base.SessionSpec("s1", "org1", resume=False, behaviour=Behaviour(reject_calls=True))
    h = Harness(spec, RejectCall=lambda uuid, jid, size, call_id: b"")
    h.session.connected = True
    return h


def test_a_voice_call_is_reported_missed_with_phone_and_lid() -> None:
    h = Harness()
    h.push(offer())
    assert h.events == [
        CallReceived(
            "s1",
            "CALL1",
            "123456789012345@lid",
            AT,
            caller_phone="5511977770001",
            caller_lid="123456789012345@lid",
            is_video=False,
            is_group=False,
            rejected=False,
        )
    ]
    assert h.library.named("RejectCall") == []


def test_video_and_group_calls_are_told_apart_by_the_offer_node() -> None:
    h = Harness()
    h.push(offer(video=True, group=True))
    (event,) = h.events
    assert isinstance(event, CallReceived)
    assert (event.is_video, event.is_group) == (True, True)


def test_a_connection_that_rejects_calls_rejects_through_the_library() -> None:
    h = rejecting()
    h.push(offer())
    (event,) = h.events
    assert isinstance(event, CallReceived)
    assert event.rejected is True
    ((uuid, jid, size, call_id),) = h.library.named("RejectCall")
    assert uuid == b"s1.1"
    assert npb.JID.FromString(jid[:size]) == ANA_LID
    assert call_id.value == b"CALL1"


def test_a_failed_reject_reports_the_call_as_missed() -> None:
    h = rejecting()
    h.library = type(h.library)(RejectCall=lambda uuid, jid, size, call_id: b"not connected")
    h.client._NewClient__client = h.library
    h.push(offer())
    (event,) = h.events
    assert isinstance(event, CallReceived)
    assert event.rejected is False


def test_full_history_is_asked_for_in_the_device_properties() -> None:
    assert device_props(Behaviour()) is None
    props = device_props(Behaviour(sync_history=SyncHistory.FULL))
    assert props.requireFullSync is True


def test_a_connect_failure_through_a_proxy_names_it_without_credentials() -> None:
    proxy = "socks5://joao:s3cret@10.0.0.9:1080"
    reason = connect_failure(f"dial {proxy}: connection refused", proxy)
    assert reason.startswith("connect through proxy socks5://10.0.0.9:1080 failed")
    assert "s3cret" not in reason
    assert connect_failure("EOF", None) == "connect failed: EOF"
