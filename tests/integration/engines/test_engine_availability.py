"""An engine that cannot run here is refused at start, or fails its connection clearly.

The neonize library is made unimportable for the child processes only (the engine
probe and the workers), as on a machine where it was never installed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager

from tests.broken_neonize import MISSING, broken_pythonpath
from tests.conftest import login, running_server
from tests.integration.api.helpers import API, create_connection, wait_state
from zapgate.app import create_app
from zapgate.config import Settings
from zapgate.engines.factory import EngineUnavailable, ensure_engine_usable
from zapgate.engines.neonize.engine import NeonizeEngine
from zapgate.util.clock import ManualClock

FIX = "pip install neonize==0.5.2, or set ZAPGATE_ENGINE=simulator"


def assert_names_the_fix(message: str) -> None:
    assert message.startswith("ZAPGATE_ENGINE=neonize but the neonize library cannot be imported")
    assert MISSING in message
    assert message.endswith(FIX)


@pytest.fixture
def break_neonize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    return lambda: monkeypatch.setenv("PYTHONPATH", broken_pythonpath(tmp_path))


async def test_the_probe_names_the_fix_when_neonize_is_missing(
    settings_factory: Callable[..., Settings], break_neonize: Callable[[], None]
) -> None:
    await ensure_engine_usable(settings_factory(engine="neonize"))
    break_neonize()
    with pytest.raises(EngineUnavailable) as refused:
        await ensure_engine_usable(settings_factory(engine="neonize"))
    assert_names_the_fix(str(refused.value))
    # The simulator needs no library: nothing to refuse.
    await ensure_engine_usable(settings_factory(engine="simulator"))


async def test_the_server_refuses_to_start_without_its_engine(
    settings_factory: Callable[..., Settings],
    clock: ManualClock,
    break_neonize: Callable[[], None],
) -> None:
    break_neonize()
    app = create_app(settings_factory(engine="neonize"), clock=clock)
    with pytest.raises(EngineUnavailable) as refused:
        async with LifespanManager(app, startup_timeout=60):
            pass
    assert_names_the_fix(str(refused.value))


async def test_a_worker_that_cannot_load_the_library_fails_its_connection_clearly(
    settings_factory: Callable[..., Settings],
    clock: ManualClock,
    break_neonize: Callable[[], None],
) -> None:
    """The library goes missing after the server started: the connection lands in
    ``error`` with a stable code and the fix, never a 500, and /readyz says why."""
    async with running_server(settings_factory(engine="neonize"), clock) as server:
        assert isinstance(server.runtime.engine, NeonizeEngine)
        headers = await login(server.http, "admin@example.com", "admin-password-1")
        connection = await create_connection(server.http, headers)
        break_neonize()
        started = await server.http.post(
            f"{API}/connections/{connection['id']}/start", headers=headers
        )
        assert started.status_code == 202, started.text
        status = await wait_state(server.http, headers, connection["id"], "error")
        assert status["error_code"] == "engine_unavailable"
        assert_names_the_fix(status["error_message"])
        ready = await server.http.get("/readyz")
        assert ready.status_code == 503
        assert_names_the_fix(ready.json()["checks"]["engine"])
