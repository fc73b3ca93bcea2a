"""The compose stack and its configs stay consistent with the code (Docker cannot run here)."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = set(re.findall(r'read\(\s*"([A-Z_]+)"', (ROOT / "platform/ragplane/settings.py").read_text())) | {
    "QDRANT_URLS"
}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_of_ragplane_is_in_compose() -> None:
    services = compose()["services"]
    for name in ("gateway", "query", "collections"):
        assert services[name]["command"] == ["serve", name]
    assert services["kong"]["ports"] == ["8000:8000"]  # Kong is the public door of the full stack
    assert services["gateway"]["ports"] == ["127.0.0.1:8080:8000"]
    assert {"qdrant-1", "qdrant-2", "qdrant-3", "ollama", "prometheus", "redis"} <= set(services)


def test_compose_only_sets_known_settings() -> None:
    for name in ("gateway", "query", "collections"):
        env = compose()["services"][name]["environment"]
        unknown = set(env) - SETTINGS - {"HEALTH_URL"}
        assert not unknown, f"{name} sets variables ragplane does not read: {unknown}"


def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    assert targets == {"gateway:8000", "query:8001", "collections:8002", "kong:8100"}


def test_the_registry_runs_on_timescaledb_with_its_password_from_env() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"].startswith("timescale/timescaledb:")
    for name in ("query", "collections"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://ragplane:${POSTGRES_PASSWORD")
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert "${POSTGRES_PASSWORD" in services["postgres"]["environment"]["POSTGRES_PASSWORD"]


def test_kong_runs_db_less_from_the_generated_file() -> None:
    kong = compose()["services"]["kong"]
    assert kong["environment"]["KONG_DATABASE"] == "off"
    assert "./deploy/kong/kong.yml:/kong/kong.yml:ro" in kong["volumes"]
    assert (ROOT / "deploy/kong/kong.yml").is_file()
