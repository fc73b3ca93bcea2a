"""Turning exceptions into problem+json responses.

Handlers for Starlette's exception middleware map `ProblemError`, routing's
`HTTPException` (404, 405) and adapter failures (a dependency down: 503 with
Retry-After; a missing collection: 404) to RFC 9457 documents. A path that misses only by
a trailing slash gets a 404 that names the right one, never a redirect: a service knows only
its own address, and a `Location` built from it would leak past Kong or the gateway.
`UnhandledErrorMiddleware` catches
everything else once, logs it with its trace id and answers a 500 that carries the trace
id but never the stack trace.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragplane.adapters.errors import (
    CircuitOpen,
    CollectionExists,
    CollectionNotFound,
    DependencyError,
    DependencyUnavailable,
    SlotTimeout,
)
from ragplane.kit.errors import (
    BadGateway,
    Conflict,
    MethodNotAllowed,
    NotFound,
    ProblemError,
    ProblemResponse,
    ServiceUnavailable,
    problem_from_error,
)
from ragplane.kit.tracing import current_trace_id
from ragplane.kit.versioning import CURRENT_VERSION

log = logging.getLogger("ragplane.errors")


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_from_error(exc, instance=request.url.path, trace_id=current_trace_id())


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Routing's 404/405 (and any HTTPException a library raises) as problem documents."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        detail = f"No route matches {request.method} {request.url.path}."
        if (other := _slash_twin(request)) is not None:
            detail = f"No route matches {request.method} {request.url.path}; did you mean {other}?"
        return problem_from_error(NotFound(detail), instance=request.url.path, trace_id=current_trace_id())
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        error = MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}.",
            headers={"Allow": allowed} if allowed else None,
        )
        return problem_from_error(error, instance=request.url.path, trace_id=current_trace_id())
    return ProblemResponse(
        exc.status_code,
        str(exc.detail),
        headers=exc.headers,
        instance=request.url.path,
        trace_id=current_trace_id(),
    )


def _slash_twin(request: Request) -> str | None:
    """The path with its trailing slash toggled, when a route answers there."""
    path, router = request.url.path, request.scope.get("router")
    if path == "/" or router is None:
        return None
    twin = path.rstrip("/") if path.endswith("/") else path + "/"
    scope = {**request.scope, "path": twin}
    return twin if any(route.matches(scope)[0] is not Match.NONE for route in router.routes) else None


DEPENDENCY_RETRY_AFTER_S = 10


def dependency_problem(exc: Exception) -> ProblemError:
    """The client-facing problem for an adapter failure."""
    if isinstance(exc, CollectionNotFound):
        return NotFound(f"Collection {exc.name!r} does not exist.")
    if isinstance(exc, CollectionExists):
        return Conflict(f"Collection {exc.name!r} already exists.")
    if isinstance(exc, CircuitOpen):
        return ServiceUnavailable(
            f"{exc.dependency} is unavailable: {exc.message}",
            retry_after=exc.retry_after,
            dependency=exc.dependency,
            breaker=exc.dependency,
        )
    if isinstance(exc, SlotTimeout):
        return ServiceUnavailable(
            f"{exc.dependency}: {exc.message}", retry_after=exc.retry_after, dependency=exc.dependency
        )
    if isinstance(exc, DependencyUnavailable):
        return ServiceUnavailable(
            f"{exc.dependency} is unavailable: {exc.message}",
            retry_after=DEPENDENCY_RETRY_AFTER_S,
            dependency=exc.dependency,
        )
    assert isinstance(exc, DependencyError)
    return BadGateway(f"{exc.dependency} refused the request: {exc.message}", dependency=exc.dependency)


async def handle_dependency_error(request: Request, exc: Exception) -> Response:
    return await handle_problem(request, dependency_problem(exc))


EXCEPTION_HANDLERS = {
    ProblemError: handle_problem,
    HTTPException: handle_http_exception,
    DependencyError: handle_dependency_error,
    CollectionNotFound: handle_dependency_error,
    CollectionExists: handle_dependency_error,
}


class UnhandledErrorMiddleware:
    """Last line of defence: an unexpected exception becomes one logged 500 problem."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            trace_id = current_trace_id()
            log.exception(
                "unhandled error on %s %s",
                scope["method"],
                scope["path"],
                extra={"fields": {"event": "unhandled_error", "path": scope["path"]}},
            )
            if started:
                raise
            headers = {"X-API-Version": CURRENT_VERSION}  # versioning middleware is inside this one
            request_id = Headers(scope=scope).get("x-request-id")  # the gateway's edge put it in the scope
            if request_id:
                headers["X-Request-ID"] = request_id
            response = ProblemResponse(
                500,
                "The service hit an unexpected error. It has been logged; quote the trace_id when reporting it.",
                headers=headers,
                instance=scope["path"],
                trace_id=trace_id,
            )
            await response(scope, receive, send)
