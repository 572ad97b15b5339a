"""Evolution's settings and profile routes on the simulator: the behaviour settings in
Evolution's names, a picture URL of ours (never WhatsApp's), blocking, the own profile."""

from __future__ import annotations

import base64

import httpx

from tests.integration.compat.helpers import EVO, create_instance, link_instance, org_key
from zapgate.util.clock import ManualClock

ANA = "5511977770001"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(48))


async def test_a_refused_setting_at_creation_leaves_no_instance_behind(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await org_key(client, admin)
    h = {"apikey": key}
    refused = await client.post(
        f"{EVO}/instance/create",
        headers=h,
        json={"instanceName": "orfa", "integration": "WHATSAPP-BAILEYS", "msgCall": "x" * 5000},
    )
    assert refused.status_code == 400, refused.text
    listed = (await client.get(f"{EVO}/instance/fetchInstances", headers=h)).json()
    assert [i for i in listed if i.get("name") == "orfa"] == []
    # The corrected retry is not refused as a name in use.
    created = await create_instance(client, key, "orfa", msgCall="Só mensagens")
    assert created["instance"]["instanceName"] == "orfa"


async def test_settings_set_and_find_map_to_the_behaviour_settings(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await org_key(client, admin)
    created = await create_instance(
        client, key, "loja", rejectCall=True, msgCall="Só mensagens", readStatus=True
    )
    cid = created["instance"]["instanceId"]
    assert created["settings"]["rejectCall"] is True
    assert created["settings"]["msgCall"] == "Só mensagens"
    h = {"apikey": key}
    found = await client.get(f"{EVO}/settings/find/loja", headers=h)
    assert found.status_code == 200, found.text
    assert found.json() == {
        "rejectCall": True,
        "msgCall": "Só mensagens",
        "groupsIgnore": False,
        "alwaysOnline": False,
        "readMessages": False,
        "readStatus": True,
        "syncFullHistory": False,
        "wavoipToken": "",
    }
    answer = await client.post(
        f"{EVO}/settings/set/loja",
        headers=h,
        json={
            "rejectCall": False,
            "msgCall": "",
            "groupsIgnore": True,
            "alwaysOnline": True,
            "readMessages": True,
            "readStatus": False,
            "syncFullHistory": True,
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["settings"]["instanceName"] == "loja"
    assert answer.json()["settings"]["settings"]["groupsIgnore"] is True
    ours = (await client.get(f"/api/v1/connections/{cid}", headers=admin)).json()
    assert {
        k: ours[k]
        for k in (
            "reject_calls",
            "reject_call_message",
            "ignore_groups",
            "always_online",
            "auto_read",
            "ignore_status",
            "sync_history",
        )
    } == {
        "reject_calls": False,
        "reject_call_message": None,
        "ignore_groups": True,
        "always_online": True,
        "auto_read": True,
        "ignore_status": True,
        "sync_history": "full",
    }
    listed = (await client.get(f"{EVO}/instance/fetchInstances", headers=h)).json()
    assert listed[0]["Setting"]["readMessages"] is True

    wrong = await client.post(f"{EVO}/settings/set/loja", headers=h, json={"rejectCall": "sim"})
    assert wrong.status_code == 400
    assert wrong.json()["response"]["code"] == "validation_error"
    voip = await client.post(f"{EVO}/settings/set/loja", headers=h, json={"wavoipToken": "t"})
    assert voip.status_code == 501
    assert voip.json()["response"]["code"] == "not_supported"
    missing = await client.get(f"{EVO}/settings/find/nada", headers=h)
    assert missing.status_code == 404


async def test_profile_picture_url_block_and_own_profile(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    key = await org_key(client, admin)
    created = await create_instance(client, key, "loja")
    cid = created["instance"]["instanceId"]
    await link_instance(client, clock, key, admin, "loja", cid)
    h = {"apikey": key}

    none = await client.post(
        f"{EVO}/chat/fetchProfilePictureUrl/loja", headers=h, json={"number": ANA}
    )
    assert none.status_code == 200, none.text
    assert none.json() == {"wuid": f"{ANA}@s.whatsapp.net", "profilePictureUrl": None}

    set_picture = await client.post(
        "/api/v1/simulator/contacts/profile",
        headers=admin,
        json={
            "phone": "5511977770002",
            "picture": {"base64": base64.b64encode(JPEG).decode(), "mimetype": "image/jpeg"},
            "is_business": True,
        },
    )
    assert set_picture.status_code == 204
    got = await client.post(
        f"{EVO}/chat/fetchProfilePictureUrl/loja", headers=h, json={"number": "5511977770002"}
    )
    url = got.json()["profilePictureUrl"]
    assert url.startswith("http://")
    assert "/api/v1/contacts/" in url
    assert url.endswith("/picture")
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    image = await client.get(path, headers={"X-API-Key": key})
    assert image.status_code == 200, image.text
    assert image.content == JPEG
    profile = await client.post(
        f"{EVO}/chat/fetchProfile/loja", headers=h, json={"number": "5511977770002"}
    )
    assert profile.json()["isBusiness"] is True
    assert profile.json()["picture"] == url

    block = await client.post(
        f"{EVO}/chat/updateBlockStatus/loja", headers=h, json={"number": ANA, "status": "block"}
    )
    assert block.status_code == 200, block.text
    assert block.json() == {"block": "success"}
    activity = (
        await client.get(f"/api/v1/simulator/connections/{cid}/activity", headers=admin)
    ).json()
    assert activity["blocked"] == [ANA]
    odd = await client.post(
        f"{EVO}/chat/updateBlockStatus/loja", headers=h, json={"number": ANA, "status": "mute"}
    )
    assert odd.status_code == 400
    assert odd.json()["response"]["code"] == "validation_error"

    for path, body in (
        ("updateProfileName", {"name": "Loja da Ana"}),
        ("updateProfileStatus", {"status": "Aberto"}),
        ("updateProfilePicture", {"picture": base64.b64encode(JPEG).decode()}),
    ):
        answer = await client.post(f"{EVO}/chat/{path}/loja", headers=h, json=body)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json() == {"update": "success"}
    own = (await client.get(f"/api/v1/simulator/connections/{cid}/activity", headers=admin)).json()[
        "profile"
    ]
    assert (own["name"], own["status"]) == ("Loja da Ana", "Aberto")
    assert own["picture_sha256"] is not None
    me = (await client.post(f"{EVO}/chat/fetchProfile/loja", headers=h, json={})).json()
    assert (me["name"], me["status"]) == ("Loja da Ana", "Aberto")
    too_long = await client.post(
        f"{EVO}/chat/updateProfileName/loja", headers=h, json={"name": "x" * 40}
    )
    assert too_long.status_code == 400
    assert too_long.json()["response"]["code"] == "invalid_name"
