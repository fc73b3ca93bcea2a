"""The generated Kong config: no drift from the committed file, and the shape Kong 3.x accepts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from ragplane.ops.kong import DEFAULT_OUTPUT, export
from ragplane.services.gateway.kong import (
    ANONYMOUS,
    COMPOSE_TRACES,
    COMPOSE_UPSTREAMS,
    JWT_SECRET_PLACEHOLDER,
    REDIS_PASSWORD_REF,
    compose_text,
    kong_config,
    render,
)
from ragplane.services.gateway.routing import public_prefixes
from ragplane.settings import GatewaySettings, Settings

ROOT = Path(__file__).resolve().parents[4]
REGENERATE = "ragplane gateway export-kong"

# Config fields Kong 3.9 (the OSS image the stack runs) accepts, from the plugin schemas:
# https://github.com/Kong/kong/blob/3.9.3/kong/plugins/jwt/schema.lua
# https://github.com/Kong/kong/blob/3.9.3/kong/plugins/rate-limiting/schema.lua
# https://github.com/Kong/kong/blob/3.9.3/kong/tools/redis/schema.lua (rate-limiting's `redis` record)
# https://github.com/Kong/kong/blob/3.9.3/kong/plugins/cors/schema.lua
# https://github.com/Kong/kong/blob/3.9.3/kong/plugins/request-termination/schema.lua
# https://github.com/Kong/kong/blob/3.9.3/kong/plugins/prometheus/schema.lua
PLUGIN_FIELDS = {
    "opentelemetry": {"traces_endpoint", "resource_attributes", "propagation", "sampling_rate", "headers"},
    "jwt": {
        "uri_param_names",
        "cookie_names",
        "key_claim_name",
        "secret_is_base64",
        "claims_to_verify",
        "anonymous",
        "run_on_preflight",
        "maximum_expiration",
        "header_names",
        "realm",
    },
    "rate-limiting": {
        "second",
        "minute",
        "hour",
        "day",
        "month",
        "year",
        "limit_by",
        "header_name",
        "path",
        "policy",
        "fault_tolerant",
        "redis",
        "hide_client_headers",
        "error_code",
        "error_message",
        "sync_rate",
    },
    "cors": {
        "origins",
        "headers",
        "exposed_headers",
        "methods",
        "max_age",
        "credentials",
        "private_network",
        "preflight_continue",
    },
    "request-termination": {"status_code", "message", "content_type", "body", "echo", "trigger"},
    "prometheus": {
        "per_consumer",
        "status_code_metrics",
        "ai_metrics",
        "latency_metrics",
        "bandwidth_metrics",
        "upstream_health_metrics",
    },
}
REDIS_FIELDS = {"host", "port", "timeout", "username", "password", "database", "ssl", "ssl_verify", "server_name"}
# Entity fields, from https://github.com/Kong/kong/tree/3.9.3/kong/db/schema/entities (services.lua,
# routes.lua, consumers.lua, plugins.lua) and kong/plugins/jwt/daos.lua; nested entities by their DAO name.
ENTITY_FIELDS = {
    "service": {"name", "url", "protocol", "host", "port", "path", "retries", "connect_timeout", "write_timeout"}
    | {"read_timeout", "tags", "enabled", "tls_verify", "routes", "plugins"},
    "route": {"name", "protocols", "methods", "hosts", "paths", "headers", "strip_path", "preserve_host"}
    | {"regex_priority", "path_handling", "request_buffering", "response_buffering", "tags", "plugins"},
    "consumer": {"username", "custom_id", "tags", "jwt_secrets", "plugins"},
    "jwt_secret": {"key", "secret", "rsa_public_key", "algorithm", "tags"},
    "plugin": {"name", "instance_name", "config", "protocols", "enabled", "tags"},
}


def config(**changes: Any) -> dict[str, Any]:
    return kong_config(GatewaySettings(**changes), upstream_urls=COMPOSE_UPSTREAMS, redis_host="redis", redis_port=6379)


def all_plugins(cfg: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from cfg["plugins"]
    for service in cfg["services"]:
        yield from service.get("plugins", [])
        for route in service["routes"]:
            yield from route.get("plugins", [])
    for consumer in cfg["consumers"]:
        yield from consumer.get("plugins", [])


def consumer(cfg: dict[str, Any], username: str) -> dict[str, Any]:
    (found,) = [c for c in cfg["consumers"] if c["username"] == username]
    return found


def plugin(entity: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [p for p in entity["plugins"] if p["name"] == name]
    return found


def test_the_committed_file_is_what_the_code_generates() -> None:
    committed = (ROOT / DEFAULT_OUTPUT).read_text(encoding="utf-8")
    assert committed == compose_text(GatewaySettings()), (
        f"{DEFAULT_OUTPUT} is out of date with ragplane's routes and gateway settings; regenerate it from the "
        f"repository root with `{REGENERATE}` (default settings, no .env overrides) and commit the result"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {
            "plans": MappingProxyType({"free": 60, "pro": 600, "team": 6000}),
            "cors_allowed_origins": ("https://app.example.com", "http://localhost:5173"),
            "cors_allow_credentials": True,
            "maintenance": True,
            "maintenance_message": 'Upgrading "search" — back at 14:00\nThanks: on: yes',
        },
        {"require_auth": True, "rate_limit_enabled": False, "rate_limit_failure_policy": "fail_closed"},
    ],
)
def test_the_text_parses_back_to_the_config(changes: dict[str, Any]) -> None:
    cfg = config(**changes)
    text = render(cfg)
    assert text.startswith("# Generated by `ragplane gateway export-kong`")
    assert yaml.safe_load(text) == cfg
    assert render(config(**changes)) == text  # deterministic


def test_declarative_format_and_entities() -> None:
    cfg = config()
    assert cfg["_format_version"] == "3.0"
    assert set(cfg) == {"_format_version", "services", "consumers", "plugins"}
    for service in cfg["services"]:
        assert service["name"] and service["url"].startswith("http://")
        assert set(service) <= ENTITY_FIELDS["service"]
        for route in service["routes"]:
            assert set(route) <= ENTITY_FIELDS["route"]
            assert route["name"] and route["paths"]
            assert all(path.startswith("/") for path in route["paths"])
            assert route["strip_path"] is False
    names = [r["name"] for s in cfg["services"] for r in s["routes"]]
    assert len(names) == len(set(names))
    for entity in cfg["consumers"]:
        assert set(entity) <= ENTITY_FIELDS["consumer"]
        for credential in entity.get("jwt_secrets", []):
            assert set(credential) <= ENTITY_FIELDS["jwt_secret"]
    for entity in all_plugins(cfg):
        assert set(entity) <= ENTITY_FIELDS["plugin"]


@pytest.mark.parametrize("require_auth", [False, True])
def test_every_public_prefix_goes_to_its_service(require_auth: bool) -> None:
    cfg = config(require_auth=require_auth)
    routed: dict[str, list[tuple[str, str]]] = {}
    for service in cfg["services"]:
        assert service["url"] == COMPOSE_UPSTREAMS[service["name"]]
        for route in service["routes"]:
            for path in route["paths"]:
                routed.setdefault(path, []).append((service["name"], route["name"]))
    assert set(routed) == {prefix for prefix, _ in public_prefixes()}
    for prefix, upstream in public_prefixes():
        assert {service for service, _ in routed[prefix]} == {upstream}
        suffixes = sorted(name.rsplit("-", 1)[-1] for _, name in routed[prefix])
        assert suffixes == (["anonymous", "bearer"] if not require_auth else [prefix.rsplit("/", 1)[-1]])


def test_plugins_use_only_names_and_fields_kong_accepts() -> None:
    for changes in ({}, {"cors_allowed_origins": ("https://app.example.com",), "maintenance": True}):
        cfg = config(**changes)
        for entity in all_plugins(cfg):
            assert entity["name"] in PLUGIN_FIELDS
            assert set(entity["config"]) <= PLUGIN_FIELDS[entity["name"]], entity["name"]
            if entity["name"] == "rate-limiting":
                assert set(entity["config"]["redis"]) <= REDIS_FIELDS
        assert {p["name"] for p in cfg["plugins"]} == {"cors", "jwt", "prometheus", "request-termination"}


def test_the_compose_file_sends_kongs_spans_to_the_collector_in_w3c_format() -> None:
    cfg = yaml.safe_load(compose_text(GatewaySettings()))
    (otel,) = [p for p in cfg["plugins"] if p["name"] == "opentelemetry"]

    assert set(otel["config"]) <= PLUGIN_FIELDS["opentelemetry"]
    assert otel["config"]["traces_endpoint"] == COMPOSE_TRACES
    assert otel["config"]["propagation"] == {"default_format": "w3c", "extract": ["w3c"], "inject": ["w3c"]}
    assert "opentelemetry" not in {p["name"] for p in config()["plugins"]}  # only where a collector runs


def test_each_plan_is_a_consumer_with_its_limit_in_redis() -> None:
    plans = MappingProxyType({"free": 100, "pro": 1000, "team": 5000})
    cfg = config(plans=plans)
    databases = set()
    for name, limit in plans.items():
        entity = consumer(cfg, f"ragplane-plan-{name}")
        assert entity["jwt_secrets"] == [{"key": name, "algorithm": "HS256", "secret": JWT_SECRET_PLACEHOLDER}]
        limits = plugin(entity, "rate-limiting")
        assert limits["enabled"] is True
        assert limits["config"]["policy"] == "redis"
        assert limits["config"]["minute"] == limit
        assert limits["config"]["fault_tolerant"] is True  # fail open, the default policy
        assert limits["config"]["redis"]["host"] == "redis" and limits["config"]["redis"]["port"] == 6379
        databases.add(limits["config"]["redis"]["database"])
    anonymous = plugin(consumer(cfg, ANONYMOUS), "rate-limiting")["config"]
    assert anonymous["minute"] == plans["free"] and anonymous["limit_by"] == "ip"
    databases.add(anonymous["redis"]["database"])
    assert databases == {1, 2, 3, 4}  # one Redis database per counter; 0 stays ragplane's

    closed = config(rate_limit_failure_policy="fail_closed", rate_limit_enabled=False)
    for entity in closed["consumers"]:
        assert plugin(entity, "rate-limiting")["enabled"] is False
        assert plugin(entity, "rate-limiting")["config"]["fault_tolerant"] is False


def test_bad_tokens_get_401_and_only_requests_without_authorization_are_anonymous() -> None:
    cfg = config()
    strict = plugin(cfg, "jwt")["config"]
    assert "anonymous" not in strict
    assert strict["key_claim_name"] == "plan" and strict["claims_to_verify"] == ["exp"]
    assert strict["header_names"] == ["authorization"] and strict["uri_param_names"] == []
    usernames = {c["username"] for c in cfg["consumers"]}
    for route in (r for s in cfg["services"] for r in s["routes"]):
        if route["name"].endswith("-bearer"):
            assert route["headers"] == {"Authorization": ["~*."]} and "plugins" not in route
        else:
            assert "headers" not in route
            lenient = plugin(route, "jwt")["config"]
            assert lenient["anonymous"] in usernames and lenient == {**strict, "anonymous": ANONYMOUS}

    required = config(require_auth=True)
    assert ANONYMOUS not in {c["username"] for c in required["consumers"]}
    assert all("plugins" not in r and "headers" not in r for s in required["services"] for r in s["routes"])


def test_maintenance_is_there_and_off_unless_asked() -> None:
    off = plugin(config(), "request-termination")
    assert off["enabled"] is False
    on = plugin(
        config(maintenance=True, maintenance_message="back soon", maintenance_retry_after_s=120), "request-termination"
    )
    assert on["enabled"] is True and on["config"]["status_code"] == 503
    assert on["config"]["content_type"] == "application/problem+json"
    body = json.loads(on["config"]["body"])
    assert body["detail"] == "back soon" and body["status"] == 503 and body["maintenance"] is True
    assert body["retry_after"] == 120


def test_cors_follows_the_settings_and_is_off_without_origins() -> None:
    assert plugin(config(), "cors")["enabled"] is False  # Kong allows every origin for an empty list
    cors = plugin(config(cors_allowed_origins=("https://app.example.com",), cors_allow_credentials=True), "cors")
    assert cors["enabled"] is True
    assert cors["config"]["origins"] == ["https://app.example.com"]
    assert cors["config"]["credentials"] is True and cors["config"]["max_age"] == 600
    assert "Authorization" in cors["config"]["headers"] and "RateLimit-Remaining" in cors["config"]["exposed_headers"]


def test_no_secret_reaches_the_file() -> None:
    secret = "x" * 40
    text = render(config(jwt_secret=secret))
    assert secret not in text
    assert "JWT_SECRET=" not in text
    passwords = re.findall(r"password: (.*)", text)
    assert passwords and {yaml.safe_load(p) for p in passwords} == {REDIS_PASSWORD_REF}
    secrets = re.findall(r"secret: (.*)", text)
    assert secrets and {yaml.safe_load(s) for s in secrets} == {JWT_SECRET_PLACEHOLDER}
    # secret_is_base64: an unreplaced placeholder is not base64url, so Kong verifies no token with it
    assert not re.fullmatch(r"[A-Za-z0-9_-]*", JWT_SECRET_PLACEHOLDER)
    assert plugin(config(), "jwt")["config"]["secret_is_base64"] is True


def test_limits_of_the_generator() -> None:
    with pytest.raises(ValueError, match="no upstream URL for the query service"):
        kong_config(GatewaySettings(), upstream_urls={"collections": "http://c"}, redis_host="r", redis_port=1)
    many = MappingProxyType({f"plan{i}": 10 * (i + 1) for i in range(15)})
    with pytest.raises(ValueError, match="too many plans"):
        config(plans=many, default_plan="plan0")


def test_the_yaml_quotes_what_yaml_would_misread() -> None:
    data = {"on": "yes", "a key": ["1", 2, 1.5, None, True], "empty": {}, "none": [], "nested": [[{"k": "v"}]]}
    text = render(data)
    assert "'on': 'yes'" in text and "'1'" in text
    assert yaml.safe_load(text) == data


def test_check_exits_1_on_drift_and_0_when_clean(tmp_path: Path) -> None:
    path = tmp_path / "kong.yml"
    said: list[str] = []
    assert export(Settings(), path, check=True, say=said.append) == 1  # missing
    assert export(Settings(), path, check=False, say=said.append) == 0
    assert said[-1] == f"wrote {path}"
    assert path.read_text(encoding="utf-8") == compose_text(GatewaySettings())
    assert export(Settings(), path, check=True, say=said.append) == 0
    path.write_text(path.read_text(encoding="utf-8").replace("minute: 1000", "minute: 5000"), encoding="utf-8")
    assert export(Settings(), path, check=True, say=said.append) == 1
    assert said[-1] == f"{path} is out of date: run `ragplane gateway export-kong --output {path}`"
    assert export(Settings(), path, check=False, say=said.append) == 0
    assert export(Settings(), path, check=False, say=said.append) == 0
    assert said[-1] == f"unchanged {path}"


def test_a_settings_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ragplane import cli

    env = tmp_path / ".env"
    env.write_text("RATE_LIMIT_PLANS=free\n")
    assert cli.main(["--env-file", str(env), "gateway", "export-kong", "--check"]) == 2
    assert "configuration error: RATE_LIMIT_PLANS" in capsys.readouterr().err
