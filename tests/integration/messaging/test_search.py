"""Contact and chat searches read the user's text literally: ``%``, ``_``, ``\\`` and ``/``
(the escape character the queries use) are not wildcards, and case does not matter."""

from __future__ import annotations

from typing import Any

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import ready_connection, simulator
from zapgate.util.clock import ManualClock

# phone -> (name, tags)
PEOPLE = {
    "5511988880001": ("50% off", ["50%", "a_b"]),
    "5511988880002": ("50a off", ["50x", "axb"]),
    "5511988880003": ("lot 50_b", ["VIP"]),
    "5511988880004": ("back\\slash", ["c/d"]),
    "5511988880005": ("x/y", ["cxd"]),
    "5511988880006": ("Ana Souza", ["vip"]),
}
GROUP = "100% club"


async def _get(server: Server, headers: dict[str, str], what: str, **params: str) -> Any:
    response = await server.http.get(f"{API}/{what}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def _people(server: Server, admin: dict[str, str], clock: ManualClock) -> dict[str, str]:
    """Each person's contact, named and tagged, and a group; ``{phone: contact id}``."""
    cid = await ready_connection(server, admin, clock)
    sim = simulator(server)
    for phone in PEOPLE:
        await sim.incoming(cid, from_phone=phone, text="oi")
    await sim.incoming(cid, from_phone="5511988880001", text="oi", group="g1", group_name=GROUP)

    async def all_there() -> bool:
        return len(await _get(server, admin, "chats")) == len(PEOPLE) + 1

    await eventually(all_there, what="every chat stored")
    contacts = {c["phone"]: c["id"] for c in await _get(server, admin, "contacts")}
    for phone, (name, tags) in PEOPLE.items():
        response = await server.http.patch(
            f"{API}/contacts/{contacts[phone]}", headers=admin, json={"name": name, "tags": tags}
        )
        assert response.status_code == 200, response.text
    return contacts


async def test_contact_search_and_tags_match_literally(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    contacts = await _people(server, admin, clock)
    name_of = {contacts[phone]: name for phone, (name, _) in PEOPLE.items()}

    async def names(**params: str) -> list[str]:
        return sorted(name_of[c["id"]] for c in await _get(server, admin, "contacts", **params))

    assert await names(q="%") == ["50% off"]
    assert await names(q="50_") == ["lot 50_b"]
    assert await names(q="\\") == ["back\\slash"]
    assert await names(q="/") == ["x/y"]
    assert await names(q="%%") == []
    # Ordinary text: a substring of any field, whatever its case, trimmed.
    assert await names(q="50") == ["50% off", "50a off", "lot 50_b"]
    assert await names(q=" sOUZA ") == ["Ana Souza"]
    assert await names(q="98888000") == sorted(name for name, _ in PEOPLE.values())
    assert await names(q="88880004") == ["back\\slash"]

    assert await names(tag="50%") == ["50% off"]
    assert await names(tag="a_b") == ["50% off"]
    assert await names(tag="c/d") == ["back\\slash"]
    assert await names(tag="50") == []  # a whole tag, not a piece of one
    assert await names(tag="%") == []
    assert await names(tag="vip") == ["Ana Souza", "lot 50_b"]  # on either database


async def test_chat_search_matches_literally(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    contacts = await _people(server, admin, clock)
    chats = await _get(server, admin, "chats")
    label = {
        c["id"]: c["name"] if c["is_group"] else PEOPLE[_phone(contacts, c["contact_id"])][0]
        for c in chats
    }

    async def found(q: str) -> list[str]:
        return sorted(label[c["id"]] for c in await _get(server, admin, "chats", q=q))

    # By contact name (1:1 chats) and by chat name (the group).
    assert await found("%") == ["100% club", "50% off"]
    assert await found("50_") == ["lot 50_b"]
    assert await found("\\") == ["back\\slash"]
    assert await found("/") == ["x/y"]
    assert await found("0%") == ["100% club", "50% off"]
    assert await found("_") == ["lot 50_b"]
    assert await found("ana") == ["Ana Souza"]
    assert await found("CLUB") == ["100% club"]
    assert await found("5511988880002") == ["50a off"]  # by phone and JID


def _phone(contacts: dict[str, str], contact_id: str) -> str:
    return next(phone for phone, cid in contacts.items() if cid == contact_id)
