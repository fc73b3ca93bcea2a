import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from ragplane.errors import SettingsError
from ragplane.redaction import REDACTED
from ragplane.settings import (
    BreakerSettings,
    ServerSettings,
    Settings,
    child_environment,
    ensure_env_secrets,
    load_settings,
    prepare_offline_model_environment,
    variables,
)
from ragplane.settings.resilience import BREAKER_NAMES

SECRET = "s" * 40


def load(**env: str) -> Settings:
    return load_settings(environ=env, env_file=None)


def test_defaults_match_the_documented_ports() -> None:
    s = load()
    assert (s.server.gateway_port, s.server.query_port, s.server.collections_port) == (8000, 8001, 8002)
    assert s.server.host == "127.0.0.1"
    assert s.server.data_dir == Path("data")
    assert s.qdrant_path == Path("data/qdrant")
    assert s.registry_path == Path("data/collections.json")
    assert (s.models.embedder, s.models.answerer) == ("local", "extractive")
    assert s == Settings()  # what the sections declare, and what code and tests get without reading


def test_values_are_read_and_typed() -> None:
    s = load(
        GATEWAY_PORT="9000",
        RAGPLANE_DATA_DIR="/tmp/x",
        INGEST_CONCURRENCY="4",
        LOG_LEVEL="debug",
        EMBEDDER_PROCESS="no",
    )
    assert load().models.embedder_process is True and s.models.embedder_process is False
    assert s.server.gateway_port == 9000
    assert s.server.data_dir == Path("/tmp/x")
    assert s.collections.ingest_concurrency == 4
    assert s.telemetry.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"GATEWAY_PORT": "abc"}, "GATEWAY_PORT"),
        ({"QUERY_PORT": "70000"}, "QUERY_PORT"),
        ({"INTER_SERVICE_SECRET": "short"}, "INTER_SERVICE_SECRET"),
        ({"OLLAMA_URL": "localhost:11434"}, "OLLAMA_URL"),
        ({"QDRANT_URLS": "http://a:6333,ftp://b"}, "QDRANT_URLS"),
        ({"EMBEDDER": "gpu"}, "EMBEDDER"),
        ({"INGEST_CONCURRENCY": "0"}, "INGEST_CONCURRENCY"),
        ({"GATEWAY_UPSTREAM_TIMEOUT_S": "-1"}, "GATEWAY_UPSTREAM_TIMEOUT_S"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"OLLAMA_LLM_MODEL": "  "}, "OLLAMA_LLM_MODEL"),
        ({"CHUNK_OVERLAP_CHARS": "900"}, "CHUNK_OVERLAP_CHARS"),
        ({"ANSWERER": "ollama"}, "OLLAMA_URL"),
        ({"DATABASE_URL": "mysql://root@db/x"}, "DATABASE_URL"),
        ({"DATABASE_MIGRATE_ON_START": "maybe"}, "DATABASE_MIGRATE_ON_START"),
        ({"EMBEDDER_PROCESS": "sometimes"}, "EMBEDDER_PROCESS"),
        ({"QUERY_LOG_BUFFER": "0"}, "QUERY_LOG_BUFFER"),
        ({"BACKUP_SCHEDULE": "every night"}, "BACKUP_SCHEDULE"),
        ({"BACKUP_SCHEDULE": "0 25 * * *"}, "BACKUP_SCHEDULE"),
        ({"BACKUP_RETENTION_DAYS": "0"}, "BACKUP_RETENTION_DAYS"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load(**env)


def test_backups_go_under_the_data_directory_daily_at_two_unless_told() -> None:
    s = load(RAGPLANE_DATA_DIR="/srv/rag")
    assert (s.backups, s.backup.backup_schedule, s.backup.backup_retention_days) == (
        Path("/srv/rag/backups"),
        "0 2 * * *",
        7,
    )
    s = load(BACKUP_DIR="/backups", BACKUP_SCHEDULE="off", BACKUP_RETENTION_DAYS="30")
    assert (s.backups, s.backup.backup_schedule, s.backup.backup_retention_days) == (Path("/backups"), None, 30)
    assert load(BACKUP_SCHEDULE="30 3 * * 1").backup.backup_schedule == "30 3 * * 1"


def test_ollama_url_switches_the_defaults_to_ollama() -> None:
    s = load(OLLAMA_URL="http://127.0.0.1:11434/").models
    assert s.ollama_url == "http://127.0.0.1:11434"
    assert (s.embedder, s.answerer) == ("ollama", "ollama")
    assert load(OLLAMA_URL="http://o:1", EMBEDDER="local").models.embedder == "local"


def test_qdrant_urls_accepts_a_list_or_the_singular_name() -> None:
    assert load(QDRANT_URLS="http://a:6333, http://b:6333").qdrant.urls == ("http://a:6333", "http://b:6333")
    assert load(QDRANT_URL="http://a:6333").qdrant.urls == ("http://a:6333",)


def test_rotation_accepts_both_secrets_current_first() -> None:
    s = load(INTER_SERVICE_SECRET=SECRET, INTER_SERVICE_SECRET_PREVIOUS="p" * 32)
    assert s.service_secrets == (SECRET, "p" * 32)
    assert load().service_secrets == ()


def test_upstream_url_prefers_an_explicit_url() -> None:
    s = load(QUERY_PORT="9001", COLLECTIONS_URL="http://collections:8002/")
    assert s.upstream_url("query") == "http://127.0.0.1:9001"
    assert s.upstream_url("collections") == "http://collections:8002"


def test_redacted_hides_secrets_only() -> None:
    shown = load(INTER_SERVICE_SECRET=SECRET, QDRANT_API_KEY="k", RAGPLANE_TOKEN="t").redacted()
    assert shown["server"]["inter_service_secret"] == REDACTED
    assert shown["server"]["token"] == REDACTED
    assert shown["qdrant"]["api_key"] == REDACTED
    assert shown["server"]["inter_service_secret_previous"] is None
    assert shown["server"]["gateway_port"] == 8000
    assert shown["server"]["data_dir"] == "data"
    assert shown["resilience"]["circuit_breakers"]["llm"]["recovery_s"] == 10.0
    assert SECRET not in str(shown)
    json.dumps(shown)  # served as is by /internal/config


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("GATEWAY_PORT=9100\nQUERY_PORT=9101\n")
    s = load_settings(environ={"QUERY_PORT": "9201"}, env_file=env).server
    assert (s.gateway_port, s.query_port) == (9100, 9201)
    assert load_settings(environ={}, env_file=tmp_path / "missing.env").server.gateway_port == 8000


def test_the_first_run_writes_each_missing_secret_once_and_never_overrides(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("GATEWAY_PORT=9000")  # no trailing newline
    assert ensure_env_secrets(env, environ={}) == ["INTER_SERVICE_SECRET", "JWT_SECRET"]
    content = env.read_text()
    assert content.startswith("GATEWAY_PORT=9000\nINTER_SERVICE_SECRET=")
    loaded = load_settings(environ={}, env_file=env)
    assert len(loaded.service_token or "") >= 32 and len(loaded.gateway.jwt_secret or "") >= 32
    assert env.stat().st_mode & 0o077 == 0
    assert ensure_env_secrets(env, environ={}) == []
    assert env.read_text() == content
    other = tmp_path / "other.env"
    assert ensure_env_secrets(other, environ={"INTER_SERVICE_SECRET": SECRET, "JWT_SECRET": SECRET}) == []
    assert not other.exists()
    assert ensure_env_secrets(other, environ={"INTER_SERVICE_SECRET": SECRET}) == ["JWT_SECRET"]


def test_no_jwt_secret_is_made_where_tokens_are_checked_with_public_keys(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("JWT_PUBLIC_KEYS=/etc/ragplane/issuer.pem\n")
    assert ensure_env_secrets(env, environ={}) == ["INTER_SERVICE_SECRET"]


def test_offline_model_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    prepare_offline_model_environment()
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_credentials_in_urls_are_redacted() -> None:
    shown = load(OLLAMA_URL="http://user:pw@ollama:11434", QDRANT_URLS="https://k@q1:6333,http://q2:6333").redacted()
    assert shown["models"]["ollama_url"] == "http://***@ollama:11434"
    assert shown["qdrant"]["urls"] == ["https://***@q1:6333", "http://q2:6333"]


def test_database_url_selects_postgres_and_its_password_is_never_shown() -> None:
    s = load(DATABASE_URL="postgresql://ragplane:s3cret@db:5432/ragplane")
    assert s.database.database_url == "postgresql://ragplane:s3cret@db:5432/ragplane"
    assert s.redacted()["database"]["database_url"] == "postgresql://***@db:5432/ragplane"
    assert load().database.database_url is None
    assert s.registry_snapshot_path != s.registry_path  # migrate-json's source is never overwritten


def test_two_services_cannot_share_a_port() -> None:
    with pytest.raises(SettingsError, match="QUERY_PORT=8000 is also GATEWAY_PORT"):
        load(QUERY_PORT="8000")
    assert load(GATEWAY_PORT="0", QUERY_PORT="0", COLLECTIONS_PORT="0").server.query_port == 0


def test_gateway_settings_are_read_and_checked(tmp_path: Path) -> None:
    key = tmp_path / "jwt.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n")
    g = load(
        RATE_LIMIT_PLANS="free:10, pro:50, team:500",
        CORS_ALLOWED_ORIGINS="https://a.example, http://localhost:3000/",
        JWT_PUBLIC_KEYS=str(key),
        QUERY_UPSTREAMS="http://a:8001,http://b:8001",
        GATEWAY_MAINTENANCE="true",
    ).gateway
    assert dict(g.plans) == {"free": 10, "pro": 50, "team": 500}
    assert g.cors_allowed_origins == ("https://a.example", "http://localhost:3000")
    assert g.jwt_public_keys == ("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n",)
    assert g.replicas("query") == ("http://a:8001", "http://b:8001") and g.maintenance
    assert load(JWT_SECRET="s" * 40).redacted()["gateway"]["jwt_secret"] == "***"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"RATE_LIMIT_PLANS": "free:0"}, "RATE_LIMIT_PLANS"),
        ({"RATE_LIMIT_PLANS": "pro:100"}, "RATE_LIMIT_DEFAULT_PLAN"),
        ({"CORS_ALLOWED_ORIGINS": "*", "CORS_ALLOW_CREDENTIALS": "true"}, "CORS_ALLOWED_ORIGINS"),
        ({"CORS_ALLOWED_ORIGINS": "example.com"}, "CORS_ALLOWED_ORIGINS"),
        ({"JWT_PUBLIC_KEYS": "/no/such/key.pem"}, "JWT_PUBLIC_KEYS"),
        ({"RATE_LIMIT_FAILURE_POLICY": "maybe"}, "RATE_LIMIT_FAILURE_POLICY"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET"),
    ],
)
def test_bad_gateway_settings_name_their_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load(**env)


