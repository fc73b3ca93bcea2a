"""Every metric ragplane exports: name, type, help, labels and buckets.

This module is the single source of truth. Services create their metrics from these
specs (through `ragplane.telemetry.metrics.ServiceMetrics`), and the dashboard and alert
generators import the same specs, so a panel or rule that names a metric missing here
fails the build instead of rendering an empty graph.

Conventions (Prometheus): `ragplane_<subsystem>_<name>_<unit>`, base units, counters end
in `_total`, labels are low-cardinality (a route *template*, never a raw path). Labels
whose values are known up front list them in `known`, so their series exist at 0 from
start and `rate()` works before the first event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class Metric:
    """The declaration of one metric family."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None
    known: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}), hash=False)


# Latency buckets for request-level SLOs: 5 ms .. 10 s with the 0.5 s and 1 s edges alerts cut at.
REQUEST_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Dependency calls are faster and finer-grained: 1 ms .. 5 s.
DEPENDENCY_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Generation and ingestion can take long: 50 ms .. 2 min.
SLOW_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
RESULT_COUNTS = (0, 1, 2, 3, 5, 10, 20, 50)

API_VERSIONS = ("v1", "legacy", "v2")
SERVICE_AUTH_RESULTS = ("ok", "missing", "invalid")
INGESTION_RESULTS = ("ingested", "skipped", "failed")


def _known(**values: tuple[str, ...]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType(values)


# --- every service -------------------------------------------------------------------

BUILD_INFO = Metric(
    "ragplane_build_info", Kind.GAUGE, "Always 1; labels carry the running service and version.", ("service", "version")
)
HTTP_REQUESTS = Metric(
    "ragplane_http_requests_total",
    Kind.COUNTER,
    "HTTP requests handled, by route template, method and status code.",
    ("service", "route", "method", "status"),
)
HTTP_REQUEST_DURATION = Metric(
    "ragplane_http_request_duration_seconds",
    Kind.HISTOGRAM,
    "Time from request start to the last response byte, by route template.",
    ("service", "route", "method"),
    buckets=REQUEST_SECONDS,
)
HTTP_REQUESTS_IN_PROGRESS = Metric(
    "ragplane_http_requests_in_progress", Kind.GAUGE, "HTTP requests being handled right now.", ("service",)
)
API_REQUESTS = Metric(
    "ragplane_api_requests_total",
    Kind.COUNTER,
    "API requests by version: v1, legacy (unversioned, deprecated) or v2 (no routes yet).",
    ("service", "version"),
    known=_known(version=API_VERSIONS),
)
SERVICE_AUTH = Metric(
    "ragplane_service_auth_total",
    Kind.COUNTER,
    "Inter-service token checks by result: ok, missing or invalid.",
    ("service", "result"),
    known=_known(result=SERVICE_AUTH_RESULTS),
)

# --- query path ----------------------------------------------------------------------

EMBEDDING_DURATION = Metric(
    "ragplane_embedding_duration_seconds",
    Kind.HISTOGRAM,
    "Time to embed one batch of texts, by embedder.",
    ("embedder",),
    buckets=DEPENDENCY_SECONDS,
)
VECTOR_SEARCH_DURATION = Metric(
    "ragplane_vector_search_duration_seconds",
    Kind.HISTOGRAM,
    "Time of one nearest-neighbour search in Qdrant, by collection.",
    ("collection",),
    buckets=DEPENDENCY_SECONDS,
)
SEARCH_RESULTS = Metric(
    "ragplane_search_results",
    Kind.HISTOGRAM,
    "Number of results returned per search or Q&A request, by collection.",
    ("collection",),
    buckets=RESULT_COUNTS,
)
ANSWER_DURATION = Metric(
    "ragplane_answer_duration_seconds",
    Kind.HISTOGRAM,
    "Time to compose one answer from retrieved passages, by answerer.",
    ("answerer",),
    buckets=SLOW_SECONDS,
)

# --- collections and ingestion -------------------------------------------------------

INGESTION_DOCUMENTS = Metric(
    "ragplane_ingestion_documents_total",
    Kind.COUNTER,
    "Documents processed by ingestion jobs: ingested, skipped (unchanged) or failed.",
    ("collection", "result"),
    known=_known(result=INGESTION_RESULTS),
)
INGESTION_CHUNKS = Metric(
    "ragplane_ingestion_chunks_total", Kind.COUNTER, "Chunks embedded and written to Qdrant.", ("collection",)
)
COLLECTION_DOCUMENTS = Metric(
    "ragplane_collection_documents", Kind.GAUGE, "Documents currently in the collection.", ("collection",)
)
COLLECTION_VECTORS = Metric(
    "ragplane_collection_vectors", Kind.GAUGE, "Vectors (chunks) currently stored in Qdrant.", ("collection",)
)

# --- gateway ---------------------------------------------------------------------------

GATEWAY_UPSTREAM_REQUESTS = Metric(
    "ragplane_gateway_upstream_requests_total",
    Kind.COUNTER,
    "Requests the gateway forwarded, by upstream service and its status code (or error kind).",
    ("upstream", "status"),
)
GATEWAY_UPSTREAM_DURATION = Metric(
    "ragplane_gateway_upstream_duration_seconds",
    Kind.HISTOGRAM,
    "Time until the upstream's response headers arrived, by upstream service.",
    ("upstream",),
    buckets=REQUEST_SECONDS,
)

CATALOG: tuple[Metric, ...] = (
    BUILD_INFO,
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS_IN_PROGRESS,
    API_REQUESTS,
    SERVICE_AUTH,
    EMBEDDING_DURATION,
    VECTOR_SEARCH_DURATION,
    SEARCH_RESULTS,
    ANSWER_DURATION,
    INGESTION_DOCUMENTS,
    INGESTION_CHUNKS,
    COLLECTION_DOCUMENTS,
    COLLECTION_VECTORS,
    GATEWAY_UPSTREAM_REQUESTS,
    GATEWAY_UPSTREAM_DURATION,
)

BY_NAME: Mapping[str, Metric] = MappingProxyType({m.name: m for m in CATALOG})
