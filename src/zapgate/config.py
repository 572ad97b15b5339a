"""Settings: environment variables (prefix ``ZAPGATE_``) and an optional ``.env`` file.

Nothing here runs at import time; :func:`load_settings` builds and validates them.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class EngineName(StrEnum):
    NEONIZE = "neonize"
    SIMULATOR = "simulator"


class SqliteSynchronous(StrEnum):
    FULL = "full"
    NORMAL = "normal"


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ZAPGATE_", env_file=".env", extra="ignore", validate_default=True
    )

    database_url: str | None = None
    """SQLAlchemy URL; default is ``sqlite+aiosqlite:///<DATA_DIR>/zapgate.db``."""
    data_dir: Path = Path("./data")
    sqlite_synchronous: SqliteSynchronous = SqliteSynchronous.FULL
    """SQLite only. ``full``: every commit reaches the disk before it returns, so an
    accepted message (a 202) survives a power cut; ``normal``: it survives the process
    being killed, not a power cut or an OS crash (README, "Durability on SQLite")."""
    engine: EngineName = EngineName.NEONIZE
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    secret_key: SecretStr | None = None
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    admin_org: str = "Default"

    sessions_per_worker: Annotated[int, Field(ge=1, le=64)] = 10
    """Real (neonize) sessions sharing one engine worker process. A worker costs ~70 MiB
    with one session and ~0.6 MiB per more (measured offline, ``bench/workers.py``): one
    per number made 100 numbers cost ~7 GB, ten per worker ~0.8 GB. The price: a worker
    crash drops its ten numbers at once (resumed on the warm spare), and their library
    calls share one lock (``docs/engines.md``)."""
    max_connections: Annotated[int, Field(ge=1)] = 1000
    """Global cap on connections; also the per-organization cap unless that is lower. In a
    cluster, also the most connections one node owns (its capacity)."""
    max_connections_per_org: Annotated[int, Field(ge=1)] | None = None
    health_check_interval: Annotated[float, Field(gt=0)] = 60.0
    restore_concurrency: Annotated[int, Field(ge=1)] = 50
    """Sessions resumed at once after a restart; more wait their turn (plus jitter)."""
    restore_jitter: Annotated[float, Field(ge=0)] = 2.0

    # --- cluster (docs/cluster.md): several nodes on one PostgreSQL
    cluster: bool = False
    """Run as one node of a cluster (PostgreSQL only); setting ``node_id`` implies it."""
    node_id: str | None = None
    """This node's name in the cluster; default: the hostname plus a short random suffix."""
    node_url: str | None = None
    """How other nodes reach this one (shown by ``GET /api/v1/cluster``)."""
    lease_seconds: Annotated[float, Field(ge=3, le=300)] = 15.0
    """A connection lease lives this long after its node's last heartbeat; a node
    heartbeats every fifth of it and closes its sessions once half of it passes without
    one (so a cut-off node is silent before anyone may take its connections over)."""
    node_timeout: Annotated[float, Field(gt=0, le=300)] = 30.0
    """How long a node waits for the answer of a command it carried to another node
    (``services/commands.py``); past it the request is answered 503 ``node_unreachable``
    and the other node refuses the command if it arrives later (it carries its expiry)."""

    simulator_url: str | None = None
    """The simulated network as its own process (``zapgate simulator serve``), shared by
    the nodes of a cluster; default: each process simulates its own."""

    webhook_allow_private: bool = False
    # --- messaging: the outbox and media fetching
    outbox_rate_limit_per_minute: Annotated[int, Field(ge=1, le=600)] = 20
    """Default pace of one connection's sends (``connections.rate_limit_per_minute`` wins).
    Bursts are what get numbers banned, so sends are spaced evenly, never bunched."""
    outbox_rate_jitter: Annotated[float, Field(ge=0, lt=1)] = 0.3
    """Fraction by which each gap between two sends varies at random (humans are irregular)."""
    outbox_daily_cap: Annotated[int, Field(ge=1)] = 1000
    """Default sends per connection per UTC day (``connections.daily_cap`` wins)."""
    outbox_unavailable_timeout: Annotated[float, Field(gt=0)] = 3600.0
    """Seconds a message waits for its connection to be ``ready`` before it fails."""
    outbox_max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    outbox_poll_interval: Annotated[float, Field(gt=0)] = 1.0
    max_schedule_days: Annotated[int, Field(ge=1, le=3650)] = 365
    media_fetch_allow_private: bool = False
    """Let ``media.url`` point at loopback/private/link-local addresses (off: SSRF guard)."""
    media_fetch_timeout: Annotated[float, Field(gt=0)] = 20.0
    webhook_timeout: Annotated[float, Field(gt=0)] = 10.0
    event_retention_days: Annotated[int, Field(ge=1)] = 7
    # --- events and webhooks
    webhook_concurrency: Annotated[int, Field(ge=1, le=1000)] = 16
    """Requests in flight per webhook endpoint; endpoints never share slots."""
    webhook_retry_hours: Annotated[float, Field(gt=0)] = 24.0
    """A failing delivery is retried with backoff for this long after its event."""
    webhook_disable_after_hours: Annotated[float, Field(gt=0)] = 72.0
    """An endpoint with no success for this long (and 20+ failures in a row) is disabled."""
    webhook_pause_after_failures: Annotated[int, Field(ge=1, le=100_000)] = 32
    """Failed attempts in a row after which a webhook endpoint is paused: one probe at a
    time instead of a request per delivery, until one succeeds."""
    webhook_probe_seconds: Annotated[float, Field(gt=0, le=3600)] = 10.0
    """A paused endpoint gets one delivery this often."""
    stream_queue_size: Annotated[int, Field(ge=10, le=100_000)] = 1000
    """Live events buffered per SSE/WebSocket client before it is cut off as too slow."""
    stream_heartbeat: Annotated[float, Field(gt=0)] = 15.0
    """Seconds between SSE heartbeats and WebSocket pings."""
    stream_auth_interval: Annotated[float, Field(gt=0, le=300)] = 5.0
    """Seconds between checks of an open stream's credentials. A credential revoked or
    a user deleted by another process ends the stream within this plus
    ``auth_cache_seconds``; through this process, at once; an access token, at its
    expiry."""

    # --- Evolution API compatibility (docs/evolution.md)
    evolution_enabled: bool = True
    evolution_prefix: str = "/evolution"
    """Where Evolution API's routes are served; empty serves them at the root."""

    argon2_time_cost: Annotated[int, Field(ge=1, le=20)] = 3
    argon2_memory_kib: Annotated[int, Field(ge=1024)] = 65536
    access_token_ttl: Annotated[int, Field(ge=60)] = 12 * 3600
    auth_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0
    """How long a checked API key or token is trusted without reading the database again
    (0 disables). Changes made through this process apply at once; changes made by
    another process (a second server, the CLI) within this many seconds."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    max_media_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024 * 1024

    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.CONSOLE

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("evolution_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        clean = value.strip().rstrip("/")
        if clean and not clean.startswith("/"):
            clean = "/" + clean
        if clean.startswith(("/api", "/app", "/static")) or "{" in clean or " " in clean:
            raise ValueError("must be a plain path outside /api, /app and /static (or empty)")
        return clean

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if value.startswith(("postgres://", "postgresql://")):
            # Accept the URL people copy from their provider; use the async driver.
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(postgresql:// is accepted and converted)"
            )
        return value

    @field_validator("admin_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if "@" not in value:
            raise ValueError("must be an e-mail address")
        return value.strip().lower()

    @model_validator(mode="after")
    def _admin_pair(self) -> Settings:
        if (self.admin_email is None) != (self.admin_password is None):
            raise ValueError("ZAPGATE_ADMIN_EMAIL and ZAPGATE_ADMIN_PASSWORD go together")
        if self.admin_password is not None and len(self.admin_password.get_secret_value()) < 8:
            raise ValueError("ZAPGATE_ADMIN_PASSWORD must have at least 8 characters")
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("ZAPGATE_SECRET_KEY must have at least 32 characters")
        if self.node_id is not None:
            self.node_id = self.node_id.strip() or None
        if self.node_id is not None and (len(self.node_id) > 200 or not self.node_id.isprintable()):
            raise ValueError("ZAPGATE_NODE_ID must be at most 200 printable characters")
        if self.clustered and self.is_sqlite:
            raise ValueError(
                "cluster mode (ZAPGATE_CLUSTER or ZAPGATE_NODE_ID) needs PostgreSQL: "
                "SQLite runs one node only; set ZAPGATE_DATABASE_URL to a PostgreSQL database"
            )
        if self.clustered and self.secret_key is None:
            raise ValueError(
                "cluster mode needs ZAPGATE_SECRET_KEY, the same on every node "
                "(tokens and internal commands are signed with it)"
            )
        return self

    @property
    def clustered(self) -> bool:
        """One node of a cluster: leases decide which connections this process runs."""
        return self.cluster or self.node_id is not None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'zapgate.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def org_connection_cap(self) -> int:
        return min(self.max_connections, self.max_connections_per_org or self.max_connections)

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def secret(self) -> str:
        """The signing secret: configured, or generated once and kept in the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.ensure_data_dir() / "secret_key"
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; ``overrides`` win (the CLI passes flags here)."""
    clean: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
