"""Failures of the things services depend on, independent of any client library.

Adapters translate library exceptions (httpx, qdrant-client, torch) into these, so a
service maps each to one problem response and never leaks a library's message shape.

    DependencyError                 a call to a dependency failed (.dependency names it)
     ├── DependencyUnavailable      unreachable, timed out, or a 5xx: worth retrying later
     └── DependencyRejected         it refused the request (4xx): retrying will not help
    CollectionNotFound              the vector store has no such collection
    CollectionExists                a collection of that name exists already
"""

from __future__ import annotations


class DependencyError(Exception):
    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(f"{dependency}: {message}")
        self.dependency = dependency
        self.message = message


class DependencyUnavailable(DependencyError):
    """The dependency could not answer; the caller may retry after a while."""


class DependencyRejected(DependencyError):
    """The dependency answered with a refusal; the request or configuration must change."""


class CollectionNotFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} does not exist")
        self.name = name


class CollectionExists(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} already exists")
        self.name = name
