"""ragplane's alerts: symptom and cause alerts over catalogue metrics (SLO burn alerts: `slos.py`).

Each alert answers "what is broken, where, and what to open first": its labels carry the
`service` (and the breaker, collection, cache ... it concerns), its description says what
users feel, and its runbook (`runbooks/<name-lowercase>.md`) says what to do.

Timing. Critical alerts page within 60 s of the fault in production: scrape interval (10 s)
+ scrape timeout (5 s) + evaluation interval (10 s) + `for` (rounded up to evaluations) +
Alertmanager's critical `group_wait` (10 s, a new group) or `group_interval` (10 s, an alert
joining a group that already paged), so their `for` stays at 20 s or less
(tests/deploy/test_prometheus.py keeps it so). The page-worthy circuit-breaker alert uses
5 s: the alert drill must see fault → page within 15 s.
Warnings wait longer (`for` of minutes): they go to the work queue, and a blip that heals
itself is not work. Counters of bad events (failed jobs, dropped log entries) alert when
the events *keep happening* (`for` longer than the window), not on a single one.

Thresholds are module constants so the runbooks and the promtool tests can name them.
"""

from __future__ import annotations

from alerts.expr import by
from alerts.model import Alert
from ragplane.telemetry import catalog
from ragplane.telemetry.promql import (
    INFRA_ROUTES,
    QUERY_ROUTES,
    SLOW_QUERY_SECONDS,
    external,
    increase,
    le,
    rate,
    series,
)

ERROR_RATIO = 0.05  # share of 5xx answers, over ERROR_WINDOW
ERROR_WINDOW = "1m"
ERROR_MIN_RATE = 0.5  # requests/s below which a few errors are not a rate
SLOW_RATIO = 0.05
SLOW_MIN_RATE = 0.1
RATE_LIMITED_RATIO = 0.1
RATE_LIMITED_MIN_RATE = 0.5
CACHE_ERROR_RATIO = 0.1
BACKUP_STALE_S = 26 * 3600  # a daily backup, and two hours to spare
BREAKER_OPEN = 2  # ragplane_circuit_breaker_state: 0 closed, 1 half-open, 2 open
# Breakers whose refusals fail user requests outright (search and Q&A answer 503): they page.
# Every other breaker degrades answers (llm, cache) or fails ingestion (collections): a ticket.
PAGING_BREAKERS = {"service": "query", "breaker": "~embedder|qdrant"}


def _lines(*parts: str) -> str:
    return "\n".join(parts)


def _replicas_up() -> str:
    return by(["service"], external("up", job="ragplane"), "max")


def service_down() -> Alert:
    return Alert(
        name="RagplaneServiceDown",
        # Every replica: a service that still has one up still serves (InstanceDown says which is not).
        expr=f"{_replicas_up()} == 0",
        for_="10s",
        severity="critical",
        summary="A ragplane service cannot be scraped on any replica",
        description=(
            "Prometheus has failed to scrape every replica of {{ $labels.service }} for 10 seconds: "
            "the service is down, hung or unreachable."
        ),
    )


def instance_down() -> Alert:
    return Alert(
        name="RagplaneInstanceDown",
        # Not while the whole service is down: RagplaneServiceDown pages for that.
        expr=f"{external('up', job='ragplane')} == 0\nunless on (service) ({_replicas_up()} == 0)",
        for_="1m",
        severity="warning",
        summary="A replica of a ragplane service cannot be scraped",
        description=(
            "Prometheus has failed to scrape {{ $labels.service }} at {{ $labels.instance }} for a minute, "
            "while other replicas of {{ $labels.service }} are up and take its traffic."
        ),
    )


