"""Groups and presence through both PyPI Evolution API clients, against a real server
on the simulator (the clients' own request shapes: ``groupJid`` in the query string,
``getParticipants`` as text, presence with a delay)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evolutionapi.client import EvolutionClient
from evolutionapi.models.chat import Presence
from evolutionapi.models.group import (
    CreateGroup,
    GroupDescription,
    GroupSubject,
    UpdateParticipant,
)
from evolutionapi.models.instance import InstanceConfig
from evolutionapi.models.message import TextMessage
from evolutionapi.models.presence import PresenceStatus
from pyevolutionapi import EvolutionClient as PyEvolutionClient

from tests.e2e.conftest import LiveServer
from tests.e2e.test_evolution_clients import link, org_key, wait_for

ANA = "5511988887777"
BIA = "5511977776666"
CAIO = "5511966665555"
ME = "5511999990001@s.whatsapp.net"


def test_groups_and_presence_with_the_official_client(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory()
    evo = EvolutionClient(base_url=server.url + "/evolution", api_token=org_key(server))
    created: dict[str, Any] = evo.instances.create_instance(
        InstanceConfig(instanceName="loja", qrcode=True)
    )
    token = created["hash"]
    link(server, created["instance"]["instanceId"])
    wait_for(
        lambda: (
            evo.instance_operations.get_connection_state("loja", token)["instance"]["state"]
            == "open"
        ),
        "open",
    )
    online = evo.instance_operations.set_presence("loja", PresenceStatus.AVAILABLE, token)
    assert online == {"presence": "available"}
    evo.messages.send_text("loja", TextMessage(number=ANA, text="Oi"), token)
    typing = evo.chat.send_presence(
        "loja", Presence(number=ANA, delay=300, presence="composing"), token
    )
    assert typing == {"presence": "composing"}

    group = evo.group.create_group(
        "loja", CreateGroup(subject="Clientes", participants=[ANA, BIA]), token
    )
    jid = group["id"]
    assert group["owner"] == ME
    assert group["size"] == 3
    info = evo.group.get_group_info("loja", jid, token)
    assert info["subject"] == "Clientes"
    added = evo.group.update_participant(
        "loja", jid, UpdateParticipant(action="add", participants=[CAIO]), token
    )
    assert added["updateParticipants"][0]["status"] == "200"
    members = evo.group.get_participants("loja", jid, token)["participants"]
    assert len(members) == 4
    assert evo.group.update_group_subject("loja", jid, GroupSubject("Clientes VIP"), token) == {
        "update": "success"
    }
    evo.group.update_group_description("loja", jid, GroupDescription("Ofertas"), token)
    listed = evo.group.fetch_all_groups("loja", token, get_participants=True)
    assert [(g["id"], g["subject"], g["desc"]) for g in listed] == [
        (jid, "Clientes VIP", "Ofertas")
    ]
    assert len(listed[0]["participants"]) == 4
    code = evo.group.get_invite_code("loja", jid, token)
    revoked = evo.group.revoke_invite_code("loja", jid, token)
    assert revoked["revoked"] is True
    assert revoked["inviteCode"] != code["inviteCode"]
    assert evo.group.leave_group("loja", jid, token) == {"groupJid": jid, "leave": True}
    assert evo.group.fetch_all_groups("loja", token) == []


def test_groups_and_presence_with_pyevolutionapi(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory(evolution_prefix="")
    key = org_key(server)
    with PyEvolutionClient(base_url=server.url, api_key=key) as client:
        client.instance.create("salao", qrcode=True)
        instances = client.instance.fetch_instances()
        instance_id = instances[0].id if isinstance(instances, list) else None
        assert instance_id
        link(server, instance_id)
        wait_for(
            lambda: client.instance.connection_state("salao")["instance"]["state"] == "open",
            "open",
        )
        assert client.instance.set_presence("salao", "unavailable") == {"presence": "unavailable"}
        created = client.group.create("salao", subject="Equipe", participants=[ANA, BIA])
        assert created.participants is not None
        assert {p.id: p.role for p in created.participants} == {
            ME: "superadmin",
            f"{ANA}@s.whatsapp.net": "member",
            f"{BIA}@s.whatsapp.net": "member",
        }
        (group,) = client.group.fetch_all_groups("salao", get_participants=True)
        assert group.subject == "Equipe"
        assert group.owner == ME
        assert group.participants is not None
        assert len(group.participants) == 3
        promoted = client.group.update_participant("salao", group.id, "promote", [ANA])
        assert promoted["updateParticipants"][0]["status"] == "200"
        invite = client.group.get_invite_code("salao", group.id)
        assert invite["inviteUrl"].endswith(invite["inviteCode"])
        assert client.group.leave_group("salao", group.id)["leave"] is True
