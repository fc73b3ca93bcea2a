"""What the edge exposes: public path prefixes and the upstream service that answers each.

One table for both edges: the embedded gateway builds its proxy routes from it, and the
Kong generator (`kong.py`) its services and routes, so a path cannot be public in one and
missing in the other.
"""

from __future__ import annotations

from ragplane.kit.versioning import V1

# Public path prefixes (relative to the API version) and the service that answers them.
ROUTING_TABLE: tuple[tuple[str, str], ...] = (
    ("/rag/search", "query"),
    ("/rag/query", "query"),
    ("/rag/activity", "query"),
    ("/rag/collections", "collections"),
    ("/rag/jobs", "collections"),
)


# (path prefix, upstream) for the versioned and the legacy (unversioned, deprecated) path; built
# once, since the edge asks `is_api_path` on every request.
_PUBLIC_PREFIXES: tuple[tuple[str, str], ...] = tuple(
    (version + prefix, upstream) for prefix, upstream in ROUTING_TABLE for version in (V1, "")
)


def public_prefixes() -> tuple[tuple[str, str], ...]:
    """(path prefix, upstream) for the versioned and the legacy (unversioned, deprecated) path."""
    return _PUBLIC_PREFIXES


def is_api_path(path: str) -> bool:
    """Whether `path` is one the edge forwards (and so authenticates, rate-limits, may refuse in maintenance)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix, _ in _PUBLIC_PREFIXES)
