"""Settings: the one place that reads the environment.

Everything configurable is read here once, from the process environment first and then from a
`.env` file, into a frozen `Settings` object made of sections. The composition root (`stack.py`)
and the services' app factories hand each adapter and kit module the section it needs
(`settings.cache`, `settings.qdrant`, ...), never the whole. Nothing else in ragplane reads
`os.environ`.

Each setting is declared once, in its section: its type (constraints, parsing, how it is shown),
its default and its variable; pydantic-settings reads it (`_reading.py`). A wrong value fails at
start with a `SettingsError` that names the variable, so an operator never has to guess which of
a hundred variables broke a deploy; it never shows a secret or a URL's password.

    server      ServerSettings      host, ports, upstream URLs, data directory, service secrets
    models      ModelSettings       embedder, answerer, Ollama, GPU slots, embedding batches
    collections CollectionSettings  default collection, uploads, chunking, ingestion jobs
    resilience  ResilienceSettings  circuit breakers (BreakerSettings per name), fault injection
    cache       CacheSettings       Redis and the caches
    database    DatabaseSettings    PostgreSQL: pool, migrations, maintenance, retention
    query_log   QueryLogSettings    how query log rows are batched
    backup      BackupSettings      where, when and how long backups are kept
    telemetry   TelemetrySettings   OpenTelemetry's variables, log level and format
    qdrant      QdrantSettings      the Qdrant nodes and their pool
    gateway     GatewaySettings     the edge: tokens, plans, CORS, maintenance, replicas, limits
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ragplane.settings._reading import reading, variable_names
from ragplane.settings.collections import CollectionSettings
from ragplane.settings.gateway import GatewaySettings
from ragplane.settings.models import ModelSettings
from ragplane.settings.qdrant import QdrantSettings
from ragplane.settings.resilience import BREAKER_NAMES, PREFIX, BreakerSettings, ResilienceSettings, prefix_of
from ragplane.settings.server import ServerSettings
from ragplane.settings.stores import BackupSettings, CacheSettings, DatabaseSettings, QueryLogSettings
from ragplane.settings.telemetry import TelemetrySettings

__all__ = [
    "GENERATED_SECRETS",
    "BackupSettings",
    "BreakerSettings",
    "CacheSettings",
    "CollectionSettings",
    "DatabaseSettings",
    "GatewaySettings",
    "ModelSettings",
    "QdrantSettings",
    "QueryLogSettings",
    "ResilienceSettings",
    "ServerSettings",
    "Settings",
    "TelemetrySettings",
    "child_environment",
    "ensure_env_secrets",
    "load_settings",
    "prepare_offline_model_environment",
    "variables",
]


class Settings(BaseModel):
    """Typed, immutable configuration for every ragplane process, in sections. `Settings()` is the
    defaults (as is each section built in code); `load_settings` reads the variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: ServerSettings = Field(default_factory=ServerSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    collections: CollectionSettings = Field(default_factory=CollectionSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    query_log: QueryLogSettings = Field(default_factory=QueryLogSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)

    @property
    def effective_gpu_slots(self) -> int:
        """GPU_SLOTS, else 1 for Ollama (one model instance) or the core count for the local embedder."""
        if self.models.gpu_slots is not None:
            return self.models.gpu_slots
        return 1 if self.models.embedder == "ollama" else max(1, os.cpu_count() or 1)

    @property
    def qdrant_path(self) -> Path:
        """Where the embedded vector store keeps its files when no Qdrant server is configured."""
        return self.server.data_dir / "qdrant"

    @property
    def registry_path(self) -> Path:
        return self.server.data_dir / "collections.json"

    @property
    def backups(self) -> Path:
        return self.backup.backup_dir or self.server.data_dir / "backups"

    @property
    def registry_snapshot_path(self) -> Path:
        """The PostgreSQL registry's JSON copy, served while it is down (not migrate-json's `registry_path`)."""
        return self.server.data_dir / "registry-snapshot.json"

    @property
    def service_secrets(self) -> tuple[str, ...]:
        """Accepted inter-service tokens: the current secret, then the one being rotated out."""
        both = (self.server.inter_service_secret, self.server.inter_service_secret_previous)
        return tuple(s.get_secret_value() for s in both if s)

    @property
    def service_token(self) -> str | None:
        """The X-Service-Token this process sends: the current secret (the previous one is only accepted)."""
        secret = self.server.inter_service_secret
        return secret.get_secret_value() if secret else None

    @property
    def gateway_url(self) -> str:
        """Where the gateway these settings name listens: what the operator commands talk to."""
        return f"http://{self.server.host}:{self.server.gateway_port}"

    def upstream_url(self, service: str) -> str:
        """Base URL the gateway uses for `service` (an explicit URL wins over host:port)."""
        server = self.server
        explicit = {"query": server.query_url, "collections": server.collections_url}[service]
        if explicit:
            return explicit.rstrip("/")
        port = {"query": server.query_port, "collections": server.collections_port}[service]
        return f"http://{server.host}:{port}"

    def redacted(self) -> dict[str, Any]:
        """Every setting as JSON-friendly data, section by section: a secret as `***`, a URL without its password."""
        return self.model_dump(mode="json")


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
    """Read settings from `environ` (default: the process environment) and `env_file`.

    The environment wins over the file, as with docker compose. Every bad variable is reported,
    one line each, in one `SettingsError`.
    """
    with reading(os.environ if environ is None else environ, Path(env_file) if env_file is not None else None):
        return Settings(
            server=ServerSettings.read(),
            models=ModelSettings.read(),
            collections=CollectionSettings.read(),
            resilience=ResilienceSettings.read(),
            cache=CacheSettings.read(),
            database=DatabaseSettings.read(),
            query_log=QueryLogSettings.read(),
            backup=BackupSettings.read(),
            telemetry=TelemetrySettings.read(),
            qdrant=QdrantSettings.read(),
            gateway=GatewaySettings.read(),
        )


def variables() -> list[str]:
    """Every variable `load_settings` reads, in declaration order (the documentation lists them all)."""
    names = [
        name
        for section in Settings.model_fields.values()
        if isinstance(section.annotation, type) and issubclass(section.annotation, BaseModel)
        for field in section.annotation.model_fields.values()
        for name in variable_names(field)
    ]
    breaker_fields = BreakerSettings.model_fields.values()
    for prefix in (PREFIX, *map(prefix_of, BREAKER_NAMES)):
        names.extend(prefix + name for field in breaker_fields for name in variable_names(field))
    return names


def child_environment(**overrides: str) -> dict[str, str]:
    """This environment and `overrides`, for a ragplane child process (`up`'s gateway) to read."""
    return {**os.environ, **overrides}


# What `ragplane up` writes into .env when unset, so a first run works: the services' shared
# secret, and the key `ragplane token` signs with (not when public keys say tokens come from elsewhere).
GENERATED_SECRETS = ("INTER_SERVICE_SECRET", "JWT_SECRET")
_KEYS_FROM_ELSEWHERE = ("JWT_PUBLIC_KEYS", "JWT_PUBLIC_KEY")


def ensure_env_secrets(env_file: str | Path = ".env", environ: Mapping[str, str] | None = None) -> list[str]:
    """Append a fresh value to `env_file` for each of GENERATED_SECRETS configured nowhere yet.

    Returns the names written. A secret is never printed.
    """
    environ = os.environ if environ is None else environ
    path = Path(env_file)
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    configured = {line.split("=", 1)[0].strip() for line in existing.splitlines() if "=" in line}
    configured |= {name for name, value in environ.items() if value}
    missing = [name for name in GENERATED_SECRETS if name not in configured]
    if "JWT_SECRET" in missing and configured.intersection(_KEYS_FROM_ELSEWHERE):
        missing.remove("JWT_SECRET")
    if not missing:
        return []
    prefix = "" if not existing or existing.endswith("\n") else "\n"
    # Private before the secret is in it: a new file is created 0600, an existing one tightened first.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(prefix + "".join(f"{name}={secrets.token_urlsafe(48)}\n" for name in missing))
    return missing


def prepare_offline_model_environment() -> None:
    """Forbid model hubs before the embedding stack is imported: weights ship inside the package."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
