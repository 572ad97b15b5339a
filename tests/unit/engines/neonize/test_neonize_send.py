"""Outgoing messages built by us and sent through neonize with the FFI send replaced."""

from __future__ import annotations

import inspect
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from neonize.events import ConnectedEv
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize_harness import Harness

from zapgate.domain.errors import EngineError, SessionNotRunning
from zapgate.domain.messages import ContactCard, Location, MessageType
from zapgate.engines import base
from zapgate.engines.events import Reaction
from zapgate.engines.neonize import requests
from zapgate.engines.neonize import session as session_module
from zapgate.engines.neonize.engine import NeonizeEngine

TO = "5511999990001@s.whatsapp.net"


def connected(**functions: Any) -> Harness:
    me = npb.Device(JID=npb.JID(User="5511900000000", Server="s.whatsapp.net", Device=3))
    sent = npb.SendMessageReturnFunction(
        SendResponse=npb.SendResponse(ID="3EB0FROMLIB", Timestamp=1_767_268_800)
    )
    library: dict[str, Any] = {
        "GetMe": lambda uuid: me.SerializePartialToString(),
        "SendMessage": lambda uuid, to, to_size, msg, msg_size: sent.SerializePartialToString(),
        **functions,
    }
    h = Harness(**library)
    h.push(ConnectedEv(status=True))
    h.events.clear()
    return h


def sent_message(h: Harness) -> tuple[npb.JID, e2e.Message]:
    (_uuid, to, _size, message, _msize) = h.library.named("SendMessage")[-1]
    return npb.JID.FromString(to), e2e.Message.FromString(message)