def high_error_rate() -> Alert:
    traffic = series(catalog.HTTP_REQUESTS, route="!~" + INFRA_ROUTES)
    errors = series(catalog.HTTP_REQUESTS, route="!~" + INFRA_ROUTES, status="~5..")
    requests = by(["service"], rate(traffic, ERROR_WINDOW))
    maintenance = by(["service"], series(catalog.GATEWAY_MAINTENANCE), "max")
    return Alert(
        name="RagplaneHighErrorRate",
        expr=_lines(
            by(["service"], rate(errors, ERROR_WINDOW)),
            "/",
            requests,
            f"> {ERROR_RATIO}",
            f"and {requests} > {ERROR_MIN_RATE}",
            # Maintenance mode answers 503 on purpose.
            f"unless on (service) {maintenance} == 1",
        ),
        # Errors that outlast a scrape interval, not one bad scrape (the 1m rate jumps on a single
        # one); still within the 60 s budget (docs/alerting.md).
        for_="20s",
        severity="critical",
        summary="A ragplane service answers many requests with server errors",
        description=(
            "{{ $value | humanizePercentage }} of requests to {{ $labels.service }} failed with a 5xx status "
            f"over the last minute (alert above {ERROR_RATIO:.0%})."
        ),
    )


def _breakers_refusing(**matchers: str) -> str:
    """Breakers open *and* refusing calls in the last minute, per service and breaker.

    A breaker stays open until the next call probes it, however late (ragplane.kit.breakers):
    a breaker nobody calls any more (collections' outside ingestion, one whose dependency
    recovered while no call came) would otherwise alert forever. `rejected_total` starts at 0
    for every breaker, so `increase` sees the first refusal."""
    state = by(["service", "breaker"], series(catalog.CIRCUIT_BREAKER_STATE, **matchers), "max")
    refused = by(["service", "breaker"], increase(series(catalog.CIRCUIT_BREAKER_REJECTED, **matchers), "1m"))
    return _lines(f"{state} == {BREAKER_OPEN}", "and on (service, breaker)", f"{refused} > 0")


def circuit_breaker_open() -> tuple[Alert, Alert]:
    """One alert name, two severities: the `PAGING_BREAKERS` page, every other breaker is a ticket."""
    paging = by(["service", "breaker"], series(catalog.CIRCUIT_BREAKER_STATE, **PAGING_BREAKERS), "max")
    summary = "A circuit breaker is open and refuses calls"
    return (
        Alert(
            name="RagplaneCircuitBreakerOpen",
            expr=_breakers_refusing(**PAGING_BREAKERS),
            for_="5s",
            severity="critical",
            summary=summary,
            description=(
                "The {{ $labels.breaker }} breaker of {{ $labels.service }} is open and refused calls in the last "
                "minute: searches and questions fail at once with 503 until a probe of {{ $labels.breaker }} succeeds."
            ),
        ),
        Alert(
            name="RagplaneCircuitBreakerOpen",
            # `unless` the paging scope: the two severities never describe the same breaker.
            expr=_lines(_breakers_refusing(), f"unless on (service, breaker) {paging}"),
            for_="1m",
            severity="warning",
            summary=summary,
            description=(
                "The {{ $labels.breaker }} breaker of {{ $labels.service }} has been open and refusing calls for a "
                "minute: calls to {{ $labels.breaker }} fail fast, so answers are degraded (llm, cache) or ingestion "
                "jobs fail (collections)."
            ),
        ),
    )


def slow_queries() -> Alert:
    scope = {"service": "query", "route": "~" + QUERY_ROUTES}
    duration = catalog.HTTP_REQUEST_DURATION
    count = by(["service"], rate(series(duration, "_count", **scope), "5m"))
    fast = by(["service"], rate(series(duration, "_bucket", **scope, le=le(duration, SLOW_QUERY_SECONDS)), "5m"))
    return Alert(
        name="RagplaneSlowQueries",
        expr=_lines(
            "(",
            f"  {count}",
            "  -",
            f"  {fast}",
            ")",
            "/",
            count,
            f"> {SLOW_RATIO}",
            f"and {count} > {SLOW_MIN_RATE}",
        ),
        for_="5m",
        severity="warning",
        summary="Search and Q&A requests are slow",
        description=(
            "{{ $value | humanizePercentage }} of search and Q&A requests on {{ $labels.service }} took longer than "
            f"{SLOW_QUERY_SECONDS:g} s over the last 5 minutes (alert above {SLOW_RATIO:.0%})."
        ),
    )


