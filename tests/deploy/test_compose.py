"""docker-compose.yml against the repository and the code: paths, ports, variables, health and scraping.

Docker cannot run here, so each thing the stack takes on trust is checked instead: every file
it mounts exists, every variable it gives ragplane is one the settings read (and parses),
every address it wires up names a compose service on the port that service listens on, and
every dependency it waits for has a healthcheck to wait on.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from ragplane.ops import backups
from ragplane.settings import load_settings
from tests.qdrant_cluster import QdrantCluster

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy/prometheus/prometheus.yml"
ALERTMANAGER = ROOT / "deploy/alertmanager/alertmanager.yml"
RAGPLANE = ("gateway", "query", "collections")
# Variables the ragplane containers read that are not settings: the image's healthcheck target.
NOT_SETTINGS = {"HEALTH_URL"}
# What the third-party images listen on when not told otherwise (the compose file does not tell them).
IMAGE_PORTS = {
    "qdrant/qdrant": {6333, 6334, 6335},
    "timescale/timescaledb": {5432},
    "redis": {6379},
    "oliver006/redis_exporter": {9121},
    "ollama/ollama": {11434},
    "prom/prometheus": {9090},
    "prom/alertmanager": {9093},
    "grafana/grafana-oss": {3000},
    "otel/opentelemetry-collector-contrib": {4317, 4318},  # OTLP gRPC and HTTP (deploy/otel-collector)
    "jaegertracing/jaeger": {4317, 4318, 13133, 16686},  # OTLP, health, UI
}
# Images built `FROM scratch`: no shell or HTTP client to run a healthcheck with. Nothing may wait for them.
NO_HEALTHCHECK = {"otel-collector"}


class RecordingEnviron(Mapping[str, str]):
    """An environment that remembers every variable asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@cache
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def interpolated(value: object) -> str:
    """A compose value with every `${VAR...}` replaced by a stand-in, as a filled-in .env would."""
    return re.sub(r"\$\{[^}]+\}", "stand-in", str(value))


def env(name: str) -> dict[str, str]:
    return {k: interpolated(v) for k, v in services()[name].get("environment", {}).items()}


@cache
def ports() -> dict[str, set[int]]:
    """The container ports each compose service listens on."""
    defaults = load_settings(environ={"INTER_SERVICE_SECRET": secrets.token_urlsafe(40)}, env_file=None)
    out = {
        "gateway": {defaults.server.gateway_port},
        "query": {defaults.server.query_port},
        "collections": {defaults.server.collections_port},
        "backup": set(),  # the backup schedule listens on nothing: it calls the collections service
        "kong": {
            int(env("kong")[key].rsplit(":", 1)[1])
            for key in ("KONG_PROXY_LISTEN", "KONG_ADMIN_LISTEN", "KONG_STATUS_LISTEN")
        },
    }
    for name, service in services().items():
        if name not in out:
            image = service["image"].split(":")[0]
            assert image in IMAGE_PORTS, f"{name}: which ports does {image} listen on?"
            out[name] = IMAGE_PORTS[image]
    return out


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port, f"{url} names no host and port"
    return parts.hostname, parts.port


def assert_reaches_a_service(url: str, where: str) -> None:
    host, port = address(url)
    assert host in services(), f"{where}: {url} names no compose service"
    assert port in ports()[host], f"{where}: {host} does not listen on {port} ({url})"


def volumes(name: str) -> list[tuple[str, str]]:
    """(source, target) of a service's volumes, short or long syntax."""
    out = []
    for volume in services()[name].get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        out.append((source, target))
    return out


def mounted_at(name: str, source: str) -> PurePosixPath:
    """Where a service sees the repository path `source`."""
    targets = [target for s, target in volumes(name) if s == source]
    assert len(targets) == 1, f"{name} does not mount {source}"
    return PurePosixPath(targets[0])


def prometheus() -> dict[str, Any]:
    return dict(yaml.safe_load(PROMETHEUS.read_text()))


def scrape_targets(job: str) -> list[str]:
    config = next(j for j in prometheus()["scrape_configs"] if j["job_name"] == job)
    return [t for group in config["static_configs"] for t in group["targets"]]


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_every_mounted_repository_path_exists(name: str) -> None:
    declared = set(compose().get("volumes") or {})
    for source, _ in volumes(name):
        if source.startswith("./"):
            assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
        else:
            assert source in declared, f"{name} uses volume {source}, not declared under volumes:"


def test_every_declared_volume_is_used() -> None:
    used = {source for name in services() for source, _ in volumes(name)}
    assert set(compose()["volumes"]) <= used


