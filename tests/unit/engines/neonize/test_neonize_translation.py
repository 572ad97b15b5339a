"""neonize events → engine events, through the library's own dispatch of real protobufs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from neonize.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    GroupInfoEv,
    HistorySyncEv,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    PresenceEv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2 import (
    Conversation,
    HistorySync,
    HistorySyncMsg,
    Pushname,
)
from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo
from neonize_harness import Harness

from zapgate.domain.messages import ContactCard, Location, MessageType, ReceiptType
from zapgate.engines import base
from zapgate.engines.events import (
    ClientOutdated,
    Connected,
    ConnectFailure,
    ContactInfo,
    Disconnected,
    EngineEvent,
    EngineFault,
    GroupInfo,
    GroupParticipantsChanged,
    HistorySynced,
    InboundMessage,
    KeepAlive,
    LinkTimedOut,
    LoggedOut,
    MessageReceived,
    Paired,
    PresenceUpdate,
    QrIssued,
    Reaction,
    ReceiptReceived,
    StreamReplaced,
    TemporaryBan,
)
from zapgate.engines.neonize import content

CUSTOMER = npb.JID(User="5511999990001", Server="s.whatsapp.net")
CUSTOMER_LID = npb.JID(User="123456789012345", Server="lid")
GROUP = npb.JID(User="120363000000000001", Server="g.us")
TS_MS = 1_767_268_800_000  # 2026-01-01 12:00:00 UTC


def message_ev(
    content: e2e.Message,
    *,
    chat: npb.JID = CUSTOMER,
    sender: npb.JID = CUSTOMER,
    alt: npb.JID | None = None,
    msg_id: str = "3EB0AAA",
) -> MessageEv:
    source = npb.MessageSource(
        Chat=chat, Sender=sender, IsFromMe=False, IsGroup=chat.Server == "g.us"
    )
    if alt is not None:
        source.SenderAlt.CopyFrom(alt)
    info = npb.MessageInfo(
        MessageSource=source, ID=msg_id, Pushname="Maria", Timestamp=TS_MS, Type="text"
    )
    return MessageEv(Info=info, Message=content)


def only(h: Harness) -> EngineEvent:
    assert len(h.events) == 1, h.events
    return h.events[0]


def inbound(h: Harness) -> InboundMessage:
    event = only(h)
    assert isinstance(event, MessageReceived)
    return event.message


def test_text_message_carries_sender_phone_lid_and_time() -> None:
    h = Harness()
    h.push(message_ev(e2e.Message(conversation="oi"), sender=CUSTOMER_LID, alt=CUSTOMER))
    msg = inbound(h)
    assert msg.type is MessageType.TEXT
    assert msg.text == "oi"
    assert msg.wa_message_id == "3EB0AAA"
    assert msg.chat_jid == "5511999990001@s.whatsapp.net"
    assert msg.sender_jid == "123456789012345@lid"
    assert msg.sender_phone == "5511999990001"
    assert msg.sender_lid == "123456789012345@lid"
    assert msg.push_name == "Maria"
    assert msg.timestamp == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert not msg.is_group


def test_extended_text_reply_in_group_quotes_the_original() -> None:
    h = Harness()
    content = e2e.Message(
        extendedTextMessage=e2e.ExtendedTextMessage(
            text="sim", contextInfo=e2e.ContextInfo(stanzaID="3EB0ORIG")
        )
    )
    h.push(message_ev(content, chat=GROUP))
    msg = inbound(h)
    assert (msg.type, msg.text, msg.quoted_id, msg.is_group) == (
        MessageType.TEXT,
        "sim",
        "3EB0ORIG",
        True,
    )
    assert msg.chat_jid == "120363000000000001@g.us"


def test_image_with_caption_gives_a_downloadable_media_ref() -> None:
    h = Harness()
    image = e2e.ImageMessage(
        mimetype="image/jpeg",
        caption="foto",
        fileLength=2048,
        fileSHA256=b"\x01\x02",
        directPath="/v/t62/x",
        mediaKey=b"k",
    )
    h.push(message_ev(e2e.Message(imageMessage=image)))
    msg = inbound(h)
    assert msg.type is MessageType.IMAGE
    assert msg.caption == "foto"
    assert msg.media is not None
    assert (msg.media.mimetype, msg.media.size, msg.media.sha256) == ("image/jpeg", 2048, "0102")
    rebuilt = content.media_message(msg.media.handle)
    assert rebuilt.imageMessage.directPath == "/v/t62/x"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (e2e.Message(videoMessage=e2e.VideoMessage(mimetype="video/mp4")), MessageType.VIDEO),
        (
            e2e.Message(audioMessage=e2e.AudioMessage(mimetype="audio/ogg", PTT=True)),
            MessageType.VOICE,
        ),
        (e2e.Message(audioMessage=e2e.AudioMessage(mimetype="audio/mpeg")), MessageType.AUDIO),
        (
            e2e.Message(stickerMessage=e2e.StickerMessage(mimetype="image/webp")),
            MessageType.STICKER,
        ),
    ],
)
def test_media_types(content: e2e.Message, expected: MessageType) -> None:
    h = Harness()
    h.push(message_ev(content))
    assert inbound(h).type is expected


def test_document_keeps_its_file_name() -> None:
    h = Harness()
    doc = e2e.DocumentMessage(mimetype="application/pdf", fileName="nota.pdf", caption="nf")
    h.push(message_ev(e2e.Message(documentMessage=doc)))
    msg = inbound(h)
    assert msg.type is MessageType.DOCUMENT
    assert msg.media is not None
    assert msg.media.filename == "nota.pdf"
    assert msg.caption == "nf"


def test_location_contact_and_reaction() -> None:
    h = Harness()
    h.push(
        message_ev(
            e2e.Message(
                locationMessage=e2e.LocationMessage(
                    degreesLatitude=-23.5, degreesLongitude=-46.6, name="Loja"
                )
            )
        )
    )
    vcard = "BEGIN:VCARD\nFN:Ana\nTEL;waid=5511988887777:+55 11 98888-7777\nEND:VCARD"
    h.push(
        message_ev(e2e.Message(contactMessage=e2e.ContactMessage(displayName="Ana", vcard=vcard)))
    )
    h.push(
        message_ev(
            e2e.Message(
                reactionMessage=e2e.ReactionMessage(
                    key=MessageKey(
                        remoteJID="5511999990001@s.whatsapp.net", fromMe=True, ID="3EB0MINE"
                    ),
                    text="👍",
                )
            )
        )
    )
    location, contact, reaction = (e.message for e in h.events)  # type: ignore[union-attr]
    assert location.location == Location(latitude=-23.5, longitude=-46.6, name="Loja")
    assert contact.contact == ContactCard(name="Ana", phone="5511988887777", vcard=vcard)
    assert reaction.type is MessageType.REACTION
    assert reaction.reaction == Reaction(target_id="3EB0MINE", emoji="👍", target_from_me=True)


def test_wrappers_are_unwrapped_and_protocol_messages_skipped() -> None:
    h = Harness()
    wrapped = e2e.Message(
        ephemeralMessage=e2e.FutureProofMessage(message=e2e.Message(conversation="some"))
    )
    h.push(message_ev(wrapped))
    h.push(message_ev(e2e.Message(protocolMessage=e2e.ProtocolMessage(type=0))))
    assert inbound(h).text == "some"


def test_receipts_map_to_delivery_status_and_skip_own_devices() -> None:
    h = Harness()
    source = npb.MessageSource(Chat=CUSTOMER, Sender=CUSTOMER)
    h.push(
        ReceiptEv(
            MessageSource=source,
            MessageIDs=["3EB0A", "3EB0B"],
            Timestamp=1_767_268_800,
            Type=ReceiptEv.READ,
        )
    )
    h.push(
        ReceiptEv(MessageSource=source, MessageIDs=["3EB0A"], Timestamp=1, Type=ReceiptEv.SENDER)
    )
    event = only(h)
    assert event == ReceiptReceived(
        session_id="s1",
        chat_jid="5511999990001@s.whatsapp.net",
        message_ids=("3EB0A", "3EB0B"),
        type=ReceiptType.READ,
        timestamp=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        sender_jid="5511999990001@s.whatsapp.net",
    )


def test_pair_success_and_error() -> None:
    h = Harness()
    device = npb.JID(User="5511900000000", Server="s.whatsapp.net", Device=12)
    h.push(
        PairStatusEv(
            ID=device, BusinessName="Loja", Platform="android", Status=PairStatusEv.SUCCESS
        )
    )
    h.push(PairStatusEv(Status=PairStatusEv.ERROR, Error="bad signature"))
    paired, fault = h.events
    assert paired == Paired(
        session_id="s1",
        jid="5511900000000:12@s.whatsapp.net",
        phone="5511900000000",
        push_name="Loja",
        platform="android",
    )
    assert fault == EngineFault(session_id="s1", code="pair_error", message="bad signature")
    assert h.session.spec.resume
    assert h.session.spec.jid == "5511900000000:12@s.whatsapp.net"


def test_connected_reads_the_linked_device() -> None:
    me = npb.Device(
        JID=npb.JID(User="5511900000000", Server="s.whatsapp.net", Device=12), PushName="Loja"
    )
    h = Harness(GetMe=lambda uuid: me.SerializePartialToString())
    h.push(ConnectedEv(status=True))
    assert only(h) == Connected(
        session_id="s1",
        jid="5511900000000:12@s.whatsapp.net",
        phone="5511900000000",
        push_name="Loja",
    )
    assert h.session.connected


def test_handler_exception_is_reported_not_swallowed() -> None:
    def broken(uuid: bytes) -> bytes:
        raise RuntimeError("store locked")

    h = Harness(GetMe=broken)
    h.push(ConnectedEv(status=True))
    event = only(h)
    assert isinstance(event, EngineFault)
    assert event.code == "handler_error"
    assert "store locked" in event.message


@pytest.mark.parametrize(
    ("ev", "expected"),
    [
        (
            DisconnectedEv(status=True),
            Disconnected("s1", reason="connection to WhatsApp lost", retryable=True),
        ),
        (StreamReplacedEv(), StreamReplaced("s1")),
        (ClientOutdatedEv(), ClientOutdated("s1")),
        (
            LoggedOutEv(OnConnect=True, Reason=npb.MAIN_DEVICE_GONE),
            LoggedOut("s1", reason="main_device_gone (on connect)"),
        ),
        (
            TemporaryBanEv(Code=TemporaryBanEv.BLOCKED_BY_USERS, Expire=3600),
            TemporaryBan("s1", code="blocked_by_users", expires_in=3600.0),
        ),
        (
            ConnectFailureEv(Reason=npb.SERVICE_UNAVAILABLE, Message="try later"),
            ConnectFailure("s1", reason="service_unavailable: try later", code=10),
        ),
        (
            ConnectFailureEv(Reason=npb.CLIENT_OUTDATED),
            ConnectFailure("s1", reason="client_outdated", code=6, permanent=True),
        ),
    ],
)
def test_drops_are_reported_once_then_the_client_stops(ev: object, expected: object) -> None:
    h = Harness()
    h.push(ev)
    h.push(message_ev(e2e.Message(conversation="late")))
    h.push(DisconnectedEv(status=True))
    assert h.events == [expected]
    assert h.ended.is_set()
    h.wait_stopped()


def test_keepalive_timeout_and_restore() -> None:
    h = Harness()
    h.push(KeepAliveTimeoutEv(ErrorCount=2, LastSuccess=1))
    h.push(KeepAliveRestoredEv())
    assert h.events == [KeepAlive("s1", ok=False), KeepAlive("s1", ok=True)]


def test_history_sync_gives_push_names_and_messages() -> None:
    h = Harness()
    web = WebMessageInfo(
        key=MessageKey(remoteJID="5511999990001@s.whatsapp.net", fromMe=False, ID="3EB0OLD"),
        message=e2e.Message(conversation="antiga"),
        messageTimestamp=1_767_268_800,
        pushName="Maria",
    )
    data = HistorySync(
        syncType=HistorySync.RECENT,
        conversations=[
            Conversation(ID="5511999990001@s.whatsapp.net", messages=[HistorySyncMsg(message=web)])
        ],
        pushnames=[Pushname(ID="5511999990001@s.whatsapp.net", pushname="Maria")],
    )
    h.push(HistorySyncEv(Data=data))
    contact, history = h.events
    assert contact == ContactInfo(
        "s1", jid="5511999990001@s.whatsapp.net", phone="5511999990001", push_name="Maria"
    )
    assert isinstance(history, HistorySynced)
    (old,) = history.messages
    assert (old.wa_message_id, old.text, old.sender_phone) == ("3EB0OLD", "antiga", "5511999990001")


def _group_info() -> npb.GroupInfo:
    return npb.GroupInfo(
        JID=GROUP,
        GroupName=npb.GroupName(Name="Clientes"),
        GroupTopic=npb.GroupTopic(Topic="avisos"),
        Participants=[
            npb.GroupParticipant(JID=CUSTOMER, LID=CUSTOMER_LID, IsAdmin=True),
            npb.GroupParticipant(
                JID=CUSTOMER_LID, PhoneNumber=npb.JID(User="5511988887777", Server="s.whatsapp.net")
            ),
        ],
    )


def test_group_change_fetches_the_full_group() -> None:
    reply = npb.GetGroupInfoReturnFunction(GroupInfo=_group_info()).SerializePartialToString()
    h = Harness(GetGroupInfo=lambda uuid, jid, size: reply)
    h.push(GroupInfoEv(JID=GROUP, Join=[CUSTOMER]))
    event, joined = h.events
    assert isinstance(joined, GroupParticipantsChanged)
    assert isinstance(event, GroupInfo)
    assert (event.jid, event.name, event.topic) == ("120363000000000001@g.us", "Clientes", "avisos")
    admin, member = event.participants
    assert (admin.phone, admin.lid, admin.is_admin) == (
        "5511999990001",
        "123456789012345@lid",
        True,
    )
    assert (member.phone, member.lid) == ("5511988887777", "123456789012345@lid")


def test_group_rename_reported_alone_when_the_fetch_fails() -> None:
    reply = npb.GetGroupInfoReturnFunction(Error="not connected").SerializeToString()
    h = Harness(GetGroupInfo=lambda uuid, jid, size: reply)
    h.push(GroupInfoEv(JID=GROUP, Name=npb.GroupName(Name="Novo nome")))
    h.push(GroupInfoEv(JID=GROUP, Join=[CUSTOMER]))
    infos = [e for e in h.events if isinstance(e, GroupInfo)]
    assert infos == [GroupInfo("s1", jid="120363000000000001@g.us", name="Novo nome")]


def test_presence() -> None:
    h = Harness()
    h.push(PresenceEv(From=CUSTOMER, Unavailable=True, LastSeen=1_767_268_800))
    assert only(h) == PresenceUpdate(
        "s1",
        jid="5511999990001@s.whatsapp.net",
        available=False,
        last_seen=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
    )


def test_qr_codes_rotate_with_their_expiry_then_time_out() -> None:
    h = Harness()
    before = datetime.now(UTC)
    h.qr(b"2@first")
    h.qr(b"2@second")
    h.login_status("timeout")
    first, second, timeout = h.events
    assert isinstance(first, QrIssued)
    assert isinstance(second, QrIssued)
    assert (first.code, first.index, first.total) == ("2@first", 1, 6)
    assert 59 <= (first.expires_at - before).total_seconds() <= 61
    assert (second.code, second.index) == ("2@second", 2)
    assert 19 <= (second.expires_at - before).total_seconds() <= 21
    assert timeout == LinkTimedOut("s1", reason="qr_timeout")
    h.wait_stopped()


def test_pairing_code_requested_before_the_first_qr_is_issued_inside_it() -> None:
    import threading

    reply = npb.PairPhoneReturnFunction(Code="ABCDEFGH").SerializeToString()
    h = Harness(PairPhone=lambda uuid, payload, size: reply)
    results: list[base.PairingCode] = []
    waiter = threading.Thread(
        target=lambda: results.append(h.session.pairing_code("5511900000000"))
    )
    waiter.start()
    for _ in range(200):
        if h.session._pair_waiters:
            break
        threading.Event().wait(0.01)
    h.qr(b"2@first")
    waiter.join(5)
    assert results[0].code == "ABCD-EFGH"
    (payload, _size) = h.library.named("PairPhone")[0][1:]
    assert npb.PairPhoneParams.FromString(payload).phone == "5511900000000"
    h.qr(b"2@second")  # no QR after a pairing code: the state is pairing_code_ready
    assert [type(e) for e in h.events] == [QrIssued]
    h.login_status("timeout")
    assert h.events[-1] == LinkTimedOut("s1", reason="pairing_timeout")
