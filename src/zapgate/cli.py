"""The ``zapgate`` command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from zapgate.config import EngineName, Settings, load_settings
from zapgate.domain.errors import DomainError
from zapgate.domain.roles import Role
from zapgate.logs import configure_logging
from zapgate.util.gc import tune_for_server

app = typer.Typer(help="zapgate: self-hosted WhatsApp gateway and panel.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
conns_app = typer.Typer(help="Inspect connections.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="api-keys")
app.add_typer(conns_app, name="connections")
sim_app = typer.Typer(help="The simulated WhatsApp network.", no_args_is_help=True)
app.add_typer(sim_app, name="simulator")

T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    try:
        settings = load_settings(**overrides)
    except ValidationError as exc:
        typer.echo("Invalid configuration:", err=True)
        for err in exc.errors():
            name = "ZAPGATE_" + "_".join(str(p) for p in err["loc"]).upper()
            typer.echo(f"  {name}: {err['msg']}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level, settings.log_format.value)
    return settings


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(_with_errors(factory))
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


async def _with_errors(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    engine: Annotated[EngineName | None, typer.Option(help="WhatsApp engine.")] = None,
) -> None:
    """Run the server (migrates the database first)."""
    from zapgate.app import create_app
    from zapgate.engines.factory import EngineUnavailable, ensure_engine_usable
    from zapgate.server import PanelServer

    settings = _settings(host=host, port=port, engine=engine)
    # The runtime checks again at start; checked here too, a broken engine gets one clear
    # line instead of uvicorn's traceback of a failed startup.
    try:
        asyncio.run(ensure_engine_usable(settings))
    except EngineUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    _refuse_second_sqlite_server(settings)
    application = create_app(settings)
    server = PanelServer(_server_config(application, settings), application)
    tune_for_server()
    typer.echo(f"zapgate listening on http://{settings.host}:{settings.port}", err=True)
    server.run()


def _refuse_second_sqlite_server(settings: Settings) -> None:
    """One clear line instead of a failed startup's traceback (the runtime holds the lock)."""
    from zapgate.cluster.startup import SecondNode, SqliteServerLock

    if not settings.is_sqlite:
        return
    probe = SqliteServerLock(settings.resolved_database_url)
    try:
        probe.acquire()
    except SecondNode as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        probe.release()


def _server_config(application: Any, settings: Settings) -> Any:
    import uvicorn

    return uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_config=None,
        # logs.py keeps uvicorn.access at WARNING: never built its per-request line.
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=15,
        ws_ping_interval=20,
    )


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its own SQLite database.")
    ] = Path("./zapgate-demo"),
) -> None:
    """Serve with the simulator and a seeded demo organization whose customers keep writing."""
    from zapgate.app import create_app
    from zapgate.demo import DemoServer

    settings = _settings(host=host, port=port, engine=EngineName.SIMULATOR, data_dir=data_dir)
    # The demo never touches a configured production database: its own file, its own dir.
    settings = settings.model_copy(update={"database_url": None})
    application = create_app(settings)
    server = DemoServer(_server_config(application, settings), application)
    tune_for_server()
    typer.echo("starting the zapgate demo (simulated WhatsApp)...", err=True)
    server.run()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from zapgate.store.db import Database
    from zapgate.store.migrate import upgrade

    settings = _settings()
    settings.ensure_data_dir()

    async def go() -> None:
        db = Database(settings.resolved_database_url, synchronous=settings.sqlite_synchronous.value)
        try:
            await upgrade(db.engine)
        finally:
            await db.close()

    _run(go)
    typer.echo("database is up to date")


async def _with_runtime(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from zapgate.runtime import Runtime

    runtime = Runtime.build(settings)
    # Administration commands must never start sessions: the server may be running.
    await runtime.start(sessions=False)
    try:
        return await work(runtime)
    finally:
        await runtime.stop()


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Login e-mail.")],
    password: Annotated[str, typer.Option(help="At least 8 characters.")],
    org: Annotated[str, typer.Option("--org", help="Organization name (created if missing).")],
    role: Annotated[Role, typer.Option(help="Role in the organization.")] = Role.OWNER,
    superadmin: Annotated[bool, typer.Option("--superadmin", help="Manage all orgs.")] = False,
) -> None:
    """Create a user (and its organization when it does not exist)."""
    settings = _settings()

    async def work(rt: Any) -> str:
        user = await rt.accounts.create_user_cli(
            email=email, password=password, org_name=org, role=role, superadmin=superadmin
        )
        return str(user.email)

    created = _run(lambda: _with_runtime(settings, work))
    typer.echo(f"created user {created} in {org!r} as {role.value}")


@keys_app.command("create")
def api_keys_create(
    org: Annotated[str, typer.Option("--org", help="Organization name.")],
    name: Annotated[str, typer.Option(help="A name to recognise the key by.")],
) -> None:
    """Create an API key; the key is printed alone on the last line."""
    settings = _settings()

    async def work(rt: Any) -> str:
        created = await rt.accounts.create_api_key_cli(org_name=org, name=name)
        return str(created.key)

    key = _run(lambda: _with_runtime(settings, work))
    typer.echo(f"API key {name!r} for {org!r} (shown once, store it now):")
    typer.echo(key)


@sim_app.command("serve")
def simulator_serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8900,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the network keeps its state (default: memory).")
    ] = None,
) -> None:
    """Run the simulated network as its own process, shared by the nodes of a cluster
    (``ZAPGATE_SIMULATOR_URL``): linked devices and what reached "WhatsApp" outlive them."""
    import uvicorn

    from zapgate.engines.simulator.shared import network_app

    configure_logging("INFO", "console")
    typer.echo(f"simulated network listening on http://{host}:{port}", err=True)
    uvicorn.run(network_app(data_dir), host=host, port=port, log_config=None, access_log=False)


@conns_app.command("list")
def connections_list() -> None:
    """List every connection of every organization with its state."""
    settings = _settings()

    async def work(rt: Any) -> list[tuple[str, ...]]:
        rows = await rt.connections.list_all()
        orgs = {o.id: o.name for o in await rt.accounts.all_organizations()}
        return [
            (r.id, orgs.get(r.organization_id, "?"), r.name, r.state, r.phone or "-") for r in rows
        ]

    rows = _run(lambda: _with_runtime(settings, work))
    header = ("ID", "ORGANIZATION", "NAME", "STATE", "PHONE")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for line in (header, *rows):
        typer.echo("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    if not rows:
        typer.echo("(no connections)")


@app.command()
def doctor() -> None:
    """Check the environment: database, data directory, engine library, tools."""
    from zapgate.doctor import run_checks

    settings = _settings()
    results = asyncio.run(run_checks(settings))
    failed = False
    for result in results:
        mark = "ok  " if result.ok else ("warn" if result.optional else "FAIL")
        failed |= not result.ok and not result.optional
        typer.echo(f"[{mark}] {result.name}: {result.detail}")
    raise typer.Exit(1 if failed else 0)


if __name__ == "__main__":
    app()
