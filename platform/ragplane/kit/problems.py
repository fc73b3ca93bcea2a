"""Turning exceptions into problem+json responses (RFC 9457).

Starlette's exception middleware hands every `ragplane.errors.RagplaneError` to one handler,
which renders what `ragplane.errors.problem_for` (the one table) says the client gets, and
routing's `HTTPException` (404, 405) to another. A path that misses only by
a trailing slash gets a 404 that names the right one, never a redirect: a service knows only
its own address, and a `Location` built from it would leak past Kong or the gateway.
`UnhandledErrorMiddleware` catches
everything else once, logs it with its trace id and answers a 500 that carries the trace
id but never the stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragplane.errors import PROBLEMS, MethodNotAllowed, NotFound, ProblemError, RagplaneError, problem_for
from ragplane.kit.tracing import current_trace_id
from ragplane.kit.versioning import CURRENT_VERSION

log = logging.getLogger("ragplane.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:ragplane:problem:"
_BY_STATUS: dict[int, type[ProblemError]] = {cls.status: cls for cls in PROBLEMS}


def problem_type(status: int) -> str:
    cls = _BY_STATUS.get(status)
    return TYPE_PREFIX + (cls.slug if cls else "internal-error" if status >= 500 else "http-error")


def problem_document(
    status: int, detail: str, *, instance: str | None = None, type_: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The RFC 9457 body: type, title, status, detail, instance and extension members."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    doc: dict[str, Any] = {"type": type_ or problem_type(status), "title": title, "status": status, "detail": detail}
    if instance is not None:
        doc["instance"] = instance
    doc.update({k: v for k, v in extra.items() if v is not None})
    return doc


class ProblemResponse(Response):
    media_type = PROBLEM_JSON

    def __init__(self, status: int, detail: str, *, headers: Mapping[str, str] | None = None, **fields: Any) -> None:
        body = problem_document(status, detail, **fields)
        super().__init__(
            json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), status_code=status, headers=headers
        )


def problem_from_error(error: ProblemError, *, instance: str | None, trace_id: str | None) -> ProblemResponse:
    return ProblemResponse(
        error.status,
        error.detail,
        headers=error.headers,
        instance=instance,
        type_=TYPE_PREFIX + error.slug,
        trace_id=trace_id,
        **error.extra,
    )


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


async def handle_ragplane_error(request: Request, exc: Exception) -> Response:
    """Any exception of the tree, as `ragplane.errors.problem_for` maps it; a bug stays a bug (500)."""
    problem = problem_for(exc)
    if problem is None:
        raise exc
    return problem_from_error(problem, instance=request.url.path, trace_id=current_trace_id())


EXCEPTION_HANDLERS = {
    RagplaneError: handle_ragplane_error,
    HTTPException: handle_http_exception,
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
