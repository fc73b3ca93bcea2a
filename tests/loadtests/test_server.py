"""The server's view: /metrics parsed, histogram quantiles, agreement with Locust."""

from __future__ import annotations

import math

import pytest

from loadtests import server
from ragplane.telemetry import catalog

DURATION = catalog.HTTP_REQUEST_DURATION.name


def page(service: str, buckets: dict[str, float], hits: float = 0, misses: float = 0, health: float = 0) -> str:
    lines = [f"# TYPE {DURATION} histogram"]
    for route, scale in (("/api/v1/rag/search", 1.0), ("/health", health)):
        for le, count in buckets.items():
            value = count * scale
            lines.append(f'{DURATION}_bucket{{le="{le}",method="GET",route="{route}",service="{service}"}} {value}')
        lines.append(f'{DURATION}_count{{method="GET",route="{route}",service="{service}"}} {buckets["+Inf"] * scale}')
        lines.append(f'{DURATION}_sum{{method="GET",route="{route}",service="{service}"}} 1.0')
    lines.append(f"# TYPE {catalog.CACHE_REQUESTS.name} counter")
    lines.append(f'{catalog.CACHE_REQUESTS.name}{{cache="search_results",result="hit"}} {hits}')
    lines.append(f'{catalog.CACHE_REQUESTS.name}{{cache="search_results",result="miss"}} {misses}')
    lines.append(f"# TYPE {catalog.BUILD_INFO.name} gauge")
    lines.append(f'{catalog.BUILD_INFO.name}{{service="{service}",version="9.9.9"}} 1.0')
    return "\n".join(lines) + "\n"


def test_parse_keeps_api_routes_the_cache_and_the_version() -> None:
    scrape = server.parse(page("gateway", {"0.1": 5, "0.5": 9, "+Inf": 10}, hits=3, misses=1, health=7))
    assert scrape.buckets == {"gateway": {0.1: 5, 0.5: 9, math.inf: 10}}  # /health left out
    assert scrape.cache == {("search_results", "hit"): 3, ("search_results", "miss"): 1}
    assert scrape.version == "9.9.9"


def test_quantile_interpolates_like_prometheus() -> None:
    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0}
    assert server.quantile(0.5, buckets) == pytest.approx(0.1)
    assert server.quantile(0.95, buckets) == pytest.approx(0.75)
    assert server.quantile(0.25, buckets) == pytest.approx(0.05)
    assert server.quantile(0.99, {0.1: 1.0, math.inf: 2.0}) == 0.1  # in +Inf: the largest finite bound
    assert server.quantile(0.5, {math.inf: 0.0}) is None


def test_view_counts_what_happened_between_the_scrapes_and_checks_agreement() -> None:
    before = {"gateway": server.parse(page("gateway", {"0.1": 10, "0.5": 10, "+Inf": 10}))}
    after = {"gateway": server.parse(page("gateway", {"0.1": 60, "0.5": 110, "+Inf": 110}, hits=30, misses=10))}
    before["query"] = server.parse(page("query", {"0.1": 0, "0.5": 0, "+Inf": 0}))
    after["query"] = server.parse(page("query", {"0.1": 50, "0.5": 100, "+Inf": 100}, hits=30, misses=10))
    view = server.view(before, after, sent=104)
    assert view["gateway"] == {"requests": 100, "p95_ms": 460.0}
    assert view["cache_hit_ratio"] == {"search_results": 0.75}
    assert view["gateway_difference"] == pytest.approx(-0.0385, abs=1e-4)
    assert view["agrees"] is True
    assert server.view(before, after, sent=106)["agrees"] is False
    text = server.describe(server.view(before, after, sent=106))
    assert "gateway: 100 API requests counted, p95 460 ms" in text
    assert "Locust sent 106, the gateway counted 100 (-5.7%): FLAG" in text
    assert "search_results 75%" in text
