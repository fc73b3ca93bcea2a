"""The compose stack's trace path, checked on the files: services → OpenTelemetry Collector (tail
sampling) → Jaeger ← Grafana's `traces` datasource, where the Prometheus exemplars point."""

from __future__ import annotations

from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from ragplane.telemetry.promql import SLOW_QUERY_SECONDS
from tests.deploy.test_compose import RAGPLANE, assert_reaches_a_service, env, mounted_at, services

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR = ROOT / "deploy/otel-collector/config.yaml"
DATASOURCES = ROOT / "deploy/grafana/provisioning/datasources"
KINDS = ("receivers", "processors", "exporters")


@cache
def collector() -> dict[str, Any]:
    return dict(yaml.safe_load(COLLECTOR.read_text()))


def pipeline() -> dict[str, list[str]]:
    (traces,) = collector()["service"]["pipelines"].values()
    return dict(traces)


def policies() -> dict[str, dict[str, Any]]:
    return {p["type"]: p for p in collector()["processors"]["tail_sampling"]["policies"]}


def datasources() -> list[dict[str, Any]]:
    return [s for f in sorted(DATASOURCES.glob("*.yml")) for s in yaml.safe_load(f.read_text())["datasources"]]


def test_the_collector_runs_the_mounted_config() -> None:
    collector_service = services()["otel-collector"]
    assert collector_service["image"].startswith("otel/opentelemetry-collector-contrib:")  # has tail_sampling
    (flag,) = collector_service["command"]
    assert PurePosixPath(flag.removeprefix("--config=")) == mounted_at(
        "otel-collector", "./deploy/otel-collector/config.yaml"
    )


@pytest.mark.parametrize("name", RAGPLANE)
def test_the_services_send_their_spans_to_the_collectors_otlp_http_receiver(name: str) -> None:
    endpoint = env(name)["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert_reaches_a_service(endpoint, f"{name} OTEL_EXPORTER_OTLP_ENDPOINT")
    parts = urlsplit(endpoint)
    assert parts.hostname == "otel-collector"
    receiver = collector()["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert receiver == f"0.0.0.0:{parts.port}"  # listening for the other containers, where they send
    assert "otel-collector" not in services()[name].get("depends_on", {})  # spans are best effort


def test_the_pipeline_names_only_components_the_config_defines_and_uses_them_all() -> None:
    (name,) = collector()["service"]["pipelines"]
    assert name == "traces"
    for kind in KINDS:
        named, defined = pipeline()[kind], set(collector()[kind])
        assert named and set(named) <= defined, f"{kind}: {named} names what {sorted(defined)} lacks"
        assert defined <= set(named), f"{kind}: {sorted(defined - set(named))} defined but unused"
    for extension in collector()["service"].get("extensions", []):
        assert extension in collector().get("extensions", {})
    steps = pipeline()["processors"]
    assert steps[0] == "memory_limiter" and steps[-1] == "batch"  # guard first; batch what was kept
    assert "tail_sampling" in steps


def test_tail_sampling_keeps_errors_slow_traces_and_a_share_of_the_rest() -> None:
    assert set(policies()) == {"status_code", "latency", "probabilistic"}
    assert policies()["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    latency = policies()["latency"]["latency"]
    assert latency == {"threshold_ms": SLOW_QUERY_SECONDS * 1000}  # the alerts' and dashboards' slow query
    share = policies()["probabilistic"]["probabilistic"]["sampling_percentage"]
    assert 0 < share < 100
    guide = (ROOT / "docs/observability.md").read_text()
    assert f"{share:g} %" in guide and f"{SLOW_QUERY_SECONDS:g} s" in guide


def test_the_collector_exports_to_jaeger_once_it_is_healthy() -> None:
    for exporter in pipeline()["exporters"]:
        endpoint = collector()["exporters"][exporter]["endpoint"]
        assert_reaches_a_service(f"http://{endpoint}", f"collector exporter {exporter}")
        assert endpoint.split(":")[0] == "jaeger"
    assert services()["otel-collector"]["depends_on"] == {"jaeger": {"condition": "service_healthy"}}
    assert services()["jaeger"]["image"].startswith("jaegertracing/jaeger:")
    assert services()["jaeger"]["ports"] == ["127.0.0.1:16686:16686"]  # no authentication: loopback only


def test_grafana_has_the_trace_datasource_the_exemplars_point_at() -> None:
    (traces,) = [s for s in datasources() if s["type"] == "jaeger"]
    assert traces["uid"] == "traces"
    assert_reaches_a_service(traces["url"], "the Grafana trace datasource")
    assert urlsplit(traces["url"]).hostname == "jaeger"
    uids = [s["uid"] for s in datasources()]
    assert len(uids) == len(set(uids))
    destinations = [d for s in datasources() for d in (s.get("jsonData") or {}).get("exemplarTraceIdDestinations", [])]
    for destination in destinations:
        assert destination["datasourceUid"] == traces["uid"], destination


def test_kong_records_spans_for_its_opentelemetry_plugin_and_sends_them_to_the_collector() -> None:
    kong = yaml.safe_load((ROOT / "deploy/kong/kong.yml").read_text())
    (otel,) = [p for p in kong["plugins"] if p["name"] == "opentelemetry"]
    endpoint = otel["config"]["traces_endpoint"]
    assert_reaches_a_service(endpoint, "kong.yml opentelemetry traces_endpoint")
    parts = urlsplit(endpoint)
    assert (parts.hostname, parts.path) == ("otel-collector", "/v1/traces")
    assert collector()["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == f"0.0.0.0:{parts.port}"
    settings = env("kong")
    assert settings["KONG_TRACING_INSTRUMENTATIONS"] == "all"  # without it the plugin has no spans to send
    assert float(settings["KONG_TRACING_SAMPLING_RATE"]) == 1.0  # the collector's tail sampling decides
