"""Settings: the one place that reads the environment.

Everything configurable is read here once, from the process environment first and
then from a `.env` file, into a frozen `Settings` object that the composition root
hands to the services. Nothing else in ragplane reads `os.environ`.

A wrong value fails at start with a `SettingsError` that names the variable, so an
operator never has to guess which of forty variables broke a deploy; it never shows a secret or a URL's password.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from starlette.config import Config

from ragplane import parsing
from ragplane.parsing import SettingsError as SettingsError  # where callers have always found it
from ragplane.redaction import REDACTED, redacted_url, shown_in_error
from ragplane.settings_gateway import GatewaySettings, read_gateway
from ragplane.settings_qdrant import QdrantSettings, read_qdrant

T = TypeVar("T")

EmbedderChoice = Literal["local", "ollama"]
AnswererChoice = Literal["extractive", "ollama"]
# OpenTelemetry's standard OTEL_TRACES_SAMPLER values (ragplane.kit.tracing builds each).
TRACE_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
BREAKER_NAMES = ("embedder", "qdrant", "llm", "cache")


@dataclass(frozen=True)
class BreakerSettings:
    """One circuit breaker: CIRCUIT_BREAKER_* defaults, or CIRCUIT_BREAKER_<NAME>_* overrides."""

    failure_threshold: int = 5
    call_timeout_s: float = 30.0
    recovery_s: float = 10.0


def _secret() -> Any:
    return field(default=None, metadata={"secret": True})


@dataclass(frozen=True)
class Settings:
    """Typed, immutable configuration for every ragplane process."""

    host: str = "127.0.0.1"
    gateway_port: int = 8000
    query_port: int = 8001
    collections_port: int = 8002
    data_dir: Path = Path("data")
    inter_service_secret: str | None = _secret()
    inter_service_secret_previous: str | None = _secret()
    token: str | None = _secret()  # RAGPLANE_TOKEN: the CLI's bearer token for the gateway
    query_url: str | None = None
    collections_url: str | None = None
    upstream_timeout_s: float = 60.0
    ollama_url: str | None = None
    ollama_embed_model: str = "nomic-embed-text"
    ollama_llm_model: str = "llama3.2"
    ollama_timeout_s: float = 60.0
    embedder: EmbedderChoice = "local"
    answerer: AnswererChoice = "extractive"
    embedder_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    embedder_process: bool = True
    default_collection: str = "docs"
    ingest_concurrency: int = 2
    ingest_max_jobs: int = 32
    max_upload_bytes: int = 20 * 1024 * 1024
    chunk_size_chars: int = 800
    chunk_overlap_chars: int = 120
    otel_exporter_otlp_endpoint: str | None = None
    otel_sdk_disabled: bool = False  # the standard variables, read here so that .env files count too
    otel_traces_sampler: str = "parentbased_always_on"
    otel_traces_sampler_arg: float = 1.0
    log_level: str = "INFO"
    log_format: str | None = None  # json | console; None: console on a terminal, JSON otherwise
    circuit_breaker_enabled: bool = True
    circuit_breaker_defaults: BreakerSettings = BreakerSettings()
    circuit_breakers: Mapping[str, BreakerSettings] = field(
        default_factory=lambda: MappingProxyType({name: BreakerSettings() for name in BREAKER_NAMES})
    )
    gpu_slots: int | None = None
    gpu_queue_timeout_s: float = 30.0
    embed_batch_max: int = 32
    embed_batch_wait_ms: float = 2.0
    redis_url: str | None = None
    redis_key_prefix: str = "ragplane"
    cache_ttl_s: float = 300.0
    cache_entries: int = 1024
    fault_injection: bool = True
    database_url: str | None = None
    database_pool_size: int = 10
    database_timeout_s: float = 5.0
    database_migrate_on_start: bool = True
    database_retry_s: float = 2.0
    database_maintenance_s: float = 60.0
    query_log_retention_days: int = 30
    job_retention_days: int = 90
    query_log_batch_size: int = 200
    query_log_flush_s: float = 1.0
    query_log_buffer: int = 10_000
    backup_dir: Path | None = None  # None: RAGPLANE_DATA_DIR/backups (see `backups`)
    backup_retention_days: int = 7
    backup_schedule: str | None = "0 2 * * *"  # cron; None: no scheduled backups
    qdrant: QdrantSettings = field(default_factory=QdrantSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)

    @property
    def effective_gpu_slots(self) -> int:
        """GPU_SLOTS, else 1 for Ollama (one model instance) or the core count for the local embedder."""
        if self.gpu_slots is not None:
            return self.gpu_slots
        return 1 if self.embedder == "ollama" else max(1, os.cpu_count() or 1)

    @property
    def qdrant_path(self) -> Path:
        """Where the embedded vector store keeps its files when no Qdrant server is configured."""
        return self.data_dir / "qdrant"

    @property
    def registry_path(self) -> Path:
        return self.data_dir / "collections.json"

    @property
    def backups(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @property
    def registry_snapshot_path(self) -> Path:
        """The PostgreSQL registry's JSON copy, served while it is down (not migrate-json's `registry_path`)."""
        return self.data_dir / "registry-snapshot.json"

    @property
    def service_secrets(self) -> tuple[str, ...]:
        """Accepted inter-service tokens: the current secret, then the one being rotated out."""
        return tuple(s for s in (self.inter_service_secret, self.inter_service_secret_previous) if s)

    def upstream_url(self, service: str) -> str:
        """Base URL the gateway uses for `service` (an explicit URL wins over host:port)."""
        explicit = {"query": self.query_url, "collections": self.collections_url}[service]
        if explicit:
            return explicit.rstrip("/")
        port = {"query": self.query_port, "collections": self.collections_port}[service]
        return f"http://{self.host}:{port}"

    def redacted(self) -> dict[str, Any]:
        """Every setting as JSON-friendly data, with secrets replaced by `***`."""
        return _redacted(self)


def _redacted(settings: Settings | GatewaySettings | QdrantSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.metadata.get("secret") and value:
            value = REDACTED
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = [redacted_url(v) for v in value]
        elif isinstance(value, Mapping):
            value = {k: asdict(v) if isinstance(v, BreakerSettings) else v for k, v in value.items()}
        elif isinstance(value, BreakerSettings):
            value = asdict(value)
        elif isinstance(value, GatewaySettings | QdrantSettings):
            value = _redacted(value)
        elif isinstance(value, str):
            value = redacted_url(value)
        out[f.name] = value
    return out


def child_environment(**overrides: str) -> dict[str, str]:
    """This environment and `overrides`, for a ragplane child process (`up`'s gateway) to read."""
    return {**os.environ, **overrides}


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
    """Read settings from `environ` (default: the process environment) and `env_file`.

    The environment wins over the file, as with docker compose and starlette's Config.
    """
    env_path = Path(env_file) if env_file is not None else None
    config = Config(
        env_file=env_path if env_path is not None and env_path.is_file() else None,
        environ=os.environ if environ is None else environ,
    )
    read = _Reader(config)
    defaults = Settings()
    ollama_url = read("OLLAMA_URL", parsing.http_url, None)
    settings = Settings(
        host=read("RAGPLANE_HOST", str, defaults.host),
        gateway_port=read("GATEWAY_PORT", parsing.port, defaults.gateway_port),
        query_port=read("QUERY_PORT", parsing.port, defaults.query_port),
        collections_port=read("COLLECTIONS_PORT", parsing.port, defaults.collections_port),
        data_dir=read("RAGPLANE_DATA_DIR", Path, defaults.data_dir),
        inter_service_secret=read("INTER_SERVICE_SECRET", parsing.service_secret, None, secret=True),
        inter_service_secret_previous=read("INTER_SERVICE_SECRET_PREVIOUS", parsing.service_secret, None, secret=True),
        token=read("RAGPLANE_TOKEN", parsing.non_empty, None, secret=True),
        query_url=read("QUERY_URL", parsing.http_url, None),
        collections_url=read("COLLECTIONS_URL", parsing.http_url, None),
        upstream_timeout_s=read("GATEWAY_UPSTREAM_TIMEOUT_S", parsing.positive_float, defaults.upstream_timeout_s),
        qdrant=read_qdrant(read),
        ollama_url=ollama_url,
        ollama_embed_model=read("OLLAMA_EMBED_MODEL", parsing.non_empty, defaults.ollama_embed_model),
        ollama_llm_model=read("OLLAMA_LLM_MODEL", parsing.non_empty, defaults.ollama_llm_model),
        ollama_timeout_s=read("OLLAMA_TIMEOUT_S", parsing.positive_float, defaults.ollama_timeout_s),
        embedder_threads=read("EMBEDDER_THREADS", parsing.positive_int, defaults.embedder_threads),
        embedder_process=read("EMBEDDER_PROCESS", parsing.boolean, defaults.embedder_process),
        default_collection=read("RAGPLANE_DEFAULT_COLLECTION", parsing.non_empty, defaults.default_collection),
        ingest_concurrency=read("INGEST_CONCURRENCY", parsing.positive_int, defaults.ingest_concurrency),
        ingest_max_jobs=read("INGEST_MAX_JOBS", parsing.positive_int, defaults.ingest_max_jobs),
        max_upload_bytes=read("MAX_UPLOAD_BYTES", parsing.positive_int, defaults.max_upload_bytes),
        chunk_size_chars=read("CHUNK_SIZE_CHARS", parsing.positive_int, defaults.chunk_size_chars),
        chunk_overlap_chars=read("CHUNK_OVERLAP_CHARS", parsing.non_negative_int, defaults.chunk_overlap_chars),
        otel_exporter_otlp_endpoint=read("OTEL_EXPORTER_OTLP_ENDPOINT", parsing.http_url, None),
        otel_sdk_disabled=read("OTEL_SDK_DISABLED", parsing.boolean, False),
        otel_traces_sampler=read("OTEL_TRACES_SAMPLER", parsing.choice(*TRACE_SAMPLERS), defaults.otel_traces_sampler),
        otel_traces_sampler_arg=read("OTEL_TRACES_SAMPLER_ARG", parsing.fraction, defaults.otel_traces_sampler_arg),
        log_level=read("LOG_LEVEL", parsing.log_level, defaults.log_level),
        log_format=read("LOG_FORMAT", parsing.choice("json", "console"), None),
        embedder=read("EMBEDDER", parsing.choice("local", "ollama"), "ollama" if ollama_url else "local"),
        answerer=read("ANSWERER", parsing.choice("extractive", "ollama"), "ollama" if ollama_url else "extractive"),
        circuit_breaker_enabled=read("CIRCUIT_BREAKER_ENABLED", parsing.boolean, True),
        circuit_breaker_defaults=(base := _breaker(read, "CIRCUIT_BREAKER_", BreakerSettings())),
        circuit_breakers=MappingProxyType(
            {n: _breaker(read, f"CIRCUIT_BREAKER_{n.upper()}_", base) for n in BREAKER_NAMES}
        ),
        gpu_slots=read("GPU_SLOTS", parsing.positive_int, None),
        gpu_queue_timeout_s=read("GPU_QUEUE_TIMEOUT_S", parsing.positive_float, defaults.gpu_queue_timeout_s),
        embed_batch_max=read("EMBED_BATCH_MAX", parsing.positive_int, defaults.embed_batch_max),
        embed_batch_wait_ms=read("EMBED_BATCH_WAIT_MS", parsing.non_negative_float, defaults.embed_batch_wait_ms),
        redis_url=read("REDIS_URL", parsing.redis_url, None),
        redis_key_prefix=read("REDIS_KEY_PREFIX", parsing.non_empty, defaults.redis_key_prefix),
        cache_ttl_s=read("CACHE_TTL_S", parsing.positive_float, defaults.cache_ttl_s),
        cache_entries=read("CACHE_ENTRIES", parsing.positive_int, defaults.cache_entries),
        fault_injection=read("FAULT_INJECTION", parsing.boolean, True),
        database_url=read("DATABASE_URL", parsing.postgres_url, None),
        database_pool_size=read("DATABASE_POOL_SIZE", parsing.positive_int, defaults.database_pool_size),
        database_timeout_s=read("DATABASE_TIMEOUT_S", parsing.positive_float, defaults.database_timeout_s),
        database_migrate_on_start=read(
            "DATABASE_MIGRATE_ON_START", parsing.boolean, defaults.database_migrate_on_start
        ),
        database_retry_s=read("DATABASE_RETRY_S", parsing.positive_float, defaults.database_retry_s),
        database_maintenance_s=read("DATABASE_MAINTENANCE_S", parsing.positive_float, defaults.database_maintenance_s),
        query_log_retention_days=read(
            "QUERY_LOG_RETENTION_DAYS", parsing.positive_int, defaults.query_log_retention_days
        ),
        job_retention_days=read("JOB_RETENTION_DAYS", parsing.positive_int, defaults.job_retention_days),
        query_log_batch_size=read("QUERY_LOG_BATCH_SIZE", parsing.positive_int, defaults.query_log_batch_size),
        query_log_flush_s=read("QUERY_LOG_FLUSH_S", parsing.positive_float, defaults.query_log_flush_s),
        query_log_buffer=read("QUERY_LOG_BUFFER", parsing.positive_int, defaults.query_log_buffer),
        backup_dir=read("BACKUP_DIR", Path, None),
        backup_retention_days=read("BACKUP_RETENTION_DAYS", parsing.positive_int, defaults.backup_retention_days),
        backup_schedule=read("BACKUP_SCHEDULE", parsing.cron, defaults.backup_schedule),
        gateway=read_gateway(read),
    )
    _check_consistency(settings)
    return settings


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


class _Reader:
    """Wraps starlette's Config so every failure names its variable."""

    def __init__(self, config: Config) -> None:
        self._config = config

    def __call__(self, key: str, cast: Callable[[str], T], default: T, *, secret: bool = False) -> T:
        raw = self._config(key, default=None)
        if raw is None or raw == "":
            return default
        try:
            return cast(raw)
        except (TypeError, ValueError) as exc:
            shown = key if secret else f"{key}={','.join(shown_in_error(p) for p in raw.split(','))!r}"
            raise SettingsError(f"{shown} is not valid: {exc}") from None


def _breaker(read: _Reader, prefix: str, base: BreakerSettings) -> BreakerSettings:
    """CIRCUIT_BREAKER_* (what every breaker uses), or one breaker's, e.g. CIRCUIT_BREAKER_LLM_CALL_TIMEOUT_S."""
    return BreakerSettings(
        failure_threshold=read(prefix + "FAILURE_THRESHOLD", parsing.positive_int, base.failure_threshold),
        call_timeout_s=read(prefix + "CALL_TIMEOUT_S", parsing.positive_float, base.call_timeout_s),
        recovery_s=read(prefix + "RECOVERY_S", parsing.positive_float, base.recovery_s),
    )


def _check_consistency(settings: Settings) -> None:
    ports = {
        "GATEWAY_PORT": settings.gateway_port,
        "QUERY_PORT": settings.query_port,
        "COLLECTIONS_PORT": settings.collections_port,
    }
    taken: dict[int, str] = {}
    for name, port in ports.items():
        if port and port in taken:
            raise SettingsError(f"{name}={port} is also {taken[port]}: each service needs its own port")
        taken[port] = name
    if settings.chunk_overlap_chars >= settings.chunk_size_chars:
        raise SettingsError(
            f"CHUNK_OVERLAP_CHARS={settings.chunk_overlap_chars} must be smaller than "
            f"CHUNK_SIZE_CHARS={settings.chunk_size_chars}"
        )
    for name, choice in (("EMBEDDER", settings.embedder), ("ANSWERER", settings.answerer)):
        if choice == "ollama" and not settings.ollama_url:
            raise SettingsError(f"{name}=ollama needs OLLAMA_URL")
