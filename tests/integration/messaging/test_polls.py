"""Polls end to end on the simulator: sending one, votes tallied on it (a changed vote
replaces the old one), a customer's poll stored, and every bad poll or vote refused."""

from __future__ import annotations

from typing import Any

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import (
    CUSTOMER,
    message,
    ready_connection,
    send,
    simulator,
    wait_status,
)
from zapgate.util.clock import ManualClock

OTHER = "5511977776666"
POLL = {"question": "Which size?", "options": ["S", "M", "L"], "multiple": False}


async def incoming(
    server: Server, headers: dict[str, str], cid: str, status: int = 200, **body: Any
) -> dict[str, Any]:
    response = await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=headers,
        json={"from": CUSTOMER, **body},
    )
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def vote_events(server: Server, headers: dict[str, str]) -> list[dict[str, Any]]:
    page = await server.http.get(
        f"{API}/events", headers=headers, params={"types": "message.poll_vote"}
    )
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


async def test_a_sent_poll_counts_votes_and_a_changed_vote_replaces_the_old(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    sent = await send(server.http, admin, {"to": CUSTOMER, "type": "poll", "poll": POLL})
    assert sent["type"] == "poll"
    assert sent["text"] == "Which size?"
    assert sent["poll"]["tally"] == {"S": 0, "M": 0, "L": 0}
    await wait_status(server, admin, clock, sent["id"], "sent", "delivered", "read")
    on_network = simulator(server).outbox(cid)[-1]
    assert on_network.type == "poll"
    assert on_network.poll == {
        "question": "Which size?",
        "options": ["S", "M", "L"],
        "multiple": False,
    }

    await incoming(
        server, admin, cid, type="poll_vote", poll_message_id=sent["wa_message_id"], options=["M"]
    )

    async def counted(tally: dict[str, int]) -> bool:
        return bool((await message(server.http, admin, sent["id"]))["poll"]["tally"] == tally)

    await eventually(lambda: counted({"S": 0, "M": 1, "L": 0}), what="first vote counted")
    # The customer changes their mind: the new vote replaces the first.
    await incoming(
        server,
        admin,
        cid,
        type="poll_vote",
        poll_message_id=sent["wa_message_id"],
        options=["L"],
        push_name="Ana",
    )
    await eventually(lambda: counted({"S": 0, "M": 0, "L": 1}), what="changed vote counted")
    body = await message(server.http, admin, sent["id"])
    (voter,) = body["poll"]["voters"]
    assert (voter["phone"], voter["options"], voter["name"]) == (CUSTOMER, ["L"], "Ana")

    events = await vote_events(server, admin)
    assert [e["data"]["vote"]["options"] for e in events] == [["M"], ["L"]]
    assert events[-1]["data"]["vote"]["previous_options"] == ["M"]
    assert events[-1]["data"]["vote"]["voter"]["phone"] == CUSTOMER
    assert events[-1]["data"]["id"] == sent["id"]
    assert events[-1]["data"]["poll"]["tally"] == {"S": 0, "M": 0, "L": 1}

    # An empty vote withdraws it.
    await incoming(
        server, admin, cid, type="poll_vote", poll_message_id=sent["wa_message_id"], options=[]
    )
    await eventually(lambda: counted({"S": 0, "M": 0, "L": 0}), what="vote withdrawn")
    assert (await message(server.http, admin, sent["id"]))["poll"]["voters"] == []


async def test_group_poll_with_several_choices_counts_each_member(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    # The group exists on the network once a member wrote in it.
    await incoming(server, admin, cid, text="oi", group="Shop friends")
    await incoming(server, admin, cid, text="oi", group="Shop friends", **{"from": OTHER})
    groups: list[str] = []

    async def group_stored() -> bool:
        chats = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"]
        groups[:] = [c["jid"] for c in chats if c["is_group"]]
        return bool(groups)

    await eventually(group_stored, what="group chat stored")
    group_jid = groups[0]
    poll = {"question": "Which days?", "options": ["Mon", "Tue", "Wed"], "multiple": True}
    sent = await send(server.http, admin, {"to": group_jid, "type": "poll", "poll": poll})
    await wait_status(server, admin, clock, sent["id"], "sent", "delivered", "read")
    wa_id = sent["wa_message_id"]
    await incoming(
        server, admin, cid, type="poll_vote", poll_message_id=wa_id, options=["Mon", "Wed"]
    )
    await incoming(
        server,
        admin,
        cid,
        type="poll_vote",
        poll_message_id=wa_id,
        options=["Wed"],
        **{"from": OTHER},
    )

    async def both() -> bool:
        body = await message(server.http, admin, sent["id"])
        return bool(body["poll"]["tally"] == {"Mon": 1, "Tue": 0, "Wed": 2})

    await eventually(both, what="both members' votes counted")
    voters = (await message(server.http, admin, sent["id"]))["poll"]["voters"]
    assert sorted((v["phone"], tuple(v["options"])) for v in voters) == [
        (OTHER, ("Wed",)),
        (CUSTOMER, ("Mon", "Wed")),
    ]
    # Someone outside the group cannot vote.
    refused = await incoming(
        server,
        admin,
        cid,
        422,
        type="poll_vote",
        poll_message_id=wa_id,
        options=["Mon"],
        **{"from": "5511955554444"},
    )
    assert refused["error"]["code"] == "not_a_participant"


async def test_a_customers_poll_is_stored_and_tallied(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    wa_id = (
        await incoming(
            server,
            admin,
            cid,
            type="poll",
            poll={"question": "Open on Sunday?", "options": ["Yes", "No"]},
        )
    )["wa_message_id"]

    async def stored() -> list[dict[str, Any]]:
        chats = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"]
        if not chats:
            return []
        page = await server.http.get(f"{API}/chats/{chats[0]['id']}/messages", headers=admin)
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    async def arrived() -> bool:
        return any(m["wa_message_id"] == wa_id for m in await stored())

    await eventually(arrived, what="customer's poll stored")
    (poll_message,) = [m for m in await stored() if m["wa_message_id"] == wa_id]
    assert poll_message["type"] == "poll"
    assert poll_message["direction"] == "in"
    assert poll_message["text"] == "Open on Sunday?"
    assert poll_message["poll"]["options"] == ["Yes", "No"]
    assert poll_message["poll"]["multiple"] is False

    await incoming(server, admin, cid, type="poll_vote", poll_message_id=wa_id, options=["Yes"])

    async def counted() -> bool:
        body = await message(server.http, admin, poll_message["id"])
        return bool(body["poll"]["tally"] == {"Yes": 1, "No": 0})

    await eventually(counted, what="vote on the customer's poll counted")


async def test_bad_polls_and_votes_are_refused_with_their_code(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    cases: list[tuple[dict[str, Any] | None, str]] = [
        (None, "missing_content"),
        ({"question": "Q", "options": ["only"]}, "invalid_poll_options"),
        ({"question": "Q", "options": [str(i) for i in range(13)]}, "invalid_poll_options"),
        ({"question": "Q", "options": ["a", "a "]}, "duplicate_poll_options"),
        ({"question": "Q", "options": ["a", " "]}, "invalid_poll_option"),
        ({"question": "Q", "options": ["a", "b" * 101]}, "invalid_poll_option"),
        ({"question": "  ", "options": ["a", "b"]}, "invalid_poll_question"),
        ({"question": "q" * 256, "options": ["a", "b"]}, "invalid_poll_question"),
        ({"question": "Q", "options": ["a", "b"], "multiple": "yes"}, "validation_error"),
        ({"question": "Q", "options": "a,b"}, "validation_error"),
    ]
    for poll, code in cases:
        body: dict[str, Any] = {"to": CUSTOMER, "type": "poll"}
        if poll is not None:
            body["poll"] = poll
        response = await server.http.post(f"{API}/messages", headers=admin, json=body)
        assert response.status_code == 422, (poll, response.text)
        assert response.json()["error"]["code"] == code, (poll, response.text)

    sent = await send(server.http, admin, {"to": CUSTOMER, "type": "poll", "poll": POLL})
    await wait_status(server, admin, clock, sent["id"], "sent", "delivered", "read")
    wa_id = sent["wa_message_id"]
    votes: list[tuple[dict[str, Any], int, str]] = [
        ({"poll_message_id": "3EB0NOSUCHPOLL"}, 404, "poll_not_found"),
        ({"poll_message_id": wa_id, "options": ["XL"]}, 422, "invalid_poll_vote"),
        ({"poll_message_id": wa_id, "options": ["S", "M"]}, 422, "invalid_poll_vote"),
        ({"options": ["S"]}, 422, "missing_content"),
        ({"poll_message_id": wa_id, "options": ["S"], "from": OTHER}, 422, "not_a_participant"),
    ]
    for vote, status, code in votes:
        answer = await incoming(server, admin, cid, status, type="poll_vote", **vote)
        assert answer["error"]["code"] == code, (vote, answer)
    assert (await message(server.http, admin, sent["id"]))["poll"]["voters"] == []
