"""Simulator settings: validated on creation and on every run-time update."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from simkit import Sim

from zapgate.domain.errors import Invalid
from zapgate.engines.simulator import SimulatorSettings


def test_defaults_are_sane() -> None:
    settings = SimulatorSettings()
    assert settings.auto_receipts is True
    assert settings.failure_rate == 0.0
    assert settings.receipt_delay_ms >= 0


@pytest.mark.parametrize(
    "bad",
    [
        {"failure_rate": 1.5},
        {"failure_rate": -0.1},
        {"latency_ms": -1},
        {"receipt_delay_ms": 10**9},
        {"sync_delay_ms": "soon"},
        {"request_timeout_ms": 0},
        {"no_such_setting": 1},
    ],
)
def test_bad_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SimulatorSettings.model_validate(bad)
    with pytest.raises(Invalid) as caught:
        SimulatorSettings().updated(**bad)
    assert caught.value.code == "invalid_settings"
    assert caught.value.details
    assert "field" in caught.value.details[0]


def test_settings_are_immutable() -> None:
    with pytest.raises(ValidationError):
        SimulatorSettings().latency_ms = 5  # type: ignore[misc]


async def test_update_settings_applies_and_keeps_the_rest(sim: Sim) -> None:
    before = sim.engine.settings
    after = sim.engine.update_settings(failure_rate=0.25, receipt_delay_ms=10)
    assert sim.engine.settings is after
    assert (after.failure_rate, after.receipt_delay_ms) == (0.25, 10)
    assert after.latency_ms == before.latency_ms
    with pytest.raises(Invalid) as refused:
        sim.engine.update_settings(failure_rate=2)
    assert refused.value.code == "invalid_settings"
    assert sim.engine.settings is after
