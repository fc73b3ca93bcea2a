"""Gateway: what the edge lets through, refuses, and how its upstreams answer.

ragplane does not count requests per plan (only the 429s carry the plan), so traffic is
shown by route and status, and plans appear where they matter: in the rate-limit refusals.
In the full stack Kong is the edge and this dashboard shows the ragplane gateway behind it.
"""

from __future__ import annotations

from grafanalib.core import Stat

from ragplane.telemetry import catalog as c
from ragplane.telemetry.promql import INFRA_ROUTES, aggregate

from .common import (
    BYTES,
    COUNT,
    FAILED_OK,
    OFF_ON,
    RATE_LIMIT_SATURATION,
    RATE_LIMIT_STORE_ERRORS,
    RATIO,
    REDIS_AOF_WRITE_FAILING,
    REDIS_BGSAVE_FAILING,
    REQUESTS_PER_SECOND,
    SECONDS,
    STATE,
    UP_DOWN,
    Query,
    Section,
    build,
    stat,
    timeseries,
)
from .expr import quantile, rate_by, rate_ratio, sel

UID = "ragplane-gateway"
GATEWAY = {"service": "gateway", "route": f"!~{INFRA_ROUTES}"}

traffic = Section(
    "Traffic, limits and auth",
    [
        stat(
            "Maintenance mode",
            "On while maintenance mode answers every API route with 503.",
            STATE,
            Query(aggregate([], sel(c.GATEWAY_MAINTENANCE), "max")),
            width=6,
            mappings=OFF_ON,
        ),
        stat(
            "Requests in flight",
            "Requests the gateway is handling right now.",
            COUNT,
            Query(aggregate([], sel(c.HTTP_REQUESTS_IN_PROGRESS, service="gateway"))),
            width=6,
        ),
        stat(
            "429 share",
            "Share of gateway requests refused by a plan's rate limit over the last minutes.",
            RATIO,
            Query(rate_ratio(sel(c.GATEWAY_RATE_LIMITED), sel(c.HTTP_REQUESTS, **GATEWAY))),
            alert=RATE_LIMIT_SATURATION,
            width=12,
        ),
        timeseries(
            "Requests by route and status",
            "Requests per second the gateway answered, by route template and status (scrapes and probes excluded).",
            REQUESTS_PER_SECOND,
            Query(rate_by(["route", "status"], sel(c.HTTP_REQUESTS, **GATEWAY)), "{{route}} {{status}}"),
            width=24,
        ),
        timeseries(
            "429s by plan",
            "Requests per second refused with 429 because the consumer's plan limit was reached.",
            REQUESTS_PER_SECOND,
            Query(rate_by(["plan"], sel(c.GATEWAY_RATE_LIMITED)), "{{plan}}"),
            width=8,
        ),
        timeseries(
            "401s and auth failures",
            "Token checks that failed (invalid, expired, missing when required) and the 401 responses they "
            "caused, per route.",
            REQUESTS_PER_SECOND,
            Query(rate_by(["result"], sel(c.GATEWAY_AUTH, result="~invalid|expired|missing")), "{{result}}"),
            Query(rate_by(["route"], sel(c.HTTP_REQUESTS, status="401", **GATEWAY)), "401 {{route}}"),
            width=8,
        ),
        timeseries(
            "Rate-limit store errors",
            "Rate-limit checks Redis could not answer, by the policy applied: fail_open lets the request "
            "through unlimited, fail_closed refuses it.",
            REQUESTS_PER_SECOND,
            Query(rate_by(["policy"], sel(c.GATEWAY_RATE_LIMIT_ERRORS)), "{{policy}}"),
            alert=RATE_LIMIT_STORE_ERRORS,
            width=8,
        ),
    ],
)

upstreams = Section(
    "Upstreams",
    [
        timeseries(
            "Upstream latency",
            "Time until each upstream's response headers arrived: p50 and p95 per upstream service.",
            SECONDS,
            Query(quantile(0.5, c.GATEWAY_UPSTREAM_DURATION, ["upstream"]), "p50 {{upstream}}"),
            Query(quantile(0.95, c.GATEWAY_UPSTREAM_DURATION, ["upstream"]), "p95 {{upstream}}"),
            width=8,
        ),
        timeseries(
            "Upstream errors",
            "Forwarded requests per second that failed, per upstream: 5xx statuses, or timeout and "
            "unreachable when no answer came.",
            REQUESTS_PER_SECOND,
            Query(
                rate_by(["upstream", "status"], sel(c.GATEWAY_UPSTREAM_REQUESTS, status="!~[1-4]..")),
                "{{upstream}} {{status}}",
            ),
            width=8,
        ),
        stat(
            "Upstream replicas",
            "Whether the gateway sends traffic to each upstream replica; down while its breaker keeps it out.",
            STATE,
            Query(aggregate(["upstream", "replica"], sel(c.GATEWAY_REPLICA_UP), "min"), "{{upstream}} {{replica}}"),
            width=8,
            height=8,
            mappings=UP_DOWN,
        ),
    ],
)


def persistence_ok(title: str, what: str, operation: str, alert: str) -> Stat:
    return stat(
        title,
        f"Whether Redis's last {what} succeeded; while it fails Redis refuses writes.",
        STATE,
        Query(aggregate([], sel(c.REDIS_PERSISTENCE_OK, operation=operation), "min")),
        alert=alert,
        width=6,
        mappings=FAILED_OK,
    )


redis = Section(
    "Redis persistence",
    [
        persistence_ok("Last snapshot", "RDB snapshot", "rdb_bgsave", REDIS_BGSAVE_FAILING),
        persistence_ok("Last append-only write", "append-only file write", "aof_write", REDIS_AOF_WRITE_FAILING),
        timeseries(
            "Since the last snapshot",
            "Seconds since Redis last wrote an RDB snapshot (one is due after at most 15 minutes with a change).",
            SECONDS,
            Query(f"time() - {aggregate([], sel(c.REDIS_LAST_SAVE), 'max')}", "seconds since"),
            width=6,
        ),
        timeseries(
            "Append-only file size",
            "The size of Redis's append-only file: it grows with writes and shrinks at each rewrite.",
            BYTES,
            Query(aggregate([], sel(c.REDIS_AOF_SIZE), "max"), "AOF"),
            width=6,
        ),
    ],
)

dashboard = build(
    UID,
    "Gateway",
    "The ragplane gateway: traffic by route and status, 429s by plan, auth failures, rate-limit store errors, "
    "upstream latency and errors, replicas, maintenance mode, and Redis's persistence.",
    [traffic, upstreams, redis],
)
