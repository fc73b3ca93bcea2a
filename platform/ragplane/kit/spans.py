"""Each service's recent finished spans, in memory, for `ragplane trace TRACE_ID`.

Every tracer provider (`kit.tracing.create_tracer_provider`) gets a `SpanRing`: a span
processor that keeps the last `CAPACITY` spans the service finished, indexed by trace id,
so `GET /internal/traces/{trace_id}` (`kit.internal.trace_routes`) answers without a trace
store. The ring sees what the head sampler recorded (OTEL_TRACES_SAMPLER; by default
`parentbased_always_on`: every trace unless the caller's `traceparent` said not to);
what it drops is gone, whatever the exporter did with it.

Cost: one small record (a tuple that shares the ended span's read-only attributes; about
750 bytes held per span) and two appends per finished span, under a lock (spans may end in
worker threads), and one eviction once full: O(1), about 3 µs where making the span itself
costs 13 µs (a busy 2-core machine). A lookup copies one trace's records.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from ragplane.errors import ValidationFailed

CAPACITY = 4096  # spans per service: ~3 MB, about a thousand searches back (docs/observability.md)
TRACE_ID = re.compile(r"[0-9a-f]{32}")
TRACE_HEADER = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")  # traceparent / traceresponse
_NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})


class RecentSpan(NamedTuple):
    """What `ragplane trace` shows of one finished span."""

    trace_id: int
    span_id: int
    parent_id: int | None
    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    error: bool
    attributes: Mapping[str, Any]

    def as_json(self, service: str) -> dict[str, Any]:
        return {
            "trace_id": format(self.trace_id, "032x"),
            "span_id": format(self.span_id, "016x"),
            "parent_id": format(self.parent_id, "016x") if self.parent_id is not None else None,
            "name": self.name,
            "kind": self.kind.name.lower(),
            "service": service,
            "start_unix_nano": self.start_ns,
            "duration_ms": round((self.end_ns - self.start_ns) / 1e6, 3),
            "status": "error" if self.error else "ok",
            "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in self.attributes.items()},
        }


_record = tuple.__new__  # builds a RecentSpan in C: a NamedTuple's own __new__ is Python, twice as slow


class _Trace:
    """One trace's held spans in the order they finished; evicted ones are skipped by `head`
    and cut off once they are half the list, so eviction is O(1) amortised."""

    __slots__ = ("head", "spans")

    def __init__(self, first: RecentSpan) -> None:
        self.head = 0
        self.spans = [first]


class SpanRing(SpanProcessor):
    """The last `capacity` finished spans, oldest evicted first, looked up by trace id."""

    def __init__(self, service: str, capacity: int = CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("a span ring holds at least one span")
        self.service = service
        self.capacity = capacity
        self._order: deque[RecentSpan] = deque()
        # The oldest span held is always the oldest held of its own trace: both are kept in finishing order.
        self._traces: dict[int, _Trace] = {}
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        context, parent = span.context, span.parent
        if context is None or span.start_time is None or span.end_time is None:
            return
        trace_id = context.trace_id
        recent: RecentSpan = _record(
            RecentSpan,
            (
                trace_id,
                context.span_id,
                parent.span_id if parent is not None else None,
                span.name,
                span.kind,
                span.start_time,
                span.end_time,
                span.status.status_code is StatusCode.ERROR,
                span.attributes or _NO_ATTRIBUTES,  # read-only once the span has ended: kept, not copied
            ),
        )
        with self._lock:
            if len(self._order) >= self.capacity:
                self._evict(self._order.popleft().trace_id)
            self._order.append(recent)
            trace = self._traces.get(trace_id)
            if trace is None:
                self._traces[trace_id] = _Trace(recent)
            else:
                trace.spans.append(recent)

    def _evict(self, trace_id: int) -> None:
        trace = self._traces[trace_id]
        trace.head += 1
        if trace.head == len(trace.spans):
            del self._traces[trace_id]
        elif trace.head * 2 >= len(trace.spans):
            del trace.spans[: trace.head]
            trace.head = 0

    def trace(self, trace_id: int) -> list[RecentSpan]:
        """The spans of `trace_id` still held, in the order they finished."""
        with self._lock:
            trace = self._traces.get(trace_id)
            return trace.spans[trace.head :] if trace is not None else []

    def __len__(self) -> int:
        return len(self._order)

    def traces(self) -> int:
        """How many traces have at least one span held."""
        return len(self._traces)


_RINGS: WeakKeyDictionary[TracerProvider, SpanRing] = WeakKeyDictionary()


def keep_recent_spans(provider: TracerProvider, service: str, capacity: int = CAPACITY) -> SpanRing:
    """Give `provider` a ring of its recent spans (found again with `ring_of`)."""
    ring = SpanRing(service, capacity)
    provider.add_span_processor(ring)
    _RINGS[provider] = ring
    return ring


def ring_of(provider: TracerProvider) -> SpanRing | None:
    return _RINGS.get(provider)


def parse_trace_id(text: str) -> int:
    """A W3C trace id: 32 hex digits, not all zero (any case), as an integer; ValidationFailed otherwise.

    A whole `traceparent` or `traceresponse` value (`00-<trace id>-<span id>-<flags>`) is taken
    too, as a caller copies it from a response's headers."""
    value = text.strip().lower()
    if TRACE_HEADER.fullmatch(value):
        value = value.split("-")[1]
    if not TRACE_ID.fullmatch(value) or not int(value, 16):
        raise ValidationFailed([("trace_id", "must be 32 hexadecimal digits, not all zero")])
    return int(value, 16)
