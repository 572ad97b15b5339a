"""Login throttling through the API: counted before the password check, by account and
address, shared by every server on the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, running_server
from zapgate.config import Settings
from zapgate.services.security import Passwords
from zapgate.util.clock import ManualClock

API = "/api/v1"
WRONG = {"email": ADMIN_EMAIL, "password": "not-the-password"}
RIGHT = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}


@asynccontextmanager
async def from_address(server: Server, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=server.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Argon2 verification made, by the password it checked."""
    checked: list[str] = []
    verify = Passwords.verify

    async def counting(self: Passwords, password_hash: str | None, password: str) -> bool:
        checked.append(password)
        return await verify(self, password_hash, password)

    monkeypatch.setattr(Passwords, "verify", counting)
    return checked


async def test_concurrent_wrong_passwords_are_counted_before_they_are_checked(
    client: httpx.AsyncClient, verifications: list[str]
) -> None:
    answers = await asyncio.gather(
        *(client.post(f"{API}/auth/login", json=WRONG) for _ in range(60))
    )
    codes = [a.json()["error"]["code"] for a in answers]
    assert codes.count("invalid_credentials") == 5
    assert codes.count("too_many_attempts") == 55
    assert len(verifications) == 5
    refused = next(a for a in answers if a.status_code == 429)
    assert 0 < int(refused.headers["Retry-After"]) <= 900


async def test_the_owner_signs_in_from_their_usual_address_during_an_attack(
    server: Server, clock: ManualClock
) -> None:
    async with from_address(server, "192.0.2.10") as home:
        assert (await home.post(f"{API}/auth/login", json=RIGHT)).status_code == 200
    # Guessers spend every per-address budget they have, from ten addresses (50 guesses:
    # the account's budget for addresses it has never signed in from).
    for n in range(10):
        async with from_address(server, f"198.51.100.{n}") as attacker:
            for _ in range(5):
                bad = await attacker.post(f"{API}/auth/login", json=WRONG)
                assert bad.json()["error"]["code"] == "invalid_credentials"
            locked = await attacker.post(f"{API}/auth/login", json=WRONG)
            assert locked.status_code == 429
            assert locked.json()["error"]["code"] == "too_many_attempts"
    async with from_address(server, "203.0.113.5") as elsewhere:
        refused = await elsewhere.post(f"{API}/auth/login", json=RIGHT)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_attempts"
    async with from_address(server, "192.0.2.10") as home:
        assert (await home.post(f"{API}/auth/login", json=RIGHT)).status_code == 200
        # Her own typos still count, on her own budget.
        for _ in range(5):
            typo = await home.post(f"{API}/auth/login", json=WRONG)
            assert typo.status_code == 401
            assert typo.json()["error"]["code"] == "invalid_credentials"
        locked = await home.post(f"{API}/auth/login", json=RIGHT)
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "too_many_attempts"
    await clock.advance(901)
    async with from_address(server, "203.0.113.5") as elsewhere:
        assert (await elsewhere.post(f"{API}/auth/login", json=RIGHT)).status_code == 200


async def test_the_owner_is_not_locked_out_by_guesses_from_another_address(
    server: Server,
) -> None:
    async with from_address(server, "198.51.100.1") as attacker:
        for _ in range(5):
            await attacker.post(f"{API}/auth/login", json=WRONG)
        locked = await attacker.post(f"{API}/auth/login", json=RIGHT)
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "too_many_attempts"
    async with from_address(server, "192.0.2.10") as owner:
        assert (await owner.post(f"{API}/auth/login", json=RIGHT)).status_code == 200


async def test_two_servers_on_one_database_share_the_counters(
    settings: Settings, clock: ManualClock, verifications: list[str]
) -> None:
    async with running_server(settings, clock) as one, running_server(settings, clock) as two:
        for server, tries in ((one, 3), (two, 2)):
            for _ in range(tries):
                bad = await server.http.post(f"{API}/auth/login", json=WRONG)
                assert bad.json()["error"]["code"] == "invalid_credentials"
        for server in (one, two):
            refused = await server.http.post(f"{API}/auth/login", json=RIGHT)
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "too_many_attempts"
    assert verifications == [WRONG["password"]] * 5


async def test_wrong_current_passwords_are_throttled_like_logins(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    me = (await client.get(f"{API}/me", headers=admin)).json()["user"]["id"]
    body = {"password": "brand-new-pass-1", "current_password": "guess"}
    for _ in range(4):  # the sign-in above spent nothing: a success gives its slot back
        wrong = await client.patch(f"{API}/users/{me}", headers=admin, json=body)
        assert wrong.json()["error"]["code"] == "wrong_current_password"
    await client.post(f"{API}/auth/login", json=WRONG)
    refused = await client.patch(f"{API}/users/{me}", headers=admin, json=body)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_attempts"
