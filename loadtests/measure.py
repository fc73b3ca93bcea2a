"""What a run measured, per stage and per endpoint, from Locust's own counters.

Locust keeps, for every endpoint and for the total, a running count of requests and failures
and a histogram of response times (milliseconds, rounded as Locust rounds them). The shape
copies those counters at every stage boundary (`Snapshot`); the difference of two snapshots
is what happened in between, so a stage's p95 and rate come from the same data as Locust's
report, with no second measurement beside it. In a distributed run the master's counters
lag the workers' by up to one report interval (3 s), which blurs stage boundaries by as much.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Counts:
    """An endpoint's (or the total's) cumulative counters at one moment."""

    requests: int = 0
    failures: int = 0
    times: Mapping[int, int] = field(default_factory=dict)  # response time in ms → requests

    def __sub__(self, earlier: Counts) -> Counts:
        times = {t: n - earlier.times.get(t, 0) for t, n in self.times.items()}
        return Counts(
            self.requests - earlier.requests,
            self.failures - earlier.failures,
            {t: n for t, n in times.items() if n > 0},
        )


@dataclass(frozen=True)
class Snapshot:
    """Every counter at `at` (seconds on a monotonic clock)."""

    at: float
    total: Counts
    endpoints: Mapping[str, Counts]  # "GET /api/v1/rag/search" → its counters


def percentile(times: Mapping[int, int], q: float) -> float | None:
    """The response time under which a share `q` of requests finished, as Locust computes it."""
    count = sum(times.values())
    if count == 0:
        return None
    allowed_above = int(count * q)
    seen = 0
    for time_ms in sorted(times, reverse=True):
        seen += times[time_ms]
        if count - seen <= allowed_above:
            return float(time_ms)
    return float(min(times))


def figures(counts: Counts, seconds: float) -> dict[str, Any]:
    """requests, failures, error ratio, rate and p50/p95/p99 of `counts` over `seconds`."""
    out: dict[str, Any] = {
        "requests": counts.requests,
        "failures": counts.failures,
        "error_ratio": counts.failures / counts.requests if counts.requests else 0.0,
        "rps": counts.requests / seconds if seconds > 0 else 0.0,
    }
    for q in PERCENTILES:
        out[f"p{round(q * 100)}_ms"] = percentile(counts.times, q)
    return out


def window(start: Snapshot, end: Snapshot) -> dict[str, Any]:
    """What happened between two snapshots: the total and every endpoint with traffic."""
    seconds = end.at - start.at
    endpoints = {
        name: figures(counts - start.endpoints.get(name, Counts()), seconds)
        for name, counts in sorted(end.endpoints.items())
    }
    return {
        "seconds": round(seconds, 3),
        "total": figures(end.total - start.total, seconds),
        "endpoints": {name: f for name, f in endpoints.items() if f["requests"]},
    }
