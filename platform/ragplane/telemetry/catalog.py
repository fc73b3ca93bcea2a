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
BREAKER_STATES = ("closed", "half_open", "open")
_CALL_ERRORS = ("timeout", "unreachable", "server_error", "bad_response", "unavailable", "rejected")
DEPENDENCY_ERROR_KINDS = (*_CALL_ERRORS, "circuit_open", "slot_timeout")  # and ragplane's own refusals
CACHE_RESULTS = ("hit", "miss", "error")
GPU_KINDS = ("embed", "generate")
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
SERVICE_AUTH_RESULTS = ("ok", "missing", "invalid")
INGESTION_RESULTS = ("ingested", "skipped", "failed")
JOB_STATES = ("queued", "running", "completed", "failed")
JOB_END_STATES = ("completed", "failed")
INGESTION_FAILURE_REASONS = ("embedder", "qdrant", "registry", "deleted", "interrupted", "internal")
REGISTRY_BACKENDS = ("postgres", "json")
AUTH_RESULTS = ("ok", "anonymous", "invalid", "expired", "missing")
RATE_LIMIT_ERROR_POLICIES = ("fail_open", "fail_closed")
BOOLEANS = ("false", "true")
QDRANT_RESULTS = ("ok", "error")


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
ANSWERS = Metric(
    "ragplane_answers_total",
    Kind.COUNTER,
    "Answers given, by answerer; degraded=true when the LLM was unavailable and the extractive answer stood in.",
    ("answerer", "degraded"),
    known=_known(degraded=BOOLEANS),
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
INGESTION_JOBS = Metric(
    "ragplane_ingestion_jobs",
    Kind.GAUGE,
    "Ingestion jobs in the registry by state (finished ones: those of the last 24 hours).",
    ("state",),
    known=_known(state=JOB_STATES),
)
INGESTION_JOB_DURATION = Metric(
    "ragplane_ingestion_job_duration_seconds",
    Kind.HISTOGRAM,
    "Time from a job's start to its end, by the state it ended in (completed or failed).",
    ("state",),
    buckets=SLOW_SECONDS,
    known=_known(state=JOB_END_STATES),
)
INGESTION_FAILURES = Metric(
    "ragplane_ingestion_failures_total",
    Kind.COUNTER,
    "Ingestion jobs that failed, by collection and reason: embedder, qdrant, registry, deleted, interrupted, internal.",
    ("collection", "reason"),
    known=_known(reason=INGESTION_FAILURE_REASONS),
)
COLLECTION_DOCUMENTS = Metric(
    "ragplane_collection_documents", Kind.GAUGE, "Documents currently in the collection.", ("collection",)
)
COLLECTION_VECTORS = Metric(
    "ragplane_collection_vectors", Kind.GAUGE, "Vectors (chunks) currently stored in Qdrant.", ("collection",)
)
COLLECTION_STORAGE = Metric(
    "ragplane_collection_storage_bytes", Kind.GAUGE, "Bytes on disk (Qdrant local mode only).", ("collection",)
)

# --- Qdrant nodes (one per QDRANT_URLS entry, or "local") ------------------------------

QDRANT_REQUESTS = Metric(
    "ragplane_qdrant_requests_total",
    Kind.COUNTER,
    "Calls to a Qdrant node, by node and result: ok, or error (unreachable, timeout, 5xx).",
    ("service", "node", "result"),
    known=_known(result=QDRANT_RESULTS),
)
QDRANT_REQUEST_DURATION = Metric(
    "ragplane_qdrant_request_duration_seconds",
    Kind.HISTOGRAM,
    "Time of one call to a Qdrant node, by node.",
    ("service", "node"),
    buckets=DEPENDENCY_SECONDS,
)
QDRANT_NODE_UP = Metric(
    "ragplane_qdrant_node_up",
    Kind.GAUGE,
    "1 if the node answered the last call or readiness probe, 0 if not (the pool then sends it no calls).",
    ("service", "node"),
)
QDRANT_FAILOVERS = Metric(
    "ragplane_qdrant_failovers_total",
    Kind.COUNTER,
    "Calls that got no answer from this node and were tried again on another node of the pool.",
    ("service", "node"),
)

# --- resilience ----------------------------------------------------------------------

CIRCUIT_BREAKER_STATE = Metric(
    "ragplane_circuit_breaker_state", Kind.GAUGE, "Breaker: 0 closed, 1 half-open, 2 open.", ("service", "breaker")
)
CIRCUIT_BREAKER_TRANSITIONS = Metric(
    "ragplane_circuit_breaker_transitions_total",
    Kind.COUNTER,
    "Circuit breaker state changes, by the state entered.",
    ("service", "breaker", "to"),
    known=_known(to=BREAKER_STATES),
)
CIRCUIT_BREAKER_REJECTED = Metric(
    "ragplane_circuit_breaker_rejected_total",
    Kind.COUNTER,
    "Calls refused without trying because the breaker was open (or its one probe was in flight).",
    ("service", "breaker"),
)
DEPENDENCY_ERRORS = Metric(
    "ragplane_dependency_errors_total",
    Kind.COUNTER,
    "Failed dependency calls by kind: timeout, unreachable, server_error, rejected, circuit_open, ...",
    ("service", "dependency", "kind"),
    known=_known(kind=DEPENDENCY_ERROR_KINDS),
)
GPU_WAIT = Metric(
    "ragplane_gpu_wait_seconds",
    Kind.HISTOGRAM,
    "Time spent waiting for a GPU slot, by kind of work (embed, generate).",
    ("service", "kind"),
    buckets=DEPENDENCY_SECONDS,
    known=_known(kind=GPU_KINDS),
)
GPU_SLOTS_IN_USE = Metric("ragplane_gpu_slots_in_use", Kind.GAUGE, "GPU slots held right now.", ("service",))
GPU_QUEUE_DEPTH = Metric(
    "ragplane_gpu_queue_depth", Kind.GAUGE, "Calls waiting for a GPU slot right now.", ("service",)
)
GPU_QUEUE_TIMEOUTS = Metric(
    "ragplane_gpu_queue_timeouts_total",
    Kind.COUNTER,
    "Calls refused with 503 because no GPU slot came free within GPU_QUEUE_TIMEOUT_S.",
    ("service",),
)
EMBEDDING_BATCH_SIZE = Metric(
    "ragplane_embedding_batch_size",
    Kind.HISTOGRAM,
    "Texts per embedding model call (query calls are micro-batched; ingestion calls carry a document's chunks).",
    ("embedder",),
    buckets=BATCH_SIZES,
)
CACHE_REQUESTS = Metric(
    "ragplane_cache_requests_total",
    Kind.COUNTER,
    "Cache lookups by cache and result: hit, miss or error (the cache backend failed and was bypassed).",
    ("cache", "result"),
    known=_known(result=CACHE_RESULTS),
)
CACHE_ENTRIES = Metric("ragplane_cache_entries", Kind.GAUGE, "Entries held by the cache.", ("cache",))

# --- registry and query logs ---------------------------------------------------------

REGISTRY_BACKEND = Metric(
    "ragplane_registry_backend",
    Kind.GAUGE,
    "1 for the registry backend serving reads now (postgres, or json when PostgreSQL is unavailable), else 0.",
    ("backend",),
    known=_known(backend=REGISTRY_BACKENDS),
)
REGISTRY_FALLBACK = Metric(
    "ragplane_registry_fallback_total",
    Kind.COUNTER,
    "Times the registry lost PostgreSQL and fell back to serving its JSON snapshot.",
)
QUERY_LOG_WRITTEN = Metric("ragplane_query_log_written_total", Kind.COUNTER, "Query log entries written to PostgreSQL.")
QUERY_LOG_DROPPED = Metric(
    "ragplane_query_log_dropped_total",
    Kind.COUNTER,
    "Query log entries dropped because the buffer was full while PostgreSQL was slow or down.",
)
QUERY_LOG_BUFFERED = Metric(
    "ragplane_query_log_buffered_entries", Kind.GAUGE, "Query log entries waiting to be written."
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

GATEWAY_AUTH = Metric(
    "ragplane_gateway_auth_total",
    Kind.COUNTER,
    "Gateway authentication results: ok (valid token), anonymous, invalid, expired, missing (token required).",
    ("result",),
    known=_known(result=AUTH_RESULTS),
)
GATEWAY_RATE_LIMITED = Metric(
    "ragplane_gateway_rate_limited_total",
    Kind.COUNTER,
    "Requests refused with 429 because the consumer's plan limit was reached, by plan.",
    ("plan",),
)
GATEWAY_RATE_LIMIT_ERRORS = Metric(
    "ragplane_gateway_rate_limit_errors_total",
    Kind.COUNTER,
    "Rate-limit checks the store (Redis) could not answer, by the policy applied: fail_open lets them through.",
    ("policy",),
    known=_known(policy=RATE_LIMIT_ERROR_POLICIES),
)
GATEWAY_MAINTENANCE = Metric(
    "ragplane_gateway_maintenance", Kind.GAUGE, "1 while maintenance mode answers every API route with 503, else 0."
)
GATEWAY_REPLICA_UP = Metric(
    "ragplane_gateway_upstream_replica_up",
    Kind.GAUGE,
    "1 while the gateway sends traffic to an upstream replica, 0 while its breaker keeps it out.",
    ("upstream", "replica"),
)

# The Redis persistence ragplane itself reads (INFO persistence), besides redis_exporter's.
REDIS_OPERATIONS = ("rdb_bgsave", "aof_write")
REDIS_PERSISTENCE_OK = Metric(
    "ragplane_redis_persistence_ok",
    Kind.GAUGE,
    "1 when Redis's last background save (rdb_bgsave) or append-only write (aof_write) succeeded, 0 when it failed.",
    ("operation",),
    known=_known(operation=REDIS_OPERATIONS),
)
REDIS_LAST_SAVE = Metric(
    "ragplane_redis_rdb_last_save_timestamp_seconds", Kind.GAUGE, "When Redis last wrote an RDB snapshot (Unix time)."
)
REDIS_CHANGES = Metric(
    "ragplane_redis_rdb_changes_since_last_save", Kind.GAUGE, "Writes to Redis since its last RDB snapshot."
)
REDIS_AOF_SIZE = Metric("ragplane_redis_aof_size_bytes", Kind.GAUGE, "The size of Redis's append-only file, bytes.")

# --- backups (the collections service) -----------------------------------------------
BACKUP_SECONDS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
BACKUP_FAILURE_REASONS = ("collection_missing", "store", "registry", "disk", "internal")
RESTORE_RESULTS = ("ok", "refused", "failed")
BACKUP_LAST_SUCCESS = Metric(
    "ragplane_backup_last_success_timestamp_seconds",
    Kind.GAUGE,
    "When the newest good backup of a collection was written (Unix time).",
    ("collection",),
)
BACKUP_DURATION = Metric(
    "ragplane_backup_duration_seconds", Kind.HISTOGRAM, "Time to back up one collection.", buckets=BACKUP_SECONDS
)
BACKUP_SIZE = Metric(
    "ragplane_backup_size_bytes", Kind.GAUGE, "Size of a collection's newest archive.", ("collection",)
)
BACKUP_FAILURES = Metric(
    "ragplane_backup_failures_total",
    Kind.COUNTER,
    "Backups of a collection that failed, by reason.",
    ("reason",),
    known=_known(reason=BACKUP_FAILURE_REASONS),
)
RESTORES = Metric(
    "ragplane_restore_total",
    Kind.COUNTER,
    "Restores: ok, refused (the archive did not check out), failed (the loaded copy did not).",
    ("result",),
    known=_known(result=RESTORE_RESULTS),
)

# Every metric above, in declaration order: declaring one is enough to export it.
CATALOG: tuple[Metric, ...] = tuple(value for value in list(globals().values()) if isinstance(value, Metric))

BY_NAME: Mapping[str, Metric] = MappingProxyType({m.name: m for m in CATALOG})
