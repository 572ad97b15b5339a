"""The `zapgate` command, run as a real subprocess against both databases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from alembic.script import ScriptDirectory
from asgi_lifespan import LifespanManager

from zapgate.app import create_app
from zapgate.config import Settings
from zapgate.store.migrate import alembic_config


def run(
    args: list[str], env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "zapgate.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_migrate_users_keys_connections(env: dict[str, str], tmp_path: Path) -> None:
    assert "up to date" in run(["migrate"], env).stdout
    created = run(
        [
            "users",
            "create",
            "--email",
            "Boss@Shop.com",
            "--password",
            "boss-pass-1",
            "--org",
            "Barbearia",
            "--role",
            "owner",
            "--superadmin",
        ],
        env,
    )
    assert "boss@shop.com" in created.stdout
    dup = run(
        [
            "users",
            "create",
            "--email",
            "boss@shop.com",
            "--password",
            "boss-pass-1",
            "--org",
            "Barbearia",
        ],
        env,
        check=False,
    )
    assert dup.returncode == 1
    assert "already exists" in dup.stderr

    keyed = run(["api-keys", "create", "--org", "Barbearia", "--name", "crm"], env)
    key = keyed.stdout.strip().splitlines()[-1]
    assert key.startswith("zg_")
    missing_org = run(["api-keys", "create", "--org", "Nope", "--name", "x"], env, check=False)
    assert missing_org.returncode == 1
    assert "error: organization 'Nope' not found" in missing_org.stderr

    listed = run(["connections", "list"], env)
    assert "(no connections)" in listed.stdout

    settings = Settings(
        _env_file=None,
        data_dir=Path(env["ZAPGATE_DATA_DIR"]),
        database_url=env["ZAPGATE_DATABASE_URL"],
        secret_key="k" * 40,
        engine="simulator",
    )
    import asyncio

    async def use_key() -> None:
        app = create_app(settings)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                me = await http.get("/api/v1/me", headers={"X-Api-Key": key})
                assert me.status_code == 200
                assert me.json()["organization"]["name"] == "Barbearia"
                created = await http.post(
                    "/api/v1/connections", headers={"X-Api-Key": key}, json={"name": "Front desk"}
                )
                assert created.status_code == 201

    asyncio.run(use_key())
    listed = run(["connections", "list"], env)
    assert "Front desk" in listed.stdout
    assert "Barbearia" in listed.stdout
    assert "idle" in listed.stdout


def test_doctor_and_bad_configuration(env: dict[str, str]) -> None:
    doctor = run(["doctor"], env, check=False)
    assert "database" in doctor.stdout
    assert "data directory" in doctor.stdout
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr

    bad = run(["migrate"], env | {"ZAPGATE_PORT": "99999"}, check=False)
    assert bad.returncode == 2
    assert "ZAPGATE_PORT" in bad.stderr

    unreachable = env | {"ZAPGATE_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/x"}
    failing = run(["doctor"], unreachable, check=False)
    assert failing.returncode == 1
    assert "FAIL" in failing.stdout


def run_merged(args: list[str], env: dict[str, str]) -> list[str]:
    """The command's output as a terminal shows it: stderr (logs) and stdout together."""
    result = subprocess.run(
        [sys.executable, "-m", "zapgate.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout
    return result.stdout.splitlines()


def test_commands_are_quiet_once_the_database_is_migrated(
    env: dict[str, str], tmp_path: Path
) -> None:
    verbose = env | {"ZAPGATE_LOG_LEVEL": "INFO"}
    fresh = verbose | {"ZAPGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"}
    created = run_merged(["migrate"], fresh)
    assert len(created) == 2, created
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert created[0].endswith(
        f"INFO    zapgate.store.migrate: created the database schema at revision {head}"
    )
    assert created[1] == "database is up to date"

    # The fixture's database is migrated already: no migration says a word.
    user = ["users", "create", "--email", "a@shop.com", "--password", "pass-word-1"]
    assert run_merged([*user, "--org", "Shop"], verbose) == [
        "created user a@shop.com in 'Shop' as owner"
    ]
    keyed = run_merged(["api-keys", "create", "--org", "Shop", "--name", "crm"], verbose)
    assert keyed[:-1] == ["API key 'crm' for 'Shop' (shown once, store it now):"]
    assert keyed[-1].startswith("zg_")
    assert keyed[-1].split() == [keyed[-1]]