@pytest.mark.parametrize(
    ("env", "name", "hidden"),
    [
        ({"JWT_SECRET": "short-hs256-secret"}, "JWT_SECRET", "short-hs256-secret"),
        ({"INTER_SERVICE_SECRET": "tiny-shared-secret"}, "INTER_SERVICE_SECRET", "tiny-shared-secret"),
        (
            {"INTER_SERVICE_SECRET_PREVIOUS": "old-shared-secret"},
            "INTER_SERVICE_SECRET_PREVIOUS",
            "old-shared-secret",
        ),
        ({"DATABASE_URL": "mysql://root:hunter2@db/x"}, "DATABASE_URL", "hunter2"),
        ({"REDIS_URL": "http://:hunter2@cache:6379"}, "REDIS_URL", "hunter2"),
        ({"QDRANT_URLS": "http://a:6333,ftp://u:hunter2@b"}, "QDRANT_URLS", "hunter2"),
        ({"DATABASE_URL": "app:hunter2@db/rag"}, "DATABASE_URL", "hunter2"),  # no scheme, so no netloc
        ({"REDIS_URL": "//:hunter2@cache@6379"}, "REDIS_URL", "hunter2"),
    ],
)
def test_errors_name_a_secret_but_never_show_it(env: dict[str, str], name: str, hidden: str) -> None:
    with pytest.raises(SettingsError, match=name) as caught:
        load(**env)
    assert hidden not in str(caught.value)


