"""CORS at the edge (Kong's `cors` plugin): Starlette's middleware, with two changes.

A disallowed origin gets no CORS headers at all, only `Vary: Origin` (so caches keep
answers per origin apart). Starlette answers a refused preflight with a plain-text 400
that still carries `Access-Control-Allow-Methods` and friends: a 403 problem here, as
ragplane answers every error. And Starlette adds `Access-Control-Allow-Credentials` and
`Access-Control-Expose-Headers` to every response to a request with an `Origin`, allowed
or not: here only allowed origins get them. Everything else — allowed preflights (200 with
the `Access-Control-*` headers), simple requests from allowed origins — is Starlette's.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Send

from ragplane.errors import Forbidden
from ragplane.kit.problems import TYPE_PREFIX, ProblemResponse
from ragplane.settings import GatewaySettings

METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
REQUEST_HEADERS = ("Authorization", "Content-Type", "X-Request-ID")
EXPOSED_HEADERS = (
    "X-Request-ID",
    "traceresponse",
    "Retry-After",
    "X-RateLimit-Limit-Minute",
    "X-RateLimit-Remaining-Minute",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-API-Version",
    "Deprecation",
    "Link",
)


class EdgeCORS(CORSMiddleware):
    def __init__(self, app: ASGIApp, *, settings: GatewaySettings) -> None:
        super().__init__(
            app,
            allow_origins=settings.cors_allowed_origins,
            allow_methods=METHODS,
            allow_headers=REQUEST_HEADERS,
            allow_credentials=settings.cors_allow_credentials,
            expose_headers=EXPOSED_HEADERS,
            max_age=settings.cors_max_age_s,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        reason = bytes(response.body).decode(errors="replace")
        return ProblemResponse(
            403,
            f"CORS preflight refused: {reason.lower()}. Allowed origins are set with CORS_ALLOWED_ORIGINS.",
            headers={"Vary": "Origin"},
            type_=TYPE_PREFIX + Forbidden.slug,
        )

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if origin is None or self.is_allowed_origin(origin):
            await super().send(message, send, request_headers)
            return
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
        await send(message)
