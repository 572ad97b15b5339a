"""``zapgate demo``: the simulator, a seeded organization and customers who keep writing.

Everything goes through the services, as a person using the panel would: connections
are linked by simulated QR scans, customers write through the simulator, agents answer
through the outbox. The seed runs once per data directory; the virtual customers run
for as long as the server does, as one owned background task.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from zapgate.domain.chats import ChatStatus
from zapgate.domain.errors import DomainError, EngineError
from zapgate.domain.messages import MessageType
from zapgate.domain.roles import Role
from zapgate.runtime import Runtime
from zapgate.server import PanelServer
from zapgate.services.context import Principal
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

DEMO_ORG = "Barbearia Demo"
DEMO_EMAIL = "demo@zapgate.local"
DEMO_PASSWORD = "demo-password"

# (name, label, phone) of the numbers and what the demo leaves them doing.
CONNECTIONS = [
    ("Recepção", "agendamentos", "5511990010001", "ready"),
    ("Vendas", "produtos", "5511990010002", "ready"),
    ("Filial Centro", "filial", "5511990010003", "stopped"),
    ("Número novo", None, None, "qr"),
    ("Promoções", "marketing", "5511990010005", "banned"),
    ("Reserva", None, None, "idle"),
]
CUSTOMERS = [
    ("5511981110001", "Ana Souza", "Studio Ana", ["vip"]),
    ("5511981110002", "Bruno Lima", None, ["novo"]),
    ("5511981110003", "Carla Dias", "Dias & Filhos", []),
    ("5511981110004", "Diego Rocha", None, ["retorno"]),
    ("5511981110005", "Elisa Prado", None, []),
    ("5511981110006", "Fábio Nunes", "Nunes Tech", ["empresa"]),
]
LINES = [
    "Oi! Tem horário para corte amanhã de manhã?",
    "Quanto custa barba e cabelo?",
    "Vocês abrem no sábado?",
    "Posso remarcar meu horário das 15h para as 17h?",
    "Obrigado, ficou ótimo!",
    "Aceitam cartão?",
    "Tem estacionamento perto?",
    "Queria agendar para meu filho também.",
    "Chego em 10 minutos.",
    "Qual o endereço da filial?",
]
ANSWERS = [
    "Temos sim! Às 9h30 ou às 11h, qual prefere?",
    "Corte + barba sai por R$ 70,00.",
    "Abrimos sábado das 8h às 18h.",
    "Remarcado para as 17h. Até lá!",
]


@dataclass
class DemoState:
    principal: Principal


async def _wait_state(runtime: Runtime, principal: Principal, cid: str, state: str) -> None:
    for _ in range(200):
        if (await runtime.connections.get(principal, cid)).state == state:
            return
        await asyncio.sleep(0.05)
    log.warning("demo connection did not reach %s", state)


async def _link(runtime: Runtime, principal: Principal, cid: str, phone: str, name: str) -> None:
    assert runtime.simulation is not None
    await runtime.connections.start(principal, cid)
    await _wait_state(runtime, principal, cid, "qr_ready")
    await runtime.simulation.scan(principal, cid, phone=phone, push_name=name)
    await _wait_state(runtime, principal, cid, "ready")


async def _history(runtime: Runtime, principal: Principal, ready: list[str]) -> None:
    assert runtime.simulation is not None
    rng = random.Random(7)
    for i, (phone, name, _company, _tags) in enumerate(CUSTOMERS):
        cid = ready[i % len(ready)]
        await runtime.simulation.incoming(
            principal, cid, {"from_": phone, "text": LINES[i % len(LINES)], "push_name": name}
        )
    by_phone: dict[str, dict[str, Any]] = {}
    for _ in range(100):  # incoming messages are recorded asynchronously
        chats = await runtime.messaging.inbox.chats(principal, limit=50)
        by_phone = {str(c["jid"]).split("@", 1)[0]: c for c in chats.items}
        if len(by_phone) >= len(CUSTOMERS):
            break
        await asyncio.sleep(0.1)
    for i, (phone, _name, company, tags) in enumerate(CUSTOMERS):
        chat = by_phone.get(phone)
        if chat is None:
            continue
        if chat.get("contact_id"):
            await runtime.messaging.contacts.update(
                principal,
                chat["contact_id"],
                company=company,
                tags=tags,
                notes="Cliente desde 2023." if "vip" in tags else None,
            )
        if i % 3 == 0:
            continue  # some stay pending, unanswered
        await runtime.messaging.messages.send(
            principal,
            to=chat["jid"],
            connection_id=chat["connection_id"],
            type=MessageType.TEXT,
            text=rng.choice(ANSWERS),
        )
        status = ChatStatus.CLOSED if i % 3 == 2 else ChatStatus.ACTIVE
        await runtime.messaging.inbox.update_chat(
            principal, chat["id"], status=status, assignee_id=principal.user_id
        )


async def seed(runtime: Runtime) -> DemoState:
    """Create the demo organization once; later runs find it and reuse it."""
    accounts = runtime.accounts
    org = await accounts.get_org_by_name(DEMO_ORG)
    fresh = org is None
    if fresh:
        await accounts.create_user_cli(
            email=DEMO_EMAIL,
            password=DEMO_PASSWORD,
            org_name=DEMO_ORG,
            role=Role.OWNER,
            superadmin=True,
        )
    login = await accounts.login(email=DEMO_EMAIL, password=DEMO_PASSWORD, address="demo")
    principal = await accounts.principal_from_token(login.access_token)
    if fresh:
        await _create_connections(runtime, principal)
    page = await runtime.connections.find(principal, limit=50)
    ready = [row.id for row in page.items if row.state == "ready"]
    if fresh and ready:
        await _history(runtime, principal, ready)
    return DemoState(principal=principal)


async def _create_connections(runtime: Runtime, principal: Principal) -> None:
    assert runtime.simulation is not None
    for name, label, phone, goal in CONNECTIONS:
        row = await runtime.connections.create(principal, name=name, label=label)
        if goal == "qr":
            await runtime.connections.start(principal, row.id)
        elif goal in ("ready", "stopped", "banned") and phone is not None:
            await _link(runtime, principal, row.id, phone, name)
            if goal == "stopped":
                await runtime.connections.stop(principal, row.id)
            elif goal == "banned":
                await runtime.simulation.ban(principal, row.id, 6 * 3600)
                await _wait_state(runtime, principal, row.id, "error")


async def customers(runtime: Runtime, state: DemoState, pace: float = 12.0) -> None:
    """Virtual customers writing at a gentle pace, forever (cancelled on shutdown)."""
    assert runtime.simulation is not None
    rng = random.Random()
    while True:
        await asyncio.sleep(rng.uniform(pace * 0.5, pace * 1.5))
        page = await runtime.connections.find(state.principal, state=None, limit=50)
        ready = [row.id for row in page.items if row.state == "ready"]
        if not ready:
            continue
        phone, name, _company, _tags = rng.choice(CUSTOMERS)
        try:
            await runtime.simulation.incoming(
                state.principal,
                rng.choice(ready),
                {"from_": phone, "text": rng.choice(LINES), "push_name": name},
            )
        except (DomainError, EngineError) as exc:
            log.info("demo customer could not write: %s", exc)


class DemoServer(PanelServer):
    """Seeds after the app started, runs the customers, stops them before shutdown."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config, app)
        self.tasks = TaskOwner("demo")

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit:
            return
        runtime: Runtime = self.panel_app.state.runtime
        state = await seed(runtime)
        self.tasks.spawn(customers(runtime, state), name="customers")
        host, port = self.config.host, self.config.port
        print(
            f"\nzapgate demo is running: http://{host}:{port}/app\n"
            f"  login: {DEMO_EMAIL}\n  password: {DEMO_PASSWORD}\n",
            flush=True,
        )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.tasks.cancel_all()
        await super().shutdown(sockets)