def test_text_send_returns_the_library_id_and_time() -> None:
    h = connected()
    result = requests.send(
        h.session, base.OutgoingMessage("3EB0MINE", TO, MessageType.TEXT, text="olá")
    )
    assert result == base.SendResult("3EB0FROMLIB", datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    to, message = sent_message(h)
    assert (to.User, to.Server, message.conversation) == ("5511999990001", "s.whatsapp.net", "olá")


def test_reply_quotes_the_original() -> None:
    h = connected()
    requests.send(
        h.session,
        base.OutgoingMessage(
            "3EB0MINE",
            TO,
            MessageType.TEXT,
            text="sim",
            reply_to=base.QuotedMessage("3EB0ORIG", sender_jid=TO, text="pode?"),
        ),
    )
    _, message = sent_message(h)
    context = message.extendedTextMessage.contextInfo
    assert (context.stanzaID, context.participant, context.quotedMessage.conversation) == (
        "3EB0ORIG",
        TO,
        "pode?",
    )


def test_image_is_uploaded_from_bytes_and_described() -> None:
    upload = npb.UploadReturnFunction(
        UploadResponse=npb.UploadResponse(
            url="https://mmg/x",
            DirectPath="/v/x",
            MediaKey=b"k",
            FileEncSHA256=b"e",
            FileSHA256=b"s",
            FileLength=3,
        )
    )
    h = connected(Upload=lambda uuid, data, size, kind: upload.SerializePartialToString())
    requests.send(
        h.session,
        base.OutgoingMessage(
            "3EB0MINE",
            TO,
            MessageType.IMAGE,
            media=base.OutgoingMedia(b"\x89PN", "image/png", caption="foto"),
        ),
    )
    (_uuid, data, _size, kind) = h.library.named("Upload")[0]
    assert (data, kind) == (b"\x89PN", 0)
    _, message = sent_message(h)
    image = message.imageMessage
    assert (image.URL, image.directPath, image.mimetype, image.caption, image.fileLength) == (
        "https://mmg/x",
        "/v/x",
        "image/png",
        "foto",
        3,
    )


def test_voice_note_reaction_location_and_contact() -> None:
    upload = npb.UploadReturnFunction(UploadResponse=npb.UploadResponse(url="u"))
    h = connected(Upload=lambda uuid, data, size, kind: upload.SerializePartialToString())
    requests.send(
        h.session,
        base.OutgoingMessage(
            "1", TO, MessageType.VOICE, media=base.OutgoingMedia(b"ogg", "audio/ogg")
        ),
    )
    assert sent_message(h)[1].audioMessage.PTT
    requests.send(
        h.session,
        base.OutgoingMessage(
            "2",
            TO,
            MessageType.REACTION,
            reaction=Reaction(target_id="3EB0X", emoji="❤️", target_from_me=False),
        ),
    )
    reaction = sent_message(h)[1].reactionMessage
    assert (reaction.key.ID, reaction.key.fromMe, reaction.text) == ("3EB0X", False, "❤️")
    requests.send(
        h.session,
        base.OutgoingMessage(
            "3", TO, MessageType.LOCATION, location=Location(-23.5, -46.6, name="Loja")
        ),
    )
    assert sent_message(h)[1].locationMessage.name == "Loja"
    requests.send(
        h.session,
        base.OutgoingMessage(
            "4", TO, MessageType.CONTACT, contact=ContactCard("Ana", phone="5511988887777")
        ),
    )
    assert "waid=5511988887777" in sent_message(h)[1].contactMessage.vcard


def test_group_reaction_to_someone_else_needs_the_sender() -> None:
    h = connected()
    with pytest.raises(EngineError, match="sender"):
        requests.send(
            h.session,
            base.OutgoingMessage(
                "1",
                "120363000000000001@g.us",
                MessageType.REACTION,
                reaction=Reaction(target_id="X", emoji="👍", target_from_me=False),
            ),
        )


def test_oversized_media_is_refused_before_any_upload() -> None:
    h = connected()
    with pytest.raises(EngineError) as err:
        requests.send(
            h.session,
            base.OutgoingMessage(
                "1", TO, MessageType.DOCUMENT, media=base.OutgoingMedia(b"x" * (2 << 20), "a/b")
            ),
        )
    assert err.value.code == "media_too_large"
    assert not h.library.named("Upload")


def test_send_error_from_the_library_is_raised() -> None:
    failed = npb.SendMessageReturnFunction(Error="server returned error 479")
    h = connected(SendMessage=lambda *args: failed.SerializePartialToString())
    with pytest.raises(Exception, match="479"):
        requests.send(h.session, base.OutgoingMessage("1", TO, MessageType.TEXT, text="x"))


def test_nothing_is_sent_before_connected() -> None:
    h = Harness()
    with pytest.raises(SessionNotRunning):
        requests.send(h.session, base.OutgoingMessage("1", TO, MessageType.TEXT, text="x"))
    assert h.session.ping() is False
    assert h.library.calls == []


def test_the_library_offers_no_way_to_send_with_our_id() -> None:
    """neonize 0.5.2: five FFI arguments, none an id; our id never reaches the library.

    If an upgrade adds an id to ``SendMessage`` this fails: send with our id then and set
    ``NeonizeEngine.chooses_message_ids``.
    """
    from neonize._binder import gocode
    from neonize.client import NewClient

    from zapgate.engines.neonize.engine import NeonizeEngine

    assert len(gocode.SendMessage.argtypes) == 5
    params = set(inspect.signature(NewClient.send_message).parameters)
    assert params == {
        "self",
        "to",
        "message",
        "link_preview",
        "ghost_mentions",
        "mentions_are_lids",
        "add_msg_secret",
    }
    h = connected()
    result = requests.send(
        h.session, base.OutgoingMessage("3EB0CHOSENBYUS", TO, MessageType.TEXT, text="x")
    )
    (call,) = h.library.named("SendMessage")
    given = [arg for arg in call if isinstance(arg, bytes)]
    assert len(given) == 3  # the client, the recipient and the message
    assert not any(b"3EB0CHOSENBYUS" in arg for arg in given)
    assert result.wa_message_id == "3EB0FROMLIB"
    assert NeonizeEngine.chooses_message_ids is False


def test_a_ping_while_another_session_holds_the_library_is_not_a_death(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sessions sharing a worker share its one lock: a ping that cannot get it (another
    session uploads media) must not report this session dead, or the health check would
    reconnect every number of a busy worker."""
    h = connected(IsConnected=lambda uuid: True, IsLoggedIn=lambda uuid: True)
    assert h.session.ping() is True
    # The worker answers before the server gives up waiting for the answer.
    stop_timeout = NeonizeEngine.__init__.__kwdefaults__["stop_timeout"]
    assert stop_timeout > 2 * session_module.PING_GATE_TIMEOUT > 0
    monkeypatch.setattr(session_module, "PING_GATE_TIMEOUT", 0.05)
    held, release = threading.Event(), threading.Event()

    def upload() -> None:
        with h.session.gate.hold():
            held.set()
            release.wait(10)

    uploader = threading.Thread(target=upload)
    uploader.start()
    try:
        assert held.wait(10)
        before = len(h.library.calls)
        assert h.session.ping() is True
        assert len(h.library.calls) == before  # the library was left alone
    finally:
        release.set()
        uploader.join()
