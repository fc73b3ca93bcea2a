"""The stack's own view of a run: its /metrics read before and after, compared with Locust's.

A load test that the observability cannot see is a finding in itself: if the gateway counted
noticeably fewer (or more) API requests than Locust sent, dashboards and SLO alerts are
looking at something else than the traffic. So the harness reads the request histogram
(`ragplane_http_request_duration_seconds`, from the metric catalogue) of the gateway and the
query service before and after the run, and reports, per service, the API requests counted
in between and their p95, estimated from the histogram's buckets as Prometheus's
`histogram_quantile` does (so only as fine as the buckets). A gateway count more than 5 %
away from Locust's is flagged.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ragplane.telemetry import catalog

AGREEMENT = 0.05  # the largest |gateway - Locust| / Locust that still counts as agreeing
API_PREFIX = "/api/"


@dataclass(frozen=True)
class Scrape:
    """The few series the cross-check needs, from one /metrics page."""

    buckets: Mapping[str, Mapping[float, float]] = field(default_factory=dict)  # service → le → API requests
    cache: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (cache, hit | miss | error) → lookups
    version: str | None = None


def parse(text: str) -> Scrape:
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    cache: dict[tuple[str, str], float] = defaultdict(float)
    version = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == catalog.HTTP_REQUEST_DURATION.name + "_bucket":
                if labels.get("route", "").startswith(API_PREFIX):
                    buckets[labels["service"]][float(labels["le"])] += sample.value
            elif sample.name == catalog.CACHE_REQUESTS.name:
                cache[labels["cache"], labels["result"]] += sample.value
            elif sample.name == catalog.BUILD_INFO.name:
                version = labels.get("version")
    return Scrape({s: dict(b) for s, b in buckets.items()}, dict(cache), version)


def read(url: str, timeout: float = 10) -> Scrape:
    response = httpx.get(f"{url}/metrics", timeout=timeout)
    response.raise_for_status()
    return parse(response.text)


def quantile(q: float, cumulative: Mapping[float, float]) -> float | None:
    """`histogram_quantile(q, ...)` over cumulative bucket counts {le: count}; None without data."""
    bounds = sorted(cumulative)
    total = cumulative[bounds[-1]] if bounds else 0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = cumulative[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below) if count > below else bound
        lower, below = bound, count
    return lower


def served(before: Scrape, after: Scrape, service: str) -> dict[str, Any]:
    """API requests `service` counted between the scrapes, and their p95 in ms."""
    start, end = before.buckets.get(service, {}), after.buckets.get(service, {})
    delta = {le: end[le] - start.get(le, 0.0) for le in end}
    requests = delta.get(math.inf, 0.0)
    p95 = quantile(0.95, delta)
    return {"requests": round(requests), "p95_ms": round(p95 * 1000, 1) if p95 is not None else None}


def hit_ratios(before: Scrape, after: Scrape) -> dict[str, float | None]:
    """Per cache, the share of lookups between the scrapes that were hits."""
    out: dict[str, float | None] = {}
    for name in sorted({cache for cache, _ in after.cache}):
        hits, misses = (after.cache.get((name, r), 0.0) - before.cache.get((name, r), 0.0) for r in ("hit", "miss"))
        out[name] = round(hits / (hits + misses), 4) if hits + misses else None
    return out


def view(before: Mapping[str, Scrape], after: Mapping[str, Scrape], sent: int) -> dict[str, Any]:
    """The server's side of the summary: per service, the cache, and the gateway's agreement."""
    out: dict[str, Any] = {name: served(before[name], after[name], name) for name in after}
    if "query" in after:
        out["cache_hit_ratio"] = hit_ratios(before["query"], after["query"])
    counted = out.get("gateway", {}).get("requests")
    difference = (counted - sent) / sent if counted is not None and sent else None
    out["locust_requests"] = sent
    out["gateway_difference"] = round(difference, 4) if difference is not None else None
    out["agrees"] = difference is not None and abs(difference) <= AGREEMENT
    return out


def describe(server: Mapping[str, Any]) -> str:
    """One line per service and a verdict, for the terminal."""
    lines = []
    for name in ("gateway", "query"):
        if name in server:
            s = server[name]
            p95 = f"{s['p95_ms']:.0f} ms" if s["p95_ms"] is not None else "no data"
            lines.append(f"server view, {name}: {s['requests']} API requests counted, p95 {p95} (from its buckets)")
    ratios = [f"{name} {ratio:.0%}" for name, ratio in server.get("cache_hit_ratio", {}).items() if ratio is not None]
    if ratios:
        lines.append(f"server view, query service cache hit ratios: {', '.join(ratios)}")
    difference = server.get("gateway_difference")
    if difference is None:
        lines.append("server view: cannot compare (no gateway count or nothing sent)")
    else:
        verdict = "agrees" if server["agrees"] else f"FLAG: more than {AGREEMENT:.0%} apart"
        lines.append(
            f"server view: Locust sent {server['locust_requests']}, the gateway counted "
            f"{server['gateway']['requests']} ({difference:+.1%}): {verdict}"
        )
    return "\n".join(lines)
