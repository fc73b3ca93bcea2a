"""CORS at the edge (Kong's `cors` plugin): Starlette's middleware, with one change.

Starlette answers a refused preflight with a plain-text 400 that still carries
`Access-Control-Allow-Methods` and friends. ragplane answers every error as
problem+json, and a disallowed origin gets no CORS headers at all (only `Vary: Origin`,
so caches keep answers per origin apart): a 403 problem here. Everything else — allowed
preflights (200 with the `Access-Control-*` headers), simple requests, `Vary: Origin` —
is Starlette's.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from ragplane.kit.errors import TYPE_PREFIX, Forbidden, ProblemResponse
from ragplane.settings_gateway import GatewaySettings

METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
REQUEST_HEADERS = ("Authorization", "Content-Type", "X-Request-ID")
EXPOSED_HEADERS = (
    "X-Request-ID",
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
