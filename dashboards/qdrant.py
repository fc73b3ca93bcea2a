"""Qdrant Cluster Health: the vector store as ragplane sees it, and as Qdrant reports itself.

Two sources, on purpose. ragplane's node pool measures every call it makes to each Qdrant
node (`ragplane_qdrant_*`: status, errors, latency, failovers to another node), which is what
matters for users and works in both ways to run.
The Qdrant servers of the full stack also export their own `/metrics` (cluster peers,
pending consensus operations, REST failures); those panels stay empty in the embedded
stack, which runs Qdrant in local mode.
"""

from __future__ import annotations

from ragplane.telemetry import catalog as c
from ragplane.telemetry.promql import aggregate, external

from .common import (
    BREAKER_OPEN,
    BREAKER_STATES,
    BYTES,
    COUNT,
    RATIO,
    REQUESTS_PER_SECOND,
    SECONDS,
    STATE,
    UP_DOWN,
    Query,
    Section,
    build,
    stat,
    table,
    timeseries,
)
from .expr import quantile, rate_by, rate_ratio, sel

UID = "ragplane-qdrant"
# Prometheus' job scraping the Qdrant servers themselves (deploy/prometheus/prometheus.yml).
QDRANT_JOB = {"job": "qdrant"}

nodes = Section(
    "Node pool (ragplane's calls to each Qdrant node)",
    [
        stat(
            "Node status",
            "Whether each Qdrant node answered ragplane's last call or readiness probe (min across callers: a "
            "node any service cannot reach shows down, and gets no calls until its probe answers). "
            "RagplaneQdrantNodeDown warns after 2 minutes down.",
            STATE,
            Query(aggregate(["node"], sel(c.QDRANT_NODE_UP), "min"), "{{node}}"),
            width=12,
            mappings=UP_DOWN,
        ),
        stat(
            "Qdrant breaker",
            "State of each service's qdrant circuit breaker; open means its calls fail fast (searches with "
            "503, ingestion jobs fail). RagplaneCircuitBreakerOpen fires while it is open and refusing calls.",
            STATE,
            Query(aggregate(["service"], sel(c.CIRCUIT_BREAKER_STATE, breaker="qdrant"), "max"), "{{service}}"),
            alert=BREAKER_OPEN,
            width=12,
            mappings=BREAKER_STATES,
        ),
        timeseries(
            "Request errors per node",
            "Failed calls per second to each node (unreachable, timeout, 5xx).",
            REQUESTS_PER_SECOND,
            Query(rate_by(["node"], sel(c.QDRANT_REQUESTS, result="error")), "{{node}}"),
            width=8,
        ),
        timeseries(
            "Error ratio per node",
            "Share of calls to each node that failed.",
            RATIO,
            Query(rate_ratio(sel(c.QDRANT_REQUESTS, result="error"), sel(c.QDRANT_REQUESTS), ["node"]), "{{node}}"),
            width=8,
        ),
        timeseries(
            "p95 latency per node",
            "p95 time of one call to each node.",
            SECONDS,
            Query(quantile(0.95, c.QDRANT_REQUEST_DURATION, ["node"]), "{{node}}"),
            width=8,
        ),
        timeseries(
            "Failovers per node",
            "Calls per second that got no answer from a node and were tried again on another node of the "
            "pool: each one is a request that a single-node setup would have failed.",
            REQUESTS_PER_SECOND,
            Query(rate_by(["node"], sel(c.QDRANT_FAILOVERS)), "{{node}}"),
            width=12,
        ),
        timeseries(
            "Qdrant dependency errors by kind",
            "Failed Qdrant calls as the breaker counts them (after any failover), by service and kind "
            "(timeout, unreachable, server_error, circuit_open ...).",
            REQUESTS_PER_SECOND,
            Query(rate_by(["service", "kind"], sel(c.DEPENDENCY_ERRORS, dependency="qdrant")), "{{service}} {{kind}}"),
            width=12,
        ),
    ],
)

collections = Section(
    "Collections",
    [
        timeseries(
            "Vectors per collection",
            "Vectors (chunks) stored in Qdrant per collection.",
            COUNT,
            Query(aggregate(["collection"], sel(c.COLLECTION_VECTORS), "max"), "{{collection}}"),
            width=8,
        ),
        timeseries(
            "Storage per collection",
            "Bytes each collection takes on disk (reported in Qdrant local mode; a Qdrant server reports "
            "its own, below).",
            BYTES,
            Query(aggregate(["collection"], sel(c.COLLECTION_STORAGE), "max"), "{{collection}}"),
            width=8,
        ),
        timeseries(
            "Vector search p95 per collection",
            "p95 time of one nearest-neighbour search per collection.",
            SECONDS,
            Query(quantile(0.95, c.VECTOR_SEARCH_DURATION, ["collection"]), "{{collection}}"),
            width=8,
        ),
    ],
)

qdrant_own = Section(
    "Qdrant's own /metrics (full stack)",
    [
        table(
            "Qdrant servers",
            "Each Qdrant server Prometheus scrapes, with its version.",
            STATE,
            Query(aggregate(["instance", "name", "version"], external("app_info", **QDRANT_JOB), "max")),
            width=8,
        ),
        stat(
            "Cluster peers",
            "Peers each Qdrant server sees in its cluster (3 in the compose cluster).",
            COUNT,
            Query(aggregate(["instance"], external("cluster_peers_total", **QDRANT_JOB), "max"), "{{instance}}"),
            width=8,
        ),
        stat(
            "Collections (Qdrant)",
            "Collections each Qdrant server holds.",
            COUNT,
            Query(aggregate(["instance"], external("collections_total", **QDRANT_JOB), "max"), "{{instance}}"),
            width=8,
        ),
        timeseries(
            "Pending cluster operations",
            "Raft operations each server has not applied yet; a growing number means consensus is stuck "
            "(a peer down or partitioned). ragplane's failovers are in the node pool row above.",
            COUNT,
            Query(
                aggregate(["instance"], external("cluster_pending_operations_total", **QDRANT_JOB), "max"),
                "{{instance}}",
            ),
            width=8,
        ),
        timeseries(
            "Vectors (Qdrant's count)",
            "Vectors each server stores across its collections (replicas counted on every server holding one).",
            COUNT,
            Query(aggregate(["instance"], external("collections_vector_total", **QDRANT_JOB), "max"), "{{instance}}"),
            width=8,
        ),
        timeseries(
            "REST failure ratio",
            "Share of REST requests each Qdrant server answered with an error.",
            RATIO,
            Query(
                rate_ratio(
                    external("rest_responses_fail_total", **QDRANT_JOB),
                    external("rest_responses_total", **QDRANT_JOB),
                    ["instance"],
                ),
                "{{instance}}",
            ),
            width=8,
        ),
    ],
    description=(
        "Scraped from the Qdrant servers themselves; empty in the embedded stack (Qdrant local mode). "
        "Cluster peers and pending operations show a node lost from the cluster's side."
    ),
)

dashboard = build(
    UID,
    "Qdrant Cluster Health",
    "Qdrant nodes as ragplane's node pool sees them (status, failovers, errors, latency), collections' vectors and "
    "storage, and the Qdrant servers' own metrics.",
    [nodes, collections, qdrant_own],
)
