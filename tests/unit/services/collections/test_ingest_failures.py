"""Why a job failed, as the `reason` label of ragplane_ingestion_failures_total."""

import pytest

from ragplane.errors import CircuitOpen, DependencyUnavailable, RegistryError
from ragplane.services.collections.ingest import COLLECTION_DELETED, INTERRUPTED, failure_reason
from ragplane.telemetry.catalog import INGESTION_FAILURE_REASONS


@pytest.mark.parametrize(
    ("exc", "message", "reason"),
    [
        (None, COLLECTION_DELETED, "deleted"),
        (None, INTERRUPTED, "interrupted"),
        (DependencyUnavailable("embedder", "down"), "embedder: down", "embedder"),
        (CircuitOpen("qdrant", failures=5, retry_after=3), "open", "qdrant"),
        (DependencyUnavailable("registry", "PostgreSQL is unavailable"), "x", "registry"),
        (DependencyUnavailable("postgres", "no answer in time"), "x", "registry"),
        (RegistryError("cannot write the registry"), "x", "registry"),
        (DependencyUnavailable("llm", "down"), "x", "internal"),
        (ValueError("bug"), "bug", "internal"),
    ],
)
def test_failure_reasons(exc: BaseException | None, message: str, reason: str) -> None:
    assert failure_reason(exc, message) == reason
    assert reason in INGESTION_FAILURE_REASONS