def ingestion_jobs_failing() -> Alert:
    # `deleted`: the collection was deleted under a running job, a user's doing and not a fault.
    failures = series(catalog.INGESTION_FAILURES, reason="!deleted")
    return Alert(
        name="RagplaneIngestionJobsFailing",
        expr=f"{by(['service', 'collection', 'reason'], increase(failures, '10m'))} > 0",
        for_="15m",
        severity="warning",
        summary="Ingestion jobs keep failing",
        description=(
            "Ingestion jobs of collection {{ $labels.collection }} on {{ $labels.service }} keep failing with "
            "reason {{ $labels.reason }}: {{ $value | humanize }} in the last 10 minutes, and failures have "
            "gone on for 15 minutes."
        ),
    )


def gateway_rate_limit_saturation() -> Alert:
    gateway = {"service": "gateway"}
    refused = by(["service"], rate(series(catalog.GATEWAY_RATE_LIMITED, **gateway), "5m"))
    traffic = series(catalog.HTTP_REQUESTS, **gateway, route="!~" + INFRA_ROUTES)
    requests = by(["service"], rate(traffic, "5m"))
    return Alert(
        name="RagplaneGatewayRateLimitSaturation",
        expr=_lines(refused, "/", requests, f"> {RATE_LIMITED_RATIO}", f"and {requests} > {RATE_LIMITED_MIN_RATE}"),
        for_="5m",
        severity="warning",
        summary="Many gateway requests are refused by plan rate limits",
        description=(
            "{{ $value | humanizePercentage }} of requests to {{ $labels.service }} were answered 429 over the "
            f"last 5 minutes (alert above {RATE_LIMITED_RATIO:.0%}): a plan limit is too low for its consumers, "
            "or a client retries without honouring Retry-After."
        ),
    )


def gateway_rate_limit_store_errors() -> Alert:
    errors = by(["service", "policy"], increase(series(catalog.GATEWAY_RATE_LIMIT_ERRORS), "2m"))
    return Alert(
        name="RagplaneGatewayRateLimitStoreErrors",
        expr=f"{errors} > 0",
        for_="5m",
        severity="warning",
        summary="Rate limiting cannot reach its store (Redis)",
        description=(
            "{{ $labels.service }} has kept failing to check rate limits in Redis for 5 minutes "
            "({{ $value | humanize }} checks failed in the last 2 minutes, policy {{ $labels.policy }}): "
            "fail_open serves requests without limits, fail_closed refuses them with 503."
        ),
    )


def cache_unavailable() -> Alert:
    errors = by(["service", "cache"], rate(series(catalog.CACHE_REQUESTS, result="error"), "5m"))
    everything = by(["service", "cache"], rate(series(catalog.CACHE_REQUESTS), "5m"))
    return Alert(
        name="RagplaneCacheUnavailable",
        expr=_lines(errors, "/", everything, f"> {CACHE_ERROR_RATIO}"),
        for_="5m",
        severity="warning",
        summary="A cache backend fails and is bypassed",
        description=(
            "{{ $value | humanizePercentage }} of {{ $labels.cache }} cache operations on {{ $labels.service }} "
            "failed over the last 5 minutes: requests skip the cache, so they are slower and load the embedder "
            "and Qdrant more, but are still answered."
        ),
    )


def registry_fallback_active() -> Alert:
    # Without DATABASE_URL the JSON file *is* the registry; only a process that lost
    # PostgreSQL (its fallback counter moved) is in fallback.
    json_backend = by(["service", "instance"], series(catalog.REGISTRY_BACKEND, backend="json"), "max")
    fallbacks = by(["service", "instance"], series(catalog.REGISTRY_FALLBACK), "max")
    return Alert(
        name="RagplaneRegistryFallbackActive",
        expr=_lines(f"{json_backend} == 1", f"and on (service, instance) {fallbacks} > 0"),
        for_="1m",
        severity="warning",
        summary="The registry lost PostgreSQL and serves its JSON snapshot",
        description=(
            "{{ $labels.service }} at {{ $labels.instance }} has served registry reads from its JSON snapshot for "
            "over a minute because PostgreSQL is unavailable: creating collections and ingesting documents are "
            "refused with 503 until it is back."
        ),
    )