def test_errors_still_show_ordinary_values() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_PORT='abc' is not valid"):
        load(GATEWAY_PORT="abc")


def test_a_child_process_gets_this_environment_with_the_overrides_on_top(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERY_URL", "http://elsewhere:1")
    monkeypatch.setenv("RAGPLANE_HOST", "127.0.0.1")
    env = child_environment(QUERY_URL="http://127.0.0.1:2")
    assert env["QUERY_URL"] == "http://127.0.0.1:2" and env["RAGPLANE_HOST"] == "127.0.0.1"


def test_the_standard_opentelemetry_variables_are_read_and_checked() -> None:
    s = load(
        OTEL_SDK_DISABLED="true", OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0.1"
    ).telemetry
    assert (s.otel_sdk_disabled, s.otel_traces_sampler, s.otel_traces_sampler_arg) == (
        True,
        "parentbased_traceidratio",
        0.1,
    )
    assert (load().telemetry.otel_sdk_disabled, load().telemetry.otel_traces_sampler) == (
        False,
        "parentbased_always_on",
    )
    with pytest.raises(SettingsError, match="OTEL_TRACES_SAMPLER="):
        load(OTEL_TRACES_SAMPLER="sometimes")
    with pytest.raises(SettingsError, match="OTEL_TRACES_SAMPLER_ARG="):
        load(OTEL_TRACES_SAMPLER_ARG="1.5")


def test_the_qdrant_pool_settings_and_the_copies_a_new_collection_asks_for() -> None:
    assert load().qdrant.copies() is None  # the embedded engine
    assert load(QDRANT_URLS="http://a:6333").qdrant.copies() is None  # one server keeps its defaults
    three = load(QDRANT_URLS="http://a:6333,http://b:6333,http://c:6333", QDRANT_PROBE_INTERVAL_S="0.5")
    assert three.qdrant.copies() == (3, 2) and three.qdrant.probe_interval_s == 0.5
    two = load(QDRANT_URLS="http://a:6333,http://b:6333", QDRANT_WRITE_CONSISTENCY_FACTOR="3")
    assert two.qdrant.copies() == (2, 2)  # capped at the nodes listed
    with pytest.raises(SettingsError, match="QDRANT_WRITE_CONSISTENCY_FACTOR=4 cannot exceed"):
        load(QDRANT_WRITE_CONSISTENCY_FACTOR="4")
    with pytest.raises(SettingsError, match="QDRANT_TIMEOUT_S"):
        load(QDRANT_TIMEOUT_S="0")


def test_sections_built_in_code_never_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "9999")
    monkeypatch.setenv("CIRCUIT_BREAKER_RECOVERY_S", "99")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("QUERY_PORT=9998\n")
    assert ServerSettings().gateway_port == 8000 and Settings().server.query_port == 8001
    assert BreakerSettings().recovery_s == 10.0
    assert ServerSettings(gateway_port=9000).gateway_port == 9000  # by field name
    assert load_settings().server.gateway_port == 9999  # read: the environment, then ./.env
    assert load_settings().server.query_port == 9998


