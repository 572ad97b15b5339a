"""Groups through the API on the simulator: every operation, its failures, its events."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API, create_connection, link
from tests.integration.messaging.kit import ready_connection, simulator
from zapgate.domain.groups import ParticipantAction
from zapgate.engines.events import (
    GroupInfo,
    GroupMember,
    GroupParticipant,
    GroupParticipantsChanged,
)
from zapgate.services.group_records import find_group
from zapgate.util.clock import ManualClock

ME = "5511999990001"
ANA = "5511977770001"
BIA = "5511977770002"
GHOST = "5511977770000"  # ends in 0000: not on WhatsApp


def groups_url(cid: str, rest: str = "") -> str:
    return f"{API}/connections/{cid}/groups{rest}"


async def create_group(server: Server, h: dict[str, str], cid: str) -> dict[str, Any]:
    response = await server.http.post(
        groups_url(cid), headers=h, json={"subject": "Clientes", "participants": [f"+{ANA}"]}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def events(server: Server, h: dict[str, str]) -> list[dict[str, Any]]:
    response = await server.http.get(
        f"{API}/events", headers=h, params={"types": "group.updated,group.participants"}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return sorted(items, key=lambda e: int(e["id"]))


def code(response: Any) -> str:
    return str(response.json()["error"]["code"])


async def test_create_describe_update_and_manage_participants(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    group = await create_group(server, admin, cid)
    jid = group["jid"]
    assert jid.endswith("@g.us")
    assert group["subject"] == "Clientes"
    roles = {p["phone"]: (p["is_admin"], p["is_super_admin"]) for p in group["participants"]}
    assert roles == {ME: (True, True), ANA: (False, False)}
    assert group["picture"] is None

    patched = await server.http.patch(
        groups_url(cid, f"/{jid}"),
        headers=admin,
        json={"subject": "Clientes VIP", "description": "avisos"},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["subject"], patched.json()["description"]) == ("Clientes VIP", "avisos")

    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    upload = await server.http.post(
        f"{API}/media", headers=admin, files={"file": ("g.jpg", jpeg, "image/jpeg")}
    )
    assert upload.status_code == 201, upload.text
    media_id = upload.json()["id"]
    pictured = await server.http.patch(
        groups_url(cid, f"/{jid}"), headers=admin, json={"picture_media_id": media_id}
    )
    assert pictured.json()["picture"] == f"/api/v1/media/{media_id}"

    added = await server.http.post(
        groups_url(cid, f"/{jid}/participants"),
        headers=admin,
        json={"action": "add", "phones": [BIA, GHOST, ANA]},
    )
    assert added.status_code == 200, added.text
    results = {r["phone"]: (r["ok"], r["error"]) for r in added.json()["results"]}
    assert results == {
        BIA: (True, None),
        GHOST: (False, "not_on_whatsapp"),
        ANA: (False, "already_member"),
    }
    promoted = await server.http.post(
        groups_url(cid, f"/{jid}/participants"),
        headers=admin,
        json={"action": "promote", "phones": [BIA]},
    )
    admins = {p["phone"] for p in promoted.json()["group"]["participants"] if p["is_admin"]}
    assert admins == {ME, BIA}
    removed = await server.http.post(
        groups_url(cid, f"/{jid}/participants"),
        headers=admin,
        json={"action": "remove", "phones": [ANA]},
    )
    assert ANA not in {p["phone"] for p in removed.json()["group"]["participants"]}

    fetched = await server.http.get(groups_url(cid, f"/{jid}"), headers=admin)
    assert fetched.status_code == 200
    assert {p["phone"] for p in fetched.json()["participants"]} == {ME, BIA}

    seen = await events(server, admin)
    summary = [
        (e["type"], e["data"].get("action"), sorted(e["data"].get("changes", {}))) for e in seen
    ]
    assert summary == [
        ("group.participants", "add", []),  # the number itself, in the group it made
        ("group.updated", None, ["description", "subject"]),
        ("group.updated", None, ["picture"]),
        ("group.participants", "add", []),
        ("group.participants", "promote", []),
        ("group.participants", "remove", []),
    ]
    made = seen[0]["data"]
    assert [p["phone"] for p in made["participants"]] == [ME]
    assert (made["by"]["phone"], made["source"]) == (ME, "api")
    assert made["group"]["jid"] == jid
    first = seen[1]["data"]
    assert first["by"]["phone"] == ME
    assert first["source"] == "api"
    assert first["changes"] == {"subject": "Clientes VIP", "description": "avisos"}
    assert [p["phone"] for p in seen[3]["data"]["participants"]] == [BIA]


async def test_invites_join_and_leave(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    owner = await ready_connection(server, admin, clock)
    other = await ready_connection(server, admin, clock, name="Other", phone=BIA)
    jid = (await create_group(server, admin, owner))["jid"]

    invite = (await server.http.get(groups_url(owner, f"/{jid}/invite"), headers=admin)).json()
    assert invite["url"] == "https://chat.whatsapp.com/" + invite["code"]
    revoked = await server.http.post(groups_url(owner, f"/{jid}/invite/revoke"), headers=admin)
    fresh = revoked.json()
    assert fresh["code"] != invite["code"]

    stale = await server.http.post(
        groups_url(other, "/join"), headers=admin, json={"code": invite["code"]}
    )
    assert (stale.status_code, code(stale)) == (422, "invite_invalid")
    joined = await server.http.post(
        groups_url(other, "/join"), headers=admin, json={"code": fresh["url"]}
    )
    assert joined.status_code == 200, joined.text
    assert BIA in {p["phone"] for p in joined.json()["participants"]}

    # The member that joined is not an admin: it may not manage participants.
    refused = await server.http.post(
        groups_url(other, f"/{jid}/participants"),
        headers=admin,
        json={"action": "remove", "phones": [ANA]},
    )
    assert (refused.status_code, code(refused)) == (403, "not_group_admin")
    no_link = await server.http.get(groups_url(other, f"/{jid}/invite"), headers=admin)
    assert (no_link.status_code, code(no_link)) == (403, "not_group_admin")

    # The owner's connection hears about the join from WhatsApp.
    async def owner_heard() -> bool:
        return any(
            e["connection_id"] == owner and e["data"]["source"] == "whatsapp"
            for e in await events(server, admin)
        )

    await eventually(owner_heard, what="the join reported to the owner")

    left = await server.http.post(groups_url(other, f"/{jid}/leave"), headers=admin)
    assert left.status_code == 204
    gone = await server.http.get(groups_url(other, f"/{jid}"), headers=admin)
    assert (gone.status_code, code(gone)) == (404, "group_not_found")
    listed = (await server.http.get(groups_url(other), headers=admin)).json()
    assert jid not in {g["jid"] for g in listed}
    mine = [e for e in await events(server, admin) if e["connection_id"] == other]
    assert [(e["data"]["action"], e["data"]["source"]) for e in mine] == [
        ("add", "api"),
        ("remove", "api"),
    ]


async def test_failures_have_stable_codes(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    unknown = "120363999999999999@g.us"
    missing = await server.http.get(groups_url(cid, f"/{unknown}"), headers=admin)
    assert (missing.status_code, code(missing)) == (404, "group_not_found")
    patch = await server.http.patch(
        groups_url(cid, f"/{unknown}"), headers=admin, json={"subject": "x"}
    )
    assert (patch.status_code, code(patch)) == (404, "group_not_found")
    bad_jid = await server.http.get(groups_url(cid, "/5511999990001@s.whatsapp.net"), headers=admin)
    assert (bad_jid.status_code, code(bad_jid)) == (422, "invalid_jid")
    bad_phone = await server.http.post(
        groups_url(cid), headers=admin, json={"subject": "x", "participants": ["12ab"]}
    )
    assert (bad_phone.status_code, code(bad_phone)) == (422, "invalid_phone")
    bogus = await server.http.post(groups_url(cid, "/join"), headers=admin, json={"code": "nope"})
    assert (bogus.status_code, code(bogus)) == (422, "invite_invalid")

    idle = (await create_connection(server.http, admin, "Idle"))["id"]
    not_ready = await server.http.post(
        groups_url(idle), headers=admin, json={"subject": "x", "participants": [ANA]}
    )
    assert (not_ready.status_code, code(not_ready)) == (409, "connection_not_ready")
    leave = await server.http.post(groups_url(idle, f"/{unknown}/leave"), headers=admin)
    assert (leave.status_code, code(leave)) == (409, "connection_not_ready")


async def test_agents_read_groups_but_do_not_manage_them(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    jid = (await create_group(server, admin, cid))["jid"]
    await server.http.post(
        f"{API}/users",
        headers=admin,
        json={"email": "agent@acme.test", "password": "agent-password-1", "role": "agent"},
    )
    login = await server.http.post(
        f"{API}/auth/login", json={"email": "agent@acme.test", "password": "agent-password-1"}
    )
    agent = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await server.http.get(groups_url(cid, f"/{jid}"), headers=agent)).status_code == 200
    refused = await server.http.patch(
        groups_url(cid, f"/{jid}"), headers=agent, json={"subject": "x"}
    )
    assert (refused.status_code, code(refused)) == (403, "forbidden")


async def test_another_members_changes_become_events(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    sim = simulator(server)
    await sim.incoming(cid, from_phone=ANA, text="oi", group="Família")
    group = next(iter(g for g in (await server.http.get(groups_url(cid), headers=admin)).json()))
    jid = group["jid"]

    async def action(**body: Any) -> Any:
        return await server.http.post(
            f"{API}/simulator/connections/{cid}/group-action",
            headers=admin,
            json={"group": jid, "actor": ANA, **body},
        )

    renamed = await action(action="subject", value="Família Silva")
    assert renamed.status_code == 200, renamed.text
    added = await action(action="add", phones=[BIA])
    assert added.json()["results"][0]["ok"] is True
    promoted = await action(action="promote", phones=[ME])
    assert promoted.status_code == 200

    async def three() -> bool:
        return len(await events(server, admin)) == 3

    await eventually(three, what="the three changes recorded")
    subject, joined, us = await events(server, admin)
    assert subject["data"]["changes"] == {"subject": "Família Silva"}
    assert (subject["data"]["by"]["phone"], subject["data"]["source"]) == (ANA, "whatsapp")
    assert joined["data"]["action"] == "add"
    assert [p["phone"] for p in joined["data"]["participants"]] == [BIA]
    assert us["data"]["action"] == "promote"
    stored = (await server.http.get(groups_url(cid), headers=admin)).json()[0]
    assert stored["name"] == "Família Silva"
    assert {p["phone"] for p in stored["participants"]} == {ANA, ME, BIA}

    not_member = await action(action="subject", value="x", actor=GHOST)
    assert (not_member.status_code, code(not_member)) == (422, "actor_not_member")
    # Now an admin, the connection manages the group itself.
    removed = await server.http.post(
        groups_url(cid, f"/{jid}/participants"),
        headers=admin,
        json={"action": "remove", "phones": [BIA]},
    )
    assert removed.status_code == 200, removed.text


async def test_we_are_told_when_removed(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    conn = await create_connection(server.http, admin, "Shop")
    await link(server.http, admin, conn["id"], clock, phone=ME)
    cid = conn["id"]
    await simulator(server).incoming(cid, from_phone=ANA, text="oi", group="Loja")
    jid = (await server.http.get(groups_url(cid), headers=admin)).json()[0]["jid"]
    kicked = await server.http.post(
        f"{API}/simulator/connections/{cid}/group-action",
        headers=admin,
        json={"group": jid, "actor": ANA, "action": "remove", "phones": [ME]},
    )
    assert kicked.status_code == 200, kicked.text

    async def told() -> bool:
        return bool(await events(server, admin))

    await eventually(told, what="the removal recorded")
    last = (await events(server, admin))[-1]
    assert (last["data"]["action"], last["data"]["participants"][0]["phone"]) == ("remove", ME)
    listed = (await server.http.get(groups_url(cid), headers=admin)).json()
    assert jid not in {g["jid"] for g in listed}
    gone = await server.http.get(groups_url(cid, f"/{jid}"), headers=admin)
    assert (gone.status_code, code(gone)) == (404, "group_not_found")


async def test_a_subject_with_a_nul_from_whatsapp_is_stored_without_it(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    """What the engine answers to our own group calls is WhatsApp's text too: a NUL that
    another member put in the subject is removed before it is stored (PostgreSQL cannot
    hold one), as it is for the change event."""
    cid = await ready_connection(server, admin, clock)
    await simulator(server).incoming(cid, from_phone=ANA, text="oi", group="Família")
    listed = (await server.http.get(groups_url(cid), headers=admin)).json()
    jid = listed[0]["jid"]
    renamed = await server.http.post(
        f"{API}/simulator/connections/{cid}/group-action",
        headers=admin,
        json={"group": jid, "actor": ANA, "action": "subject", "value": "Famí\u0000lia"},
    )
    assert renamed.status_code == 200, renamed.text
    fresh = await server.http.get(groups_url(cid, f"/{jid}"), headers=admin)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["subject"] == "Família"
    again = (await server.http.get(groups_url(cid), headers=admin)).json()
    assert [g["name"] for g in again if g["jid"] == jid] == ["Família"]


@pytest.mark.parametrize("info_first", [True, False])
async def test_a_group_we_were_added_to_is_stored_whole_and_announced_once(
    server: Server, admin: dict[str, str], clock: ManualClock, info_first: bool
) -> None:
    """What neonize reports when another member adds the number to a group (whatsmeow's
    JoinedGroup): the group's description and an ``add`` of our number by them, both at
    once for a group not stored yet (two writers: the inbound recorder and the group
    changes), in either order. The group is stored whole, and said once."""
    cid = await ready_connection(server, admin, clock)
    sim = simulator(server)
    gjid = "120363000000000077@g.us"
    ana = GroupMember(f"{ANA}@s.whatsapp.net", phone=ANA)
    me = GroupMember(f"{ME}@s.whatsapp.net", phone=ME)
    info = GroupInfo(
        cid,
        gjid,
        "Clientes",
        participants=(
            GroupParticipant(ana.jid, phone=ANA, is_admin=True, is_super_admin=True),
            GroupParticipant(me.jid, phone=ME),
        ),
    )
    added = GroupParticipantsChanged(
        cid, gjid, ParticipantAction.ADD, (me,), ana, clock.now(), group=info
    )
    for event in (info, added) if info_first else (added, info):
        sim._emit(event)

    async def announced() -> bool:
        return any(e["type"] == "group.participants" for e in await events(server, admin))

    await eventually(announced, what="the join announced")

    async def whole() -> bool:
        async with server.runtime.db.read() as s:
            row = await find_group(s, cid, gjid)
        return row is not None and row.name == "Clientes"

    await eventually(whole, what="the group stored with its description")
    async with server.runtime.db.read() as s:
        row = await find_group(s, cid, gjid)
    assert row is not None
    assert {p["phone"] for p in row.participants} == {ANA, ME}
    (joined,) = [e for e in await events(server, admin) if e["type"] == "group.participants"]
    data = joined["data"]
    assert (data["action"], data["source"], data["by"]["phone"]) == ("add", "whatsapp", ANA)
    assert [p["phone"] for p in data["participants"]] == [ME]
    # The announcement describes the whole group, whichever was written first.
    assert data["group"]["subject"] == "Clientes"
    assert {p["phone"] for p in data["group"]["participants"]} == {ANA, ME}
    admins = {p["phone"] for p in data["group"]["participants"] if p["is_admin"]}
    assert admins == {ANA}