def test_the_build_context_and_dockerfile_exist() -> None:
    for name in RAGPLANE:
        build = services()[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()


@pytest.mark.parametrize("name", RAGPLANE)
def test_ragplane_services_set_only_settings_that_load(name: str) -> None:
    environ = RecordingEnviron({**env(name), "INTER_SERVICE_SECRET": secrets.token_urlsafe(40)})
    settings = load_settings(environ=environ, env_file=None)
    unknown = set(env(name)) - environ.asked - NOT_SETTINGS
    assert not unknown, f"{name} sets variables ragplane does not read: {sorted(unknown)}"
    assert settings.server.host == "0.0.0.0"  # listening for the other containers
    assert services()[name]["command"] == ["serve", name]


@pytest.mark.parametrize("name", RAGPLANE)
def test_ragplane_ports_and_addresses_match_the_settings(name: str) -> None:
    (port,) = ports()[name]
    for published in services()[name].get("ports", []):
        assert int(str(published).rsplit(":", 1)[1]) == port, f"{name} publishes {published}, listens on {port}"
    health = address(env(name)["HEALTH_URL"])
    assert health == ("127.0.0.1", port)
    for key, value in env(name).items():
        for url in value.split(","):
            if re.match(r"^[a-z]+://", url) and key != "HEALTH_URL":
                assert_reaches_a_service(url, f"{name} {key}")


def test_kong_forwards_to_the_services_ports() -> None:
    config = yaml.safe_load((ROOT / "deploy/kong/kong.yml").read_text())
    urls = [service["url"] for service in config["services"]]
    assert {address(u)[0] for u in urls} == {"query", "collections"}
    for url in urls:
        assert_reaches_a_service(url, "deploy/kong/kong.yml")


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_every_service_has_a_healthcheck_on_its_own_port(name: str) -> None:
    if name in NO_HEALTHCHECK:
        assert not services()[name].get("healthcheck")
        assert not [other for other, s in services().items() if name in s.get("depends_on", {})]
        return
    check = services()[name].get("healthcheck")
    assert check and check.get("test"), f"{name} has no healthcheck"
    for url in re.findall(r"https?://[^\s'\"]+", " ".join(map(str, check["test"]))):
        host, port = address(url)
        assert host in {"localhost", "127.0.0.1"} and port in ports()[name], f"{name} healthcheck: {url}"


@pytest.mark.parametrize("name", sorted(compose()["services"]))
def test_dependencies_are_waited_for_until_healthy(name: str) -> None:
    depends = services()[name].get("depends_on", {})
    assert isinstance(depends, dict), f"{name}: depends_on without conditions starts too early"
    for target, how in depends.items():
        assert target in services(), f"{name} depends on unknown {target}"
        assert how == {"condition": "service_healthy"}, f"{name} → {target}: {how}"
        assert services()[target].get("healthcheck"), f"{name} waits for {target}, which has no healthcheck"


def test_prometheus_scrapes_every_service_where_it_listens() -> None:
    assert sorted(scrape_targets("ragplane")) == sorted(f"{n}:{min(ports()[n])}" for n in RAGPLANE)
    qdrant = sorted(n for n in services() if services()[n]["image"].startswith("qdrant/"))
    assert sorted(scrape_targets("qdrant")) == [f"{n}:6333" for n in qdrant]
    assert scrape_targets("redis") == ["redis-exporter:9121"]
    assert scrape_targets("kong") == [f"kong:{int(env('kong')['KONG_STATUS_LISTEN'].rsplit(':', 1)[1])}"]
    for job in prometheus()["scrape_configs"]:
        for target in scrape_targets(job["job_name"]):
            assert_reaches_a_service(f"http://{target}", f"prometheus job {job['job_name']}")


def test_prometheus_sends_alerts_to_the_alertmanager_service() -> None:
    (alertmanagers,) = prometheus()["alerting"]["alertmanagers"]
    targets = [t for group in alertmanagers["static_configs"] for t in group["targets"]]
    assert targets == ["alertmanager:9093"]
    assert_reaches_a_service("http://alertmanager:9093", "prometheus alerting")
    assert "127.0.0.1:9093:9093" in services()["alertmanager"]["ports"]


def test_prometheus_sees_its_config_and_the_generated_rules() -> None:
    assert mounted_at("prometheus", "./deploy/prometheus/prometheus.yml") == PurePosixPath(
        "/etc/prometheus/prometheus.yml"
    )
    (rules,) = prometheus()["rule_files"]
    assert PurePosixPath(rules).parent == mounted_at("prometheus", "./deploy/prometheus/rules")
    assert any(s == "prometheus" and t == "/prometheus" for s, t in volumes("prometheus")), "no data volume"
    assert services()["prometheus"]["depends_on"] == {"alertmanager": {"condition": "service_healthy"}}


def test_prometheus_reads_that_config_into_its_data_volume_and_stores_exemplars() -> None:
    flags = [flag.removeprefix("--").partition("=")[::2] for flag in services()["prometheus"]["command"]]
    values = dict(flags)
    assert PurePosixPath(values["config.file"]) == mounted_at("prometheus", "./deploy/prometheus/prometheus.yml")
    assert values["storage.tsdb.path"] == "/prometheus"
    features = {f for name, value in flags if name == "enable-feature" for f in value.split(",")}
    assert "exemplar-storage" in features  # trace ids on the latency buckets


def test_alertmanager_sees_its_config_and_every_secret_file() -> None:
    assert mounted_at("alertmanager", "./deploy/alertmanager/alertmanager.yml") == PurePosixPath(
        "/etc/alertmanager/alertmanager.yml"
    )
    secrets_dir = mounted_at("alertmanager", "./deploy/alertmanager/secrets")
    files = re.findall(r"_file:\s*(\S+)", ALERTMANAGER.read_text())
    assert files
    assert all(PurePosixPath(f).parent == secrets_dir for f in files), files
    assert any(s == "alertmanager" and t == "/alertmanager" for s, t in volumes("alertmanager")), "no data volume"


def test_redis_runs_with_the_persistence_the_tests_check() -> None:
    conf = mounted_at("redis", "./deploy/redis/redis.conf")
    assert services()["redis"]["command"] == ["redis-server", str(conf)]
    assert any(s == "redis" and t == "/data" for s, t in volumes("redis")), "no data volume"


def test_grafana_is_provisioned_from_the_generated_files() -> None:
    provisioning = ROOT / "deploy/grafana/provisioning"
    assert mounted_at("grafana", "./deploy/grafana/provisioning") == PurePosixPath("/etc/grafana/provisioning")
    dashboards = mounted_at("grafana", "./dashboards/generated")
    providers = [p for f in provisioning.glob("dashboards/*.yml") for p in yaml.safe_load(f.read_text())["providers"]]
    assert [PurePosixPath(p["options"]["path"]) for p in providers] == [dashboards]
    sources = [s for f in provisioning.glob("datasources/*.yml") for s in yaml.safe_load(f.read_text())["datasources"]]
    (source,) = [s for s in sources if s["type"] == "prometheus"]
    assert_reaches_a_service(source["url"], "the Grafana datasource")
    assert address(source["url"])[0] == "prometheus"
    assert source["jsonData"]["timeInterval"] == prometheus()["global"]["scrape_interval"]
    password = services()["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert password.startswith("${GRAFANA_ADMIN_PASSWORD:?"), "the admin password comes from .env"
    assert services()["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}


def test_every_part_of_the_stack_is_in_compose() -> None:
    stack = services()
    for name in RAGPLANE:
        assert stack[name]["command"] == ["serve", name]
    assert stack["kong"]["ports"] == ["8000:8000"]  # Kong is the public door of the full stack
    assert stack["gateway"]["ports"] == ["127.0.0.1:8080:8000"]
    parts = {"qdrant-1", "qdrant-2", "qdrant-3", "ollama", "prometheus", "alertmanager", "grafana", "redis", "postgres"}
    parts |= {"otel-collector", "jaeger"}
    assert parts <= set(stack)


def test_the_registry_runs_on_timescaledb_with_its_password_from_env() -> None:
    stack = services()
    assert stack["postgres"]["image"].startswith("timescale/timescaledb:")
    for name in ("query", "collections"):
        assert stack[name]["environment"]["DATABASE_URL"].startswith("postgresql://ragplane:${POSTGRES_PASSWORD")
    assert "${POSTGRES_PASSWORD" in stack["postgres"]["environment"]["POSTGRES_PASSWORD"]


def test_kong_runs_db_less_from_the_generated_file() -> None:
    kong = services()["kong"]
    assert kong["environment"]["KONG_DATABASE"] == "off"
    assert "./deploy/kong/kong.yml:/kong/kong.yml:ro" in kong["volumes"]


def test_the_qdrant_healthcheck_asks_readiness_and_fails_on_a_dead_node(tmp_path: Path) -> None:
    """The image has bash but no curl: the check speaks HTTP over /dev/tcp, tried here on a stand-in node."""
    script = compose()["x-qdrant"]["healthcheck"]["test"][-1]
    with QdrantCluster(tmp_path, nodes=1) as node:
        check = script.replace("6333", node.urls[0].rsplit(":", 1)[1])
        assert subprocess.run(["bash", "-c", check], timeout=10).returncode == 0
        node.kill(0)
        assert subprocess.run(["bash", "-c", check], capture_output=True, timeout=10).returncode != 0


def test_the_backup_service_keeps_the_schedule_and_its_health_check_reads_its_heartbeat() -> None:
    backup = services()["backup"]
    assert backup["command"] == ["backup", "--schedule"]
    assert f"/tmp/{backups.HEARTBEAT.name}" in " ".join(backup["healthcheck"]["test"])
    assert env("collections")["BACKUP_SCHEDULE"] == "off"  # one schedule, whatever the replicas
