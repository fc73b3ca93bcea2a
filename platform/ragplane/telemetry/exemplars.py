"""Exemplars: the latency buckets carry the trace id of an observation.

A latency histogram of ours (`*_seconds`) is a `TracedHistogram`: when it observes a value
while a *sampled* OpenTelemetry span is current, the bucket the value falls in keeps
`{trace_id="<32 hex digits>"}` beside it. `/metrics` shows exemplars in the OpenMetrics
format only (a scraper asks for it with `Accept: application/openmetrics-text`); Prometheus
stores them with `--enable-feature=exemplar-storage`, and Grafana links each one to its trace.

An unsampled span's trace is recorded nowhere, so it makes no exemplar (logs still carry its
id); neither does work outside any request, such as a micro-batched embedding call that
serves several requests at once.

The hot path stays cheap: each bucket looks at the current span at most once a second
(`EXEMPLAR_EVERY_S`; Prometheus scrapes every 10 s and keeps only what it scrapes), and takes
that observation's trace as its exemplar when it is sampled. Under load most observations
only find their bucket and read the clock, a fifth of a microsecond on top of the plain
observation; one that attaches an exemplar costs about two microseconds more
(docs/observability.md has the measurements).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry.trace import get_current_span
from prometheus_client import Histogram

from ragplane.telemetry.catalog import Kind, Metric

EXEMPLAR_LABEL = "trace_id"
EXEMPLAR_EVERY_S = 1.0

_clock = time.monotonic

# The exemplar of the last trace seen, as one tuple so that threads swap it whole: the
# observations of one request (its dependency calls, then its own latency) share one formatted id.
_last: tuple[int, dict[str, str]] = (0, {})


def traced(spec: Metric) -> bool:
    """Whether `spec`'s buckets carry exemplars: latency histograms do, counts (results, batch sizes) do not."""
    return spec.kind is Kind.HISTOGRAM and spec.name.endswith("_seconds")


def trace_exemplar() -> dict[str, str] | None:
    """`{"trace_id": ...}` of the current span when it is sampled, else None."""
    global _last
    context = get_current_span().get_span_context()
    if not context.trace_flags & 0x01:  # not sampled (no span at all: the invalid span, flags 0)
        return None
    last = _last
    if last[0] != context.trace_id:
        # A fresh dict, never mutated: the previous one may still sit in a bucket's exemplar.
        last = _last = (context.trace_id, {EXEMPLAR_LABEL: f"{context.trace_id:032x}"})
    return last[1]


class TracedHistogram(Histogram):
    """A histogram whose observations carry the current trace as their bucket's exemplar: the
    first observation in a bucket after `EXEMPLAR_EVERY_S` has passed since that bucket's last
    turn (none is attached when its span is not sampled). An explicit `exemplar` is always kept.

    Children made by `labels()` are of this class too (prometheus_client builds them with
    `self.__class__` and the same `buckets`).
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        *,
        buckets: Sequence[float | str] = Histogram.DEFAULT_BUCKETS,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, documentation, labelnames, buckets=buckets, **kwargs)
        bounds = [float(b) for b in buckets]
        if bounds[-1] != math.inf:
            bounds.append(math.inf)
        self._bounds = bounds  # as prometheus_client counts them: the first bound >= the value
        self._due = [-math.inf] * len(bounds)  # when each bucket takes its next exemplar

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        if exemplar is None:
            bucket = bisect_left(self._bounds, amount)
            now = _clock()
            if now >= self._due[bucket]:  # this bucket's turn: its exemplar is this trace's, if sampled
                self._due[bucket] = now + EXEMPLAR_EVERY_S
                exemplar = trace_exemplar()
        # Histogram.observe named directly: `super()` costs a tenth of a microsecond per call.
        Histogram.observe(self, amount, exemplar)
