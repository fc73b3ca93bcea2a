"""Failures of the things services depend on, independent of any client library.

Adapters translate library exceptions (httpx, qdrant-client, torch) into these, so a
service maps each to one problem response and never leaks a library's message shape.
Each failure has a `kind` (the `kind` label of `ragplane_dependency_errors_total`).

    DependencyError                 a call to a dependency failed (.dependency names it)
     ├── DependencyUnavailable      unreachable, timed out, or a 5xx: worth retrying later
     │    ├── CircuitOpen           not even tried: its circuit breaker is open
     │    └── SlotTimeout           not even tried: no GPU slot came free in time
     └── DependencyRejected         it refused the request (4xx): retrying will not help
    CollectionNotFound              the vector store has no such collection
    CollectionExists                a collection of that name exists already
"""

from __future__ import annotations

import math
from typing import Literal

Kind = Literal[
    "timeout",  # no answer in time
    "unreachable",  # connection refused, DNS, reset
    "server_error",  # a 5xx
    "bad_response",  # an answer we cannot use
    "unavailable",  # down for another reason (not loaded, closed, injected fault)
    "rejected",  # a 4xx: the request or the configuration is wrong
    "circuit_open",
    "slot_timeout",
]


class DependencyError(Exception):
    default_kind: Kind = "unavailable"

    def __init__(self, dependency: str, message: str, *, kind: Kind | None = None) -> None:
        super().__init__(f"{dependency}: {message}")
        self.dependency = dependency
        self.message = message
        self.kind: Kind = kind or self.default_kind


class DependencyUnavailable(DependencyError):
    """The dependency could not answer; the caller may retry after a while."""


class CircuitOpen(DependencyUnavailable):
    """The breaker guarding `dependency` is open; the next probe is `retry_after` seconds away."""

    default_kind = "circuit_open"

    def __init__(self, dependency: str, *, failures: int, retry_after: int) -> None:
        super().__init__(
            dependency,
            f"circuit breaker '{dependency}' is open after {failures} consecutive failures; "
            f"the next attempt is in {retry_after} s",
        )
        self.failures = failures
        self.retry_after = retry_after


class SlotTimeout(DependencyUnavailable):
    """Every GPU slot stayed busy for the whole queue timeout."""

    default_kind = "slot_timeout"

    def __init__(self, dependency: str, *, waited_s: float) -> None:
        super().__init__(dependency, f"all GPU slots stayed busy for {waited_s:g} s; the service is overloaded")
        self.waited_s = waited_s
        self.retry_after = max(1, math.ceil(waited_s / 2))  # half the wait: the queue has moved on by then


class DependencyRejected(DependencyError):
    """The dependency answered with a refusal; the request or configuration must change."""

    default_kind = "rejected"


class CollectionNotFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} does not exist")
        self.name = name


class CollectionExists(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} already exists")
        self.name = name
