"""The status a query log entry records for a failed request: what the client was answered."""

import asyncio

import pytest

from ragplane.errors import CircuitOpen, CollectionNotFound, DependencyRejected, DependencyUnavailable, ValidationFailed
from ragplane.services.query.api import CLIENT_CLOSED, _status_of


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (CollectionNotFound("docs"), 404),
        (ValidationFailed([("query", "is required")]), 422),
        (DependencyUnavailable("qdrant", "down"), 503),
        (CircuitOpen("embedder", failures=5, retry_after=10), 503),
        (DependencyRejected("llm", "bad request"), 502),
        (asyncio.CancelledError(), CLIENT_CLOSED),
        (RuntimeError("bug"), 500),
    ],
)
def test_failures_are_logged_with_the_status_the_client_gets(error: BaseException, status: int) -> None:
    assert _status_of(error) == status