def test_every_bad_variable_is_reported_at_once_one_line_each() -> None:
    with pytest.raises(SettingsError) as caught:
        load(GATEWAY_PORT="abc", CACHE_TTL_S="0", JWT_SECRET="short", CIRCUIT_BREAKER_LLM_RECOVERY_S="-1")
    lines = str(caught.value).splitlines()
    assert [line.split(" ", 1)[0].split("=", 1)[0] for line in lines] == [
        "GATEWAY_PORT",
        "CIRCUIT_BREAKER_LLM_RECOVERY_S",
        "CACHE_TTL_S",
        "JWT_SECRET",
    ]
    assert lines[-1] == "JWT_SECRET is not valid: must be at least 32 characters (got 5)"


def test_one_breaker_changes_what_it_names_of_the_shared_settings() -> None:
    r = load(
        CIRCUIT_BREAKER_CALL_TIMEOUT_S="5",
        CIRCUIT_BREAKER_FAILURE_THRESHOLD="3",
        CIRCUIT_BREAKER_LLM_CALL_TIMEOUT_S="120",
        CIRCUIT_BREAKER_ENABLED="off",
    ).resilience
    assert r.circuit_breaker_defaults == BreakerSettings(failure_threshold=3, call_timeout_s=5, recovery_s=10)
    assert r.circuit_breakers["llm"] == BreakerSettings(failure_threshold=3, call_timeout_s=120, recovery_s=10)
    assert r.circuit_breakers["qdrant"] == r.circuit_breaker_defaults and not r.circuit_breaker_enabled
    assert set(r.circuit_breakers) == set(BREAKER_NAMES)


def test_a_blank_variable_is_unset_and_still_wins_over_the_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text('GATEWAY_PORT=9100\nRAGPLANE_HOST="0.0.0.0"\nLOG_LEVEL=\n')
    s = load_settings(environ={"GATEWAY_PORT": ""}, env_file=env)
    assert (s.server.gateway_port, s.server.host, s.telemetry.log_level) == (8000, "0.0.0.0", "INFO")


class Recording(Mapping[str, str]):
    """An environment that remembers what was asked of it, and refuses to be listed."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values, self.asked = values, set[str]()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self.values[key]

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return key in self.values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("the whole environment was read")

    def __len__(self) -> int:
        raise AssertionError("the whole environment was read")


def test_exactly_the_declared_variables_are_asked_for_by_name() -> None:
    environ = Recording({"host": "0.0.0.0", "GATEWAY_PORT": "9000"})
    s = load_settings(environ=environ, env_file=None)
    assert s.server.gateway_port == 9000 and s.server.host == "127.0.0.1"  # `host` is no variable of ours
    assert environ.asked == set(variables())
    assert len(variables()) == len(set(variables()))


def test_the_documented_names_are_the_variables() -> None:
    every = variables()
    for name in (
        "QDRANT_URLS",
        "QDRANT_URL",
        "JWT_PUBLIC_KEY",
        "OTEL_SDK_DISABLED",
        "CIRCUIT_BREAKER_CACHE_RECOVERY_S",
    ):
        assert name in every
    assert not [name for name in every if name != name.upper()]