def query_log_dropping() -> Alert:
    dropped = by(["service"], increase(series(catalog.QUERY_LOG_DROPPED), "5m"))
    return Alert(
        name="RagplaneQueryLogDropping",
        expr=f"{dropped} > 0",
        for_="10m",
        severity="warning",
        summary="Query log entries are being dropped",
        description=(
            "{{ $labels.service }} dropped {{ $value | humanize }} query log entries in the last 5 minutes and has "
            "kept dropping for 10 minutes: its buffer is full because PostgreSQL is slow or down."
        ),
    )


def redis_persistence_failing() -> tuple[Alert, ...]:
    """Redis refuses writes once a snapshot or an append-only write fails (`stop-writes-on-bgsave-error`,
    and always for the AOF): rate-limit checks fail and the maintenance switch cannot be moved."""

    def failing(operation: str, name: str, summary: str, what: str) -> Alert:
        ok = by(["service", "instance"], series(catalog.REDIS_PERSISTENCE_OK, operation=operation), "min")
        return Alert(
            name=name,
            expr=f"{ok} == 0",
            for_="10s",  # a failed status stays until a save succeeds: it does not flap
            severity="critical",
            summary=summary,
            description=(
                f"The Redis of {{{{ $labels.service }}}} at {{{{ $labels.instance }}}} failed {what}: it refuses "
                "writes until it succeeds, so rate-limit checks fail (their policy applies) and the maintenance "
                "switch cannot be moved."
            ),
        )

    return (
        failing("rdb_bgsave", "RagplaneRedisBgsaveFailing", "Redis cannot write its snapshot", "to write a snapshot"),
        failing(
            "aof_write",
            "RagplaneRedisAofWriteFailing",
            "Redis cannot write its append-only file",
            "to write to its append-only file",
        ),
    )


def qdrant_node_down() -> Alert:
    up = by(["service", "node"], series(catalog.QDRANT_NODE_UP), "min")
    return Alert(
        name="RagplaneQdrantNodeDown",
        expr=f"{up} == 0",
        for_="2m",
        severity="warning",
        summary="A Qdrant node does not answer",
        description=(
            "{{ $labels.service }} has not reached Qdrant node {{ $labels.node }} for 2 minutes. With other nodes "
            "in QDRANT_URLS its calls go to them and requests are still answered, one copy short; with none, "
            "its searches fail."
        ),
    )


def backup_failing() -> Alert:
    failures = by(["service", "reason"], increase(series(catalog.BACKUP_FAILURES), "1d"))
    return Alert(
        name="RagplaneBackupFailing",
        expr=f"{failures} > 0",
        for_="0s",
        severity="warning",
        summary="A backup of a collection failed",
        description=(
            "Backups on {{ $labels.service }} failed in the last day ({{ $labels.reason }}): their collections' "
            "newest archives are older than they should be. BACKUP_DIR/backup.log names them and the error."
        ),
    )


def backup_stale() -> Alert:
    newest = by(["service", "collection"], series(catalog.BACKUP_LAST_SUCCESS), "max")
    return Alert(
        name="RagplaneBackupStale",
        expr=f"time() - {newest} > {BACKUP_STALE_S}",
        for_="10m",
        severity="warning",
        summary="A collection has had no good backup for over 26 hours",
        description=(
            "The newest good archive of {{ $labels.collection }} is over 26 hours old: the daily backup "
            "has not succeeded since, or has not run."
        ),
    )


ALERTS: tuple[Alert, ...] = (
    service_down(),
    instance_down(),
    high_error_rate(),
    *circuit_breaker_open(),
    slow_queries(),
    ingestion_jobs_failing(),
    gateway_rate_limit_saturation(),
    gateway_rate_limit_store_errors(),
    cache_unavailable(),
    registry_fallback_active(),
    query_log_dropping(),
    *redis_persistence_failing(),
    qdrant_node_down(),
    backup_failing(),
    backup_stale(),
)
