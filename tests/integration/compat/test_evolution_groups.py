"""``/group/...`` with Evolution API v2's field names, query strings and answer shapes,
on the simulator, on both databases."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.compat.helpers import EVO, create_instance, link_instance, org_key
from zapgate.util.clock import ManualClock

ME = "5511999990001@s.whatsapp.net"
ANA = "5511988887777"
BIA = "5511977776666"
CAIO = "5511966665555"


async def _two_instances(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> tuple[dict[str, str], dict[str, str]]:
    key = await org_key(client, admin)
    loja = await create_instance(client, key, "loja")
    await link_instance(client, clock, key, admin, "loja", loja["instance"]["instanceId"])
    filial = await create_instance(client, key, "filial")
    await link_instance(
        client, clock, key, admin, "filial", filial["instance"]["instanceId"], "5511999990002"
    )
    return {"apikey": loja["hash"]}, {"apikey": filial["hash"]}


def _admins(group: dict[str, Any]) -> dict[str, str | None]:
    return {p["id"]: p["admin"] for p in group["participants"]}


async def test_a_group_from_creation_to_leaving(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    loja, filial = await _two_instances(client, admin, clock)
    created = await client.post(
        f"{EVO}/group/create/loja",
        headers=loja,
        json={
            "subject": "Clientes VIP",
            "description": "Ofertas da semana",
            "participants": [ANA, f"{BIA}@s.whatsapp.net"],
        },
    )
    assert created.status_code == 201, created.text
    group = created.json()
    jid = group["id"]
    assert jid.endswith("@g.us")
    assert group["subject"] == "Clientes VIP"
    assert group["desc"] == "Ofertas da semana"
    assert group["size"] == 3
    assert group["owner"] == ME
    assert _admins(group) == {
        ME: "superadmin",
        f"{ANA}@s.whatsapp.net": None,
        f"{BIA}@s.whatsapp.net": None,
    }
    for key in ("subjectOwner", "creation", "restrict", "announce", "pictureUrl"):
        assert key in group

    # groupJid as bare digits gains @g.us, like Evolution.
    info = await client.get(
        f"{EVO}/group/findGroupInfos/loja", headers=loja, params={"groupJid": jid[:-5]}
    )
    assert info.status_code == 200, info.text
    assert info.json()["id"] == jid
    assert info.json()["participants"][0]["phoneNumber"] == ME

    members = await client.get(
        f"{EVO}/group/participants/loja", headers=loja, params={"groupJid": jid}
    )
    assert members.status_code == 200, members.text
    assert sorted(p["id"] for p in members.json()["participants"]) == sorted(_admins(group))
    assert {"id", "admin", "name", "imgUrl"} <= set(members.json()["participants"][0])

    added = await client.post(
        f"{EVO}/group/updateParticipant/loja",
        headers=loja,
        params={"groupJid": jid},
        json={"action": "add", "participants": [CAIO, ANA]},
    )
    assert added.status_code == 201, added.text
    results = added.json()["updateParticipants"]
    assert [(r["jid"], r["status"]) for r in results] == [
        (f"{CAIO}@s.whatsapp.net", "200"),
        (f"{ANA}@s.whatsapp.net", "409"),
    ]
    promoted = await client.post(
        f"{EVO}/group/updateParticipant/loja",
        headers=loja,
        json={"groupJid": jid, "action": "promote", "participants": [CAIO]},
    )
    assert promoted.json()["updateParticipants"][0]["status"] == "200"

    subject = await client.post(
        f"{EVO}/group/updateGroupSubject/loja",
        headers=loja,
        params={"groupJid": jid},
        json={"subject": "VIP 2"},
    )
    assert (subject.status_code, subject.json()) == (201, {"update": "success"})
    described = await client.post(
        f"{EVO}/group/updateGroupDescription/loja",
        headers=loja,
        json={"groupJid": jid, "description": "Novas ofertas"},
    )
    assert (described.status_code, described.json()) == (201, {"update": "success"})
    info = await client.get(
        f"{EVO}/group/findGroupInfos/loja", headers=loja, params={"groupJid": jid}
    )
    assert (info.json()["subject"], info.json()["desc"]) == ("VIP 2", "Novas ofertas")
    assert _admins(info.json())[f"{CAIO}@s.whatsapp.net"] == "admin"

    code = await client.get(f"{EVO}/group/inviteCode/loja", headers=loja, params={"groupJid": jid})
    assert code.status_code == 200, code.text
    old = code.json()["inviteCode"]
    assert code.json()["inviteUrl"] == f"https://chat.whatsapp.com/{old}"
    revoked = await client.post(
        f"{EVO}/group/revokeInviteCode/loja", headers=loja, params={"groupJid": jid}
    )
    assert revoked.status_code == 201, revoked.text
    assert revoked.json()["revoked"] is True
    new = revoked.json()["inviteCode"]
    assert new != old

    stale = await client.get(
        f"{EVO}/group/acceptInviteCode/filial", headers=filial, params={"inviteCode": old}
    )
    assert stale.status_code == 400, stale.text
    assert stale.json()["response"]["code"] == "invite_invalid"
    accepted = await client.get(
        f"{EVO}/group/acceptInviteCode/filial", headers=filial, params={"inviteCode": new}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"accepted": True, "groupJid": jid}

    listed = await client.get(
        f"{EVO}/group/fetchAllGroups/filial", headers=filial, params={"getParticipants": "false"}
    )
    assert [g["id"] for g in listed.json()] == [jid]
    assert "participants" not in listed.json()[0]
    # A member that is not an admin cannot change participants.
    refused = await client.post(
        f"{EVO}/group/updateParticipant/filial",
        headers=filial,
        params={"groupJid": jid},
        json={"action": "remove", "participants": [ANA]},
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["response"]["code"] == "not_group_admin"

    left = await client.delete(
        f"{EVO}/group/leaveGroup/filial", headers=filial, params={"groupJid": jid}
    )
    assert left.status_code == 200, left.text
    assert left.json() == {"groupJid": jid, "leave": True}
    gone = await client.get(
        f"{EVO}/group/fetchAllGroups/filial", headers=filial, params={"getParticipants": "true"}
    )
    assert gone.json() == []


async def test_create_can_promote_everyone(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    loja, _ = await _two_instances(client, admin, clock)
    created = await client.post(
        f"{EVO}/group/create/loja",
        headers=loja,
        json={"subject": "Gerentes", "participants": [ANA, BIA], "promoteParticipants": True},
    )
    assert created.status_code == 201, created.text
    assert _admins(created.json()) == {
        ME: "superadmin",
        f"{ANA}@s.whatsapp.net": "admin",
        f"{BIA}@s.whatsapp.net": "admin",
    }


async def test_group_errors_are_evolution_shaped(
    client: httpx.AsyncClient, admin: dict[str, str], clock: ManualClock
) -> None:
    loja, _ = await _two_instances(client, admin, clock)

    async def bad(method: str, path: str, code: str, status: int = 400, **kw: Any) -> None:
        answer = await client.request(method, f"{EVO}{path}", headers=loja, **kw)
        assert answer.status_code == status, (path, answer.text)
        body = answer.json()
        assert body["status"] == status
        assert body["response"]["code"] == code, body
        assert isinstance(body["response"]["message"], list)

    await bad("GET", "/group/findGroupInfos/loja", "group_jid_required")
    await bad("GET", "/group/participants/loja", "group_jid_required")
    await bad("DELETE", "/group/leaveGroup/loja", "group_jid_required")
    await bad("GET", "/group/acceptInviteCode/loja", "invite_code_required")
    await bad(
        "GET",
        "/group/findGroupInfos/loja",
        "group_not_found",
        404,
        params={"groupJid": "120363999999999999@g.us"},
    )
    await bad(
        "GET", "/group/fetchAllGroups/loja", "validation_error", params={"getParticipants": "x"}
    )
    await bad(
        "POST", "/group/create/loja", "validation_error", json={"subject": "x", "participants": []}
    )
    await bad(
        "POST",
        "/group/create/loja",
        "validation_error",
        json={"subject": "x", "participants": ["123"]},
    )
    await bad("POST", "/group/create/loja", "validation_error", json={"participants": [ANA]})
    await bad(
        "POST",
        "/group/updateParticipant/loja",
        "validation_error",
        params={"groupJid": "120363999999999999@g.us"},
        json={"action": "ban", "participants": [ANA]},
    )
    await bad(
        "POST",
        "/group/updateGroupSubject/loja",
        "group_jid_required",
        json={"subject": "x"},
    )
    await bad(
        "POST",
        "/group/updateGroupDescription/loja",
        "validation_error",
        params={"groupJid": "120363999999999999@g.us"},
        json={},
    )
    missing = await client.get(
        f"{EVO}/group/findGroupInfos/loja", headers=loja, params={"groupJid": ""}
    )
    assert missing.json()["response"]["message"] == [
        "The group id needs to be informed in the query",
        'ex: "groupJid=120362@g.us"',
    ]
