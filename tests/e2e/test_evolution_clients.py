"""A business's day through both PyPI Evolution API clients, against a real server on
the simulator: only the base URL and the key differ from an Evolution deployment.

The clients are synchronous; the server (and the webhook receiver) run in threads.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from evolutionapi.client import EvolutionClient
from evolutionapi.models.chat import CheckIsWhatsappNumber, ReadMessage
from evolutionapi.models.instance import InstanceConfig
from evolutionapi.models.message import MediaMessage, TextMessage
from pyevolutionapi import EvolutionClient as PyEvolutionClient
from pyevolutionapi.exceptions import EvolutionAPIError

from tests.e2e.conftest import LiveServer
from tests.integration.servers import Receiver, receiving

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
CUSTOMER = "5511988887777"


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The webhook receiver of tests/integration/servers.py, served from a thread."""
    hook = Receiver()
    started = threading.Event()
    stop = threading.Event()

    async def serve() -> None:
        async with receiving(hook):
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30)
    yield hook
    stop.set()
    thread.join(30)


@pytest.fixture
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory(webhook_allow_private=True)


def org_key(live: LiveServer) -> str:
    with live.api() as api:
        response = api.post("/api-keys", json={"name": "evolution"})
        assert response.status_code == 201, response.text
        return str(response.json()["key"])


def link(live: LiveServer, instance_id: str, *, pairing: str | None = None) -> None:
    with live.api() as api:
        if pairing is None:
            done = api.post(
                f"/simulator/connections/{instance_id}/scan", json={"phone": "5511999990001"}
            )
        else:
            code = f"{pairing[:4]}-{pairing[4:]}"
            done = api.post(
                f"/simulator/connections/{instance_id}/enter-pairing-code", json={"code": code}
            )
        assert done.status_code == 204, done.text


def test_a_day_with_the_official_client(
    server: LiveServer, receiver: Receiver, tmp_path: Path
) -> None:
    key = org_key(server)
    evo = EvolutionClient(base_url=server.url + "/evolution", api_token=key)
    created: dict[str, Any] = evo.instances.create_instance(
        InstanceConfig(instanceName="barbearia", qrcode=True)
    )
    token = created["hash"]
    instance_id = created["instance"]["instanceId"]
    assert created["qrcode"]["code"]
    assert created["qrcode"]["base64"].startswith("data:image/png;base64,")
    link(server, instance_id)
    wait_for(
        lambda: (
            evo.instance_operations.get_connection_state("barbearia", token)["instance"]["state"]
            == "open"
        ),
        "open",
    )
    hook = evo.post(
        "webhook/set/barbearia",
        {
            "webhook": {
                "enabled": True,
                "url": receiver.url,
                "byEvents": True,
                "events": ["MESSAGES_UPSERT", "MESSAGES_UPDATE", "SEND_MESSAGE"],
            }
        },
        instance_token=token,
    )
    assert hook["webhookByEvents"] is True

    sent = evo.messages.send_text(
        "barbearia", TextMessage(number=CUSTOMER, text="Seu horário é às 15h"), token
    )
    assert sent["status"] == "PENDING"
    assert sent["key"]["remoteJid"] == f"{CUSTOMER}@s.whatsapp.net"
    picture = tmp_path / "corte.png"
    picture.write_bytes(PNG)
    # A multipart upload whose delay arrives as the string "1000" (a path would be
    # opened by the client and never closed).
    with picture.open("rb") as upload:
        media = evo.messages.send_media(
            "barbearia",
            MediaMessage(
                number=CUSTOMER,
                mediatype="image",
                mimetype="image/png",
                caption="corte",
                fileName="corte.png",
                delay=1000,
            ),
            token,
            file=upload,
        )
    assert media["messageType"] == "imageMessage"
    assert media["message"]["imageMessage"]["caption"] == "corte"
    numbers = evo.chat.check_is_whatsapp_numbers(
        "barbearia", CheckIsWhatsappNumber(numbers=[CUSTOMER]), token
    )
    assert numbers[0]["exists"] is True

    with server.api() as api:
        incoming = api.post(
            f"/simulator/connections/{instance_id}/incoming",
            json={"from": CUSTOMER, "text": "Obrigado!", "push_name": "Ana"},
        )
        assert incoming.status_code in (200, 201), incoming.text
        wa_id = incoming.json()["wa_message_id"]

        # The customer reads the reply once it has reached them: the send is queued
        # (PENDING) and goes out in the outbox's time, so the simulated network knows
        # the message only from then on (404 before).
        def read() -> bool:
            receipt = api.post(
                f"/simulator/connections/{instance_id}/receipt",
                json={"wa_message_id": sent["key"]["id"], "type": "read"},
            )
            assert receipt.status_code in (200, 202, 204, 404), receipt.text
            return receipt.status_code != 404

        wait_for(read, "the reply to reach the customer and be read")

    def upserted() -> list[dict[str, Any]]:
        return [
            r.envelope for r in receiver.requests if r.envelope.get("event") == "messages.upsert"
        ]

    wait_for(lambda: bool(upserted()), "messages.upsert")
    body = upserted()[0]
    assert body["instance"] == "barbearia"
    key = body["data"]["key"]
    # The phone JID whenever it is known; the customer's LID beside it.
    assert key["remoteJid"] == f"{CUSTOMER}@s.whatsapp.net"
    assert key["remoteJidAlt"].endswith("@lid")
    assert (key["fromMe"], key["id"]) == (False, wa_id)
    assert body["data"]["message"] == {"conversation": "Obrigado!"}
    assert body["data"]["pushName"] == "Ana"
    assert set(body) == {
        "event",
        "instance",
        "data",
        "destination",
        "date_time",
        "sender",
        "server_url",
        "apikey",
    }
    assert body["destination"] == receiver.url
    # byEvents: each event to its own path.
    assert {r.path for r in receiver.requests if r.envelope["event"] == "messages.upsert"} == {
        "/hook/messages-upsert"
    }
    wait_for(
        lambda: any(
            r.envelope.get("event") == "messages.update" and r.envelope["data"]["status"] == "READ"
            for r in receiver.requests
        ),
        "messages.update READ",
    )
    assert all(r.headers.get("x-zapgate-signature") for r in receiver.requests)

    found = evo.chat.get_messages("barbearia", f"{CUSTOMER}@s.whatsapp.net", token)
    assert found["messages"]["total"] >= 2
    read = evo.chat.mark_message_as_read(
        "barbearia", [ReadMessage(f"{CUSTOMER}@s.whatsapp.net", False, wa_id)], token
    )
    assert read["read"] == "success"
    logout = evo.instance_operations.logout("barbearia", token)
    assert logout["status"] == "SUCCESS"
    deleted = evo.instance_operations.delete("barbearia", token)
    assert deleted["status"] == "SUCCESS"
    assert evo.instances.fetch_instances() == []


