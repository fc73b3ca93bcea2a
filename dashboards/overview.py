"""RAG Services Overview: is ragplane up, busy, failing, and what does it hold?

The first dashboard on-call opens. Traffic panels leave out Prometheus scrapes and
health probes (`INFRA_ROUTES`), so request and error rates are what clients cause.
Gauges that several replicas of one service report (collections, ingestion jobs) are
combined with `max`, not `sum`, because each replica reports the same registry.
"""

from __future__ import annotations

from ragplane.telemetry import catalog as c
from ragplane.telemetry.promql import INFRA_ROUTES, aggregate, external

from .common import (
    BREAKER_OPEN,
    BREAKER_STATES,
    COUNT,
    HIGH_ERROR_RATE,
    RATIO,
    REGISTRY_FALLBACK,
    REQUESTS_PER_SECOND,
    SERVICE_DOWN,
    STATE,
    UP_DOWN,
    Query,
    Section,
    build,
    stat,
    table,
    timeseries,
)
from .expr import cache_hit_ratio, rate_by, rate_ratio, sel

API_TRAFFIC = {"route": f"!~{INFRA_ROUTES}"}
UID = "ragplane-overview"


def _per_collection(spec: c.Metric) -> str:
    return aggregate(["collection"], sel(spec), "max")


content = Section(
    "Content",
    [
        stat(
            "Collections",
            "Collections that exist now (one `ragplane_collection_documents` series each).",
            COUNT,
            Query(aggregate([], _per_collection(c.COLLECTION_DOCUMENTS), "count")),
        ),
        stat(
            "Documents",
            "Documents across the selected collections.",
            COUNT,
            Query(aggregate([], _per_collection(c.COLLECTION_DOCUMENTS))),
        ),
        stat(
            "Chunks (vectors)",
            "Chunks embedded and stored as vectors in Qdrant, across the selected collections.",
            COUNT,
            Query(aggregate([], _per_collection(c.COLLECTION_VECTORS))),
        ),
        stat(
            "API requests/s",
            "Requests per second handled by the selected services, scrapes and health probes excluded.",
            REQUESTS_PER_SECOND,
            Query(rate_by([], sel(c.HTTP_REQUESTS, **API_TRAFFIC))),
        ),
    ],
)

traffic = Section(
    "Traffic and errors",
    [
        timeseries(
            "Request rate per service",
            "HTTP requests per second by service (scrapes and health probes excluded).",
            REQUESTS_PER_SECOND,
            Query(rate_by(["service"], sel(c.HTTP_REQUESTS, **API_TRAFFIC)), "{{service}}"),
        ),
        timeseries(
            "5xx error ratio per service",
            "Share of requests answered with a 5xx status, by service: the condition of RagplaneHighErrorRate.",
            RATIO,
            Query(
                rate_ratio(
                    sel(c.HTTP_REQUESTS, status="~5..", **API_TRAFFIC),
                    sel(c.HTTP_REQUESTS, **API_TRAFFIC),
                    ["service"],
                ),
                "{{service}}",
            ),
            alert=HIGH_ERROR_RATE,
        ),
        timeseries(
            "API version usage",
            "API requests per second by version: v1, legacy (unversioned, deprecated) and v2. "
            "Legacy traffic should fall to zero before the legacy routes go.",
            REQUESTS_PER_SECOND,
            Query(rate_by(["version"], sel(c.API_REQUESTS)), "{{version}}"),
            stacking={"mode": "normal", "group": "A"},
            fillOpacity=20,
        ),
        timeseries(
            "Auth failures",
            "Rejected credentials per second: end-user tokens at the gateway (invalid, expired, missing) "
            "and inter-service tokens at each service (missing, invalid; these mean a misconfigured caller).",
            REQUESTS_PER_SECOND,
            Query(
                rate_by(["result"], sel(c.GATEWAY_AUTH, result="~invalid|expired|missing")),
                "gateway {{result}}",
            ),
            Query(
                rate_by(["service", "result"], sel(c.SERVICE_AUTH, result="~missing|invalid")),
                "service token {{service}} {{result}}",
            ),
        ),
    ],
)

health = Section(
    "Health",
    [
        stat(
            "Scrape targets up",
            "1 when Prometheus' last scrape of the service instance succeeded. RagplaneServiceDown pages when "
            "every instance of a service is 0; RagplaneInstanceDown (a ticket) when some are.",
            STATE,
            Query(
                aggregate(
                    ["service", "instance"],
                    external("up", job="ragplane", service="~$service", instance="~$instance"),
                    "min",
                ),
                "{{service}} {{instance}}",
            ),
            alert=SERVICE_DOWN,
            width=8,
            mappings=UP_DOWN,
        ),
        stat(
            "Circuit breakers",
            "Each breaker's state (closed, half-open, open). RagplaneCircuitBreakerOpen fires while one is open "
            "and refusing calls: a page for the query service's embedder and qdrant, a ticket for the others.",
            STATE,
            Query(aggregate(["service", "breaker"], sel(c.CIRCUIT_BREAKER_STATE), "max"), "{{service}} {{breaker}}"),
            alert=BREAKER_OPEN,
            width=16,
            mappings=BREAKER_STATES,
        ),
        timeseries(
            "Cache hit ratio",
            "Share of cache lookups that hit, by cache (errors count as lookups that did not hit).",
            RATIO,
            Query(cache_hit_ratio(), "{{cache}}"),
            width=8,
        ),
        timeseries(
            "Ingestion jobs by state",
            "Jobs in the registry: queued and running now, completed and failed in the last 24 hours.",
            COUNT,
            Query(aggregate(["state"], sel(c.INGESTION_JOBS), "max"), "{{state}}"),
            width=8,
        ),
        timeseries(
            "Registry backend",
            "1 for the backend serving registry reads (postgres, or json), and the times the registry lost "
            "PostgreSQL and fell back to its JSON snapshot: RagplaneRegistryFallbackActive fires while json "
            "serves after a fallback. Without DATABASE_URL the JSON file is the registry and json=1 is normal.",
            STATE,
            Query(aggregate(["backend"], sel(c.REGISTRY_BACKEND), "max"), "{{backend}}"),
            Query(aggregate(["instance"], sel(c.REGISTRY_FALLBACK), "max"), "fallbacks {{instance}}"),
            alert=REGISTRY_FALLBACK,
            width=8,
        ),
        table(
            "Running versions",
            "The ragplane version each service instance runs.",
            STATE,
            Query(aggregate(["service", "instance", "version"], sel(c.BUILD_INFO), "max")),
            width=24,
        ),
    ],
)

dashboard = build(
    UID,
    "RAG Services Overview",
    "ragplane at a glance: content, traffic, errors, breakers, caches, ingestion and auth.",
    [content, traffic, health],
)
