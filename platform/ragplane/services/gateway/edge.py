"""The edge in front of the proxy routes: Kong's plugins, in Kong's order.

For every request: headers over `max_header_bytes` in all are refused with 431 (nothing
that large is forwarded), and a request id (the caller's `X-Request-ID` when it is sane,
else a new one) goes upstream and comes back. For API routes only (`routing.is_api_path`), in order:
maintenance (503), the body limit (413), authentication (401), the plan's rate limit
(429); every API response carries the rate-limit headers. CORS wraps all of this (see
`app.py`), so even a 401, 429 or 503 is readable by an allowed browser origin, and a
preflight is answered before any token is asked for. `/health`, `/metrics` and the page
never pass through these checks: an operator can always see what is going on.

Refusals are problem+json rendered here: exception handlers sit inside the router, and
this runs outside it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragplane.errors import HeadersTooLarge, PayloadTooLarge, ProblemError
from ragplane.kit.problems import problem_from_error
from ragplane.kit.tracing import current_trace_id, trace_response
from ragplane.services.gateway.maintenance import Maintenance
from ragplane.services.gateway.routing import is_api_path

REQUEST_ID = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


class Consumer(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def plan(self) -> str: ...


class Authenticates(Protocol):
    def authenticate(self, authorization: Sequence[str], client_ip: str) -> Consumer: ...


class Decides(Protocol):
    def headers(self) -> dict[str, str]: ...


class Limits(Protocol):
    async def check(self, consumer_id: str, plan: str) -> Decides: ...


@dataclass(frozen=True)
class EdgePolicy:
    maintenance: Maintenance
    authenticator: Authenticates | None
    limits: Limits | None
    max_body_bytes: int
    max_header_bytes: int


def request_id(headers: Headers) -> str:
    """The caller's id when it is short and plain (it ends up in logs), else a fresh one."""
    given = headers.get(REQUEST_ID, "")
    return given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex


def header_bytes(scope: Scope) -> int:
    """The size of the request's header lines as sent (`name: value` and CRLF each)."""
    return sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def _sending(send: Send, extra: Callable[[], dict[str, str]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in extra().items():
                headers[name] = value
        await send(message)

    return wrapped


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive` that refuses the body past `limit` bytes (a chunked upload has no length to check first)."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(_too_large(limit))
        return message

    return wrapped


def _too_large(limit: int) -> str:
    return f"The request body is larger than this gateway accepts ({limit} bytes)."


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, policy: EdgePolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        rid = request_id(headers)
        # The id travels upstream as a request header (the proxy forwards the client's headers).
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != REQUEST_ID.encode()] + [
            (REQUEST_ID.encode(), rid.encode())
        ]
        reply_headers = {"X-Request-ID": rid, **trace_response()}
        send = _sending(send, lambda: reply_headers)
        try:
            self._check_headers(scope)
            if not is_api_path(scope["path"]):
                await self.app(scope, receive, send)
                return
            reply_headers.update(await self._admit(scope, headers))
        except ProblemError as error:
            response = problem_from_error(error, instance=scope["path"], trace_id=current_trace_id())
            await response(scope, receive, send)
            return
        await self.app(scope, _limited(receive, self.policy.max_body_bytes), send)

    def _check_headers(self, scope: Scope) -> None:
        size, limit = header_bytes(scope), self.policy.max_header_bytes
        if size > limit:
            raise HeadersTooLarge(f"The request's headers take {size} bytes; this gateway accepts at most {limit}.")

    async def _admit(self, scope: Scope, headers: Headers) -> dict[str, str]:
        policy = self.policy
        await policy.maintenance.check()
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > policy.max_body_bytes:
            raise PayloadTooLarge(_too_large(policy.max_body_bytes))
        if policy.authenticator is None:
            return {}
        client = scope.get("client")
        consumer = policy.authenticator.authenticate(headers.getlist("authorization"), client[0] if client else "")
        if policy.limits is None:
            return {}
        decision = await policy.limits.check(consumer.id, consumer.plan)
        return decision.headers()
