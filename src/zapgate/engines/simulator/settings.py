"""Run-time knobs of the simulated network (``PATCH /simulator/settings`` changes them)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zapgate.domain.errors import Invalid

# Delays are capped at an hour: a longer one is a typo, and a timer that outlives every
# test and demo only hides a bug.
_Delay = Annotated[int, Field(ge=0, le=3_600_000)]


class SimulatorSettings(BaseModel):
    """How the modelled network behaves; validated on creation and on every update."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auto_receipts: bool = True
    """Customers' phones acknowledge what they receive (delivered, then read/played)."""
    receipt_delay_ms: _Delay = 500
    """From the server ack to the ``delivered`` receipt."""
    read_delay_ms: _Delay = 2_000
    """From ``delivered`` to ``read``."""
    played_delay_ms: _Delay = 3_000
    """From ``read`` to ``played`` (voice notes only)."""
    latency_ms: _Delay = 50
    """Round trip of one send to the server."""
    failure_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """Share of sends failing with a transient ``network_error`` (drawn from the seeded RNG)."""
    sync_delay_ms: _Delay = 1_000
    """From ``Paired`` to ``Connected``: the phone syncing keys and history."""
    request_timeout_ms: Annotated[int, Field(ge=1, le=3_600_000)] = 30_000
    """How long a send waits for a silenced connection before failing with ``timeout``."""

    dead_proxies: tuple[str, ...] = ()
    """Proxies (``scheme://host:port``, credentials ignored) that refuse every dial."""

    def updated(self, **changes: Any) -> SimulatorSettings:
        """A copy with ``changes`` applied and validated; raises :class:`Invalid`."""
        try:
            return SimulatorSettings.model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            details = [
                {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
                for err in exc.errors()
            ]
            raise Invalid(
                "invalid simulator settings", code="invalid_settings", details=details
            ) from exc
