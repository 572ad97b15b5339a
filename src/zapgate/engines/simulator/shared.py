"""The simulated WhatsApp network as its own process, shared by every node of a cluster.

``zapgate simulator serve --port N`` runs :func:`network_app`: one :class:`Network` (its
files under ``--data-dir``) answering over HTTP what must be the same for every node:
linked devices, the messages that reached "WhatsApp" (de-duplicated by message id) and
which node holds each account's live session. Nodes started with
``ZAPGATE_SIMULATOR_URL`` use :class:`RemoteNetwork`; groups, media, presences, read
records and contact announcements stay in each node's own process.

It is a test instrument: a node's calls are short blocking loopback requests on its
event loop (the network's interface is synchronous). The network also keeps the
record a failover test needs: a session opened by one node while another still held
it (``replaced``: WhatsApp drops the older one), anything sent through a session by
a node that no longer holds it (``stale_sends``: must stay zero) and how many times each
session went live (``opened``: a redial opens it again).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException

from zapgate.engines.simulator.network import Network
from zapgate.engines.simulator.state import LinkedAccount, OutboxEntry, Persistence


class SharedNetwork:
    """The network process's state: the network plus live sessions per node."""

    def __init__(self, data_dir: Path | None) -> None:
        self.network = Network(Persistence(data_dir))
        self.live: dict[str, str] = {}
        """Session id -> the node whose session is live now."""
        self.replaced = 0
        self.openings: dict[str, int] = {}
        self.stale_sends = 0
        self.sends = 0

    def opened(self, session_id: str, node: str) -> None:
        holder = self.live.get(session_id)
        if holder is not None and holder != node:
            self.replaced += 1
        self.live[session_id] = node
        self.openings[session_id] = self.openings.get(session_id, 0) + 1

    def ended(self, session_id: str, node: str) -> None:
        if self.live.get(session_id) == node:
            del self.live[session_id]

    def send(self, session_id: str, node: str, entry: OutboxEntry) -> tuple[OutboxEntry, bool]:
        self.sends += 1
        if self.live.get(session_id) != node:
            self.stale_sends += 1
        return self.network.record_send(session_id, entry)


def network_app(data_dir: Path | None) -> FastAPI:
    shared = SharedNetwork(data_dir)
    net = shared.network
    app = FastAPI(title="zapgate simulated network", openapi_url=None)

    @app.get("/accounts")
    async def accounts() -> list[dict[str, Any]]:
        return [a.to_json() for a in net.accounts()]

    @app.get("/accounts/{session_id}")
    async def account(session_id: str) -> dict[str, Any]:
        found = net.account(session_id)
        if found is None:
            raise HTTPException(404)
        return found.to_json()

    @app.post("/accounts/{session_id}")
    async def link(session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        now = datetime.fromisoformat(body["now"])
        return net.link(session_id, body["phone"], body.get("push_name"), now).to_json()

    @app.delete("/accounts/{session_id}")
    async def unlink(session_id: str) -> dict[str, Any] | None:
        gone = net.unlink(session_id)
        return gone.to_json() if gone is not None else None

    @app.delete("/sessions/{session_id}")
    async def forget(session_id: str) -> None:
        net.forget_session(session_id)

    @app.post("/sessions/{session_id}/live")
    async def live(session_id: str, body: dict[str, Any]) -> None:
        if body.get("live"):
            shared.opened(session_id, body["node"])
        else:
            shared.ended(session_id, body["node"])

    @app.post("/sends/{session_id}")
    async def send(session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        stored, duplicate = shared.send(
            session_id, body["node"], OutboxEntry.from_json(body["entry"])
        )
        return {"entry": stored.to_json(), "duplicate": duplicate}

    @app.get("/sends/{session_id}")
    async def outbox(session_id: str) -> list[dict[str, Any]]:
        return [e.to_json() for e in net.outbox(session_id)]

    @app.get("/report")
    async def report() -> dict[str, Any]:
        return {
            "live": dict(shared.live),
            "replaced": shared.replaced,
            "opened": dict(shared.openings),
            "stale_sends": shared.stale_sends,
            "sends": shared.sends,
            "delivered": {a.session_id: len(net.outbox(a.session_id)) for a in net.accounts()},
        }

    return app


class RemoteNetwork(Network):
    """A node's view of the shared network (``ZAPGATE_SIMULATOR_URL``)."""

    def __init__(self, url: str, node: str) -> None:
        super().__init__(Persistence(None))
        self._node = node
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=10)

    def close(self) -> None:
        self._http.close()

    def account(self, session_id: str) -> LinkedAccount | None:
        answer = self._http.get(f"/accounts/{session_id}")
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        return LinkedAccount.from_json(answer.json())

    def accounts(self) -> list[LinkedAccount]:
        answer = self._http.get("/accounts")
        answer.raise_for_status()
        return [LinkedAccount.from_json(a) for a in answer.json()]

    def link(
        self, session_id: str, phone: str, push_name: str | None, now: datetime
    ) -> LinkedAccount:
        body = {"phone": phone, "push_name": push_name, "now": now.isoformat()}
        answer = self._http.post(f"/accounts/{session_id}", json=body)
        answer.raise_for_status()
        return LinkedAccount.from_json(answer.json())

    def unlink(self, session_id: str) -> LinkedAccount | None:
        answer = self._http.delete(f"/accounts/{session_id}")
        answer.raise_for_status()
        found = answer.json()
        return LinkedAccount.from_json(found) if found else None

    def forget_session(self, session_id: str) -> None:
        super().forget_session(session_id)
        self._http.delete(f"/sessions/{session_id}").raise_for_status()

    def session_live(self, session_id: str, live: bool) -> None:
        body = {"node": self._node, "live": live}
        self._http.post(f"/sessions/{session_id}/live", json=body).raise_for_status()

    def record_send(self, session_id: str, entry: OutboxEntry) -> tuple[OutboxEntry, bool]:
        body = {"node": self._node, "entry": entry.to_json()}
        answer = self._http.post(f"/sends/{session_id}", json=body)
        answer.raise_for_status()
        found = answer.json()
        return OutboxEntry.from_json(found["entry"]), bool(found["duplicate"])

    def outbox(self, session_id: str) -> list[OutboxEntry]:
        answer = self._http.get(f"/sends/{session_id}")
        answer.raise_for_status()
        return [OutboxEntry.from_json(e) for e in answer.json()]

    def sent(self, session_id: str, wa_message_id: str) -> OutboxEntry | None:
        return next((e for e in self.outbox(session_id) if e.wa_message_id == wa_message_id), None)
