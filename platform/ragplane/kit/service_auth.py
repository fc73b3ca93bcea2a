"""Service-to-service authentication with a shared secret in `X-Service-Token`.

Query and collections trust only callers that hold `INTER_SERVICE_SECRET` (the gateway
adds it; users never see it). Tokens are compared in constant time against the current
secret and, during a rotation, the previous one. Liveness, readiness and metrics stay
open so orchestrators and Prometheus need no secret.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ragplane.errors import Forbidden
from ragplane.kit.problems import problem_from_error
from ragplane.kit.tracing import current_trace_id
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

HEADER = "X-Service-Token"
OPEN_PATHS = frozenset({"/health", "/health/ready", "/metrics"})


def check_token(presented: str | None, accepted: Sequence[str]) -> str:
    """`ok`, `missing` or `invalid`; every accepted secret is compared, in constant time."""
    if not presented:
        return "missing"
    given = presented.encode()
    matched = False
    for secret in accepted:
        matched |= hmac.compare_digest(given, secret.encode())
    return "ok" if matched else "invalid"


class ServiceAuthMiddleware:
    """Answers 403 problem+json unless the request carries a valid service token."""

    def __init__(self, app: ASGIApp, *, secrets: Sequence[str], metrics: ServiceMetrics) -> None:
        if not secrets:
            raise ValueError("service authentication needs at least one secret (INTER_SERVICE_SECRET)")
        self.app = app
        self.secrets = tuple(secrets)
        self.checks = metrics.counter(catalog.SERVICE_AUTH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        result = check_token(Headers(scope=scope).get(HEADER), self.secrets)
        self.checks.labels(result=result).inc()
        if result == "ok":
            await self.app(scope, receive, send)
            return
        detail = (
            f"{HEADER} header is required: this service only answers other ragplane services. Call the gateway instead."
            if result == "missing"
            else f"{HEADER} is not valid."
        )
        response = problem_from_error(Forbidden(detail), instance=scope["path"], trace_id=current_trace_id())
        await response(scope, receive, send)
