"""The profile operations against the library's own calls and real protobuf answers:
a contact's picture (the URL fetched by the worker, never handed on), business accounts
from the verified name, the blocklist, the own name, status and photo."""

from __future__ import annotations

from typing import Any

import pytest
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waVnameCert import WAWebProtobufsVnameCert_pb2 as vname
from neonize_harness import Harness

from zapgate.domain.errors import EngineError
from zapgate.engines.neonize import convert, profile_ops, protocol
from zapgate.engines.profile_types import ContactProfile, ProfilePicture, ProfileUpdate

ANA = "5511977770001@s.whatsapp.net"
URL = "https://pps.whatsapp.net/v/t61/abc.jpg?oh=sig&oe=exp"
JPEG = b"\xff\xd8\xff\xe0picture"


def picture_answer(**fields: Any) -> bytes:
    return npb.GetProfilePictureReturnFunction(**fields).SerializeToString()


def users(business: bool) -> bytes:
    info = npb.UserInfo(Status="oi", PictureID="p1")
    if business:
        info = npb.UserInfo(
            Status="oi",
            PictureID="p1",
            VerifiedName=npb.VerifiedName(
                Certificate=vname.VerifiedNameCertificate(),
                Details=vname.VerifiedNameCertificate.Details(verifiedName="Loja da Ana"),
            ),
        )
    single = npb.GetUserInfoSingleReturnFunction(JID=convert.make_jid(ANA), UserInfo=info)
    return npb.GetUserInfoReturnFunction(UsersInfo=[single]).SerializeToString()


def connected(**functions: Any) -> Harness:
    h = Harness(**functions)
    h.session.connected = True
    return h


def test_a_picture_is_fetched_from_whatsapps_url_and_only_bytes_come_back() -> None:
    fetched: list[tuple[str, str | None]] = []

    def fetch(url: str, proxy: str | None) -> bytes:
        fetched.append((url, proxy))
        return JPEG

    h = connected(
        GetProfilePicture=lambda *a: picture_answer(
            Picture=npb.ProfilePictureInfo(URL=URL, ID="1712345678", Type="image")
        ),
        GetUserInfo=lambda *a: users(business=True),
    )
    answer = profile_ops.run(h.session, "contact_profile", {"jid": ANA}, fetch)
    assert answer == ContactProfile(ProfilePicture("1712345678", JPEG), is_business=True)
    assert fetched == [(URL, None)]
    # Over the worker protocol the answer is the bytes, not the URL.
    assert "pps.whatsapp.net" not in str(protocol.to_json(answer))
    ((_, jid_bytes, _, extra, _),) = h.library.named("GetProfilePicture")
    assert npb.JID.FromString(jid_bytes).User == "5511977770001"
    assert npb.GetProfilePictureParams.FromString(extra).Preview is False


@pytest.mark.parametrize(
    "error", ["the user has hidden their profile picture from you", "404 item-not-found"]
)
def test_no_picture_or_a_hidden_one_is_none_and_a_personal_account_is_not_business(
    error: str,
) -> None:
    h = connected(
        GetProfilePicture=lambda *a: picture_answer(Error=error),
        GetUserInfo=lambda *a: users(business=False),
    )
    answer = profile_ops.run(h.session, "contact_profile", {"jid": ANA}, lambda u, p: b"")
    assert answer == ContactProfile(None, is_business=False)


def test_an_empty_picture_answer_is_none_and_unknown_user_info_is_none() -> None:
    h = connected(
        GetProfilePicture=lambda *a: picture_answer(),
        GetUserInfo=lambda *a: npb.GetUserInfoReturnFunction(Error="timed out").SerializeToString(),
    )
    answer = profile_ops.run(h.session, "contact_profile", {"jid": ANA}, lambda u, p: b"")
    assert answer == ContactProfile(None, None)


def test_other_picture_errors_are_engine_errors() -> None:
    h = connected(GetProfilePicture=lambda *a: picture_answer(Error="websocket not connected"))
    with pytest.raises(EngineError) as raised:
        profile_ops.run(h.session, "contact_profile", {"jid": ANA}, lambda u, p: b"")
    assert raised.value.code == "picture_failed"


def test_not_connected_is_not_connected() -> None:
    h = Harness()
    with pytest.raises(EngineError) as raised:
        profile_ops.run(h.session, "block", {"jid": ANA, "blocked": True})
    assert raised.value.code == "not_connected"


@pytest.mark.parametrize(("blocked", "action"), [(True, b"block"), (False, b"unblock")])
def test_block_and_unblock_update_the_blocklist(blocked: bool, action: bytes) -> None:
    answer = npb.GetBlocklistReturnFunction(
        Blocklist=npb.Blocklist(DHash="h", JIDs=[convert.make_jid(ANA)])
    ).SerializeToString()
    h = connected(UpdateBlocklist=lambda *a: answer)
    assert profile_ops.run(h.session, "block", {"jid": ANA, "blocked": blocked}) is None
    ((_, jid_bytes, _, sent),) = h.library.named("UpdateBlocklist")
    assert (npb.JID.FromString(jid_bytes).User, sent) == ("5511977770001", action)


def test_a_refused_block_is_an_engine_error() -> None:
    answer = npb.GetBlocklistReturnFunction(Error="403 forbidden").SerializeToString()
    h = connected(UpdateBlocklist=lambda *a: answer)
    with pytest.raises(EngineError) as raised:
        profile_ops.run(h.session, "block", {"jid": ANA, "blocked": True})
    assert raised.value.code == "block_failed"


def test_own_profile_name_status_and_photo() -> None:
    h = connected(
        SetPushName=lambda uuid, name: b"",
        SetStatusMessage=lambda uuid, text: b"",
        SetProfilePhoto=lambda uuid, data, size: npb.SetGroupPhotoReturnFunction(
            PictureID="p2"
        ).SerializeToString(),
    )
    update = ProfileUpdate(name="Loja", status="Seg a sex", picture=JPEG)
    args = {"update": protocol.to_json(update)}
    assert profile_ops.run(h.session, "own_profile", args) is None
    assert h.library.named("SetPushName")[0][1] == b"Loja"
    assert h.library.named("SetStatusMessage")[0][1] == b"Seg a sex"
    assert h.library.named("SetProfilePhoto")[0][1] == JPEG


def test_only_the_given_profile_fields_change_and_failures_are_errors() -> None:
    h = connected(SetStatusMessage=lambda uuid, text: b"not logged in")
    with pytest.raises(EngineError) as raised:
        profile_ops.run(
            h.session, "own_profile", {"update": protocol.to_json(ProfileUpdate(status="x"))}
        )
    assert raised.value.code == "profile_failed"
    assert h.library.named("SetPushName") == []


@pytest.mark.parametrize(
    "url", ["http://pps.whatsapp.net/x.jpg", "https://evil.example/x.jpg", "file:///etc/passwd"]
)
def test_the_worker_fetches_pictures_only_from_whatsapps_servers(url: str) -> None:
    with pytest.raises(EngineError) as raised:
        profile_ops.fetch_picture(url, None)
    assert raised.value.code == "picture_failed"
    assert raised.value.permanent


def test_a_socks5_proxy_is_used_and_its_failure_names_no_whatsapp_url() -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(EngineError) as raised:
        profile_ops.fetch_picture(URL, f"socks5://user:secret@127.0.0.1:{port}")
    assert raised.value.code == "picture_failed"
    assert "whatsapp.net" not in str(raised.value)
    assert "secret" not in str(raised.value)
    assert "socksio" not in str(raised.value)  # the socks support is installed
