"""Per-service metric registries built from the catalogue.

Each service owns one `CollectorRegistry`, so its `/metrics` shows only its own series
even when the three services share a process (Prometheus would otherwise count the same
sample once per scraped port). Families are created from `catalog` specs on first use and
cached; the `service` label is bound here so call sites cannot get it wrong, and label
values the catalogue knows up front are created at 0 at the same moment. Latency
histograms (`*_seconds`) are `TracedHistogram`s: their buckets keep trace-id exemplars.
"""

from __future__ import annotations

import itertools
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.metrics import MetricWrapperBase

from ragplane import __version__
from ragplane.telemetry.catalog import BUILD_INFO, Kind, Metric
from ragplane.telemetry.exemplars import TracedHistogram, traced

# `_created` samples add one series per child that Prometheus ignores in the text format.
disable_created_metrics()  # type: ignore[no-untyped-call]

M = TypeVar("M", Counter, Gauge, Histogram)

_TYPES: dict[Kind, type[MetricWrapperBase]] = {Kind.COUNTER: Counter, Kind.GAUGE: Gauge, Kind.HISTOGRAM: Histogram}


class Family(Generic[M]):
    """A metric family with some labels (the service) already bound."""

    def __init__(self, spec: Metric, parent: M, bound: dict[str, str]) -> None:
        self.spec = spec
        self._parent: M = parent
        self._bound = bound
        # Children by their label values as passed: prometheus_client's own `labels()` validates
        # and locks on every call, a few percent of a service's CPU at a thousand requests a second.
        self._children: dict[tuple[tuple[str, str], ...], M] = {}

    def labels(self, **values: str) -> M:
        if not self.spec.labels and not values:
            return self._parent  # a family without labels is its own single series
        key = tuple(values.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._parent.labels(**self._bound, **values)
        return child

    def prime(self, **fixed: str) -> None:
        """Create every known label combination (with `fixed` labels set) so the series start at 0."""
        free = [n for n in self.spec.labels if n not in self._bound and n not in fixed]
        if not all(n in self.spec.known for n in free):
            return
        for combo in itertools.product(*(self.spec.known[n] for n in free)):
            self.labels(**fixed, **dict(zip(free, combo, strict=True)))

    def forget(self, **match: str) -> None:
        """Remove every series whose labels include `match`, e.g. a deleted collection's."""
        names = self.spec.labels
        # prometheus_client has no public way to list children; `_metrics` is stable since 0.4.
        for values in list(self._parent._metrics):
            bound = dict(zip(names, values, strict=True))
            if all(bound.get(k) == v for k, v in {**self._bound, **match}.items()):
                self._parent.remove(*values)
        self._children.clear()  # a removed child must not be handed out again


OVERFLOW = "_other"


class BoundedLabel:
    """Admits at most `limit` distinct values of a label; later ones report as `_other`.

    For labels fed by user input (collection names on the query path), so a client that
    creates, searches and deletes endless collections cannot grow the series count.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._admitted: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._admitted:
            return value
        if len(self._admitted) < self.limit:
            self._admitted.add(value)
            return value
        return OVERFLOW

    def release(self, value: str) -> bool:
        """Forget `value`; True when it had been admitted (its series should be dropped)."""
        if value in self._admitted:
            self._admitted.discard(value)
            return True
        return False


class ServiceMetrics:
    """The metrics of one service, in a registry of its own."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry()
        self._families: dict[str, Family[Any]] = {}
        self.gauge(BUILD_INFO).labels(version=__version__).set(1)

    def counter(self, spec: Metric) -> Family[Counter]:
        return self._family(spec, Kind.COUNTER)

    def gauge(self, spec: Metric) -> Family[Gauge]:
        return self._family(spec, Kind.GAUGE)

    def histogram(self, spec: Metric) -> Family[Histogram]:
        return self._family(spec, Kind.HISTOGRAM)

    def _family(self, spec: Metric, kind: Kind) -> Family[Any]:
        if spec.kind is not kind:
            raise TypeError(f"{spec.name} is declared as a {spec.kind}, not a {kind}")
        family = self._families.get(spec.name)
        if family is None:
            labels = list(spec.labels)
            parent: MetricWrapperBase
            if kind is Kind.HISTOGRAM and spec.buckets is not None:
                cls = TracedHistogram if traced(spec) else Histogram
                parent = cls(spec.name, spec.help, labels, registry=self.registry, buckets=spec.buckets)
            else:
                parent = _TYPES[kind](spec.name, spec.help, labels, registry=self.registry)
            bound = {"service": self.service} if "service" in spec.labels else {}
            family = Family(spec, parent, bound)
            family.prime()
            self._families[spec.name] = family
        return family