def test_a_day_with_pyevolutionapi(server_factory: Callable[..., LiveServer]) -> None:
    # pyevolutionapi drops any path of its base URL (urljoin after rstrip("/")), so it
    # needs the layer at the root: ZAPGATE_EVOLUTION_PREFIX empty.
    server = server_factory(evolution_prefix="")
    key = org_key(server)
    with PyEvolutionClient(base_url=server.url, api_key=key) as client:
        _salon_day(server, key, client)


def _salon_day(server: LiveServer, key: str, client: PyEvolutionClient) -> None:
    created = client.instance.create("salao", qrcode=False)
    assert created.hash
    # Its InstanceResponse model has no pairingCode field, so the pairing code is read
    # from the raw answer of the same route.
    connected = httpx.get(
        f"{server.url}/instance/connect/salao",
        params={"number": "5511999990002"},
        headers={"apikey": key},
    )
    assert connected.status_code == 200, connected.text
    pairing = connected.json()["pairingCode"]
    assert len(pairing) == 8
    instances = client.instance.fetch_instances()
    instance_id = instances[0].id if isinstance(instances, list) else None
    assert instance_id
    link(server, instance_id, pairing=pairing)
    wait_for(
        lambda: client.instance.connection_state("salao")["instance"]["state"] == "open", "open"
    )
    # Its MessageResponse model wants ``message.key``, which Evolution's answer
    # (``message: {"conversation": ...}``) does not have, so the answers are read raw
    # through the client's own transport.
    sent = client.messages._post(
        "/message/sendText/salao", json={"number": CUSTOMER, "text": "Bom dia"}
    )
    assert sent["key"]["remoteJid"] == f"{CUSTOMER}@s.whatsapp.net"
    located = client.messages._post(
        "/message/sendLocation/salao",
        json={"number": CUSTOMER, "latitude": -23.5, "longitude": -46.6, "name": "Salão"},
    )
    assert located["messageType"] == "locationMessage"
    chats = client.chat.find_chats("salao")
    assert len(chats) == 1
    assert chats[0].unread_count == 0
    found = client.chat.find_messages(
        "salao", where={"key": {"remoteJid": f"{CUSTOMER}@s.whatsapp.net"}}, page=1, offset=1
    )
    assert found["messages"]["total"] == 2
    assert found["messages"]["pages"] == 2
    # A poll, read raw for the same reason as the texts above.
    poll = client.messages._post(
        "/message/sendPoll/salao",
        json={
            "number": CUSTOMER,
            "name": "Horário?",
            "selectableCount": 1,
            "values": ["9h", "10h"],
        },
    )
    assert poll["messageType"] == "pollCreationMessage"
    assert [o["optionName"] for o in poll["message"]["pollCreationMessage"]["options"]] == [
        "9h",
        "10h",
    ]
    with pytest.raises(EvolutionAPIError) as refused:
        client.messages._post("/message/sendList/salao", json={"number": CUSTOMER})
    assert refused.value.status_code == 501
    client.instance.logout("salao")
    client.instance.delete("salao")
