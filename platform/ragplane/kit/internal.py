"""Operator routes under `/internal`: clear caches, show the running configuration.

They sit behind the service token like every non-health route, and every call is
logged, so an operator action is always traceable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger("ragplane.internal")


class Clearable(Protocol):
    def clear(self) -> int:
        """Drop every entry; return how many there were."""
        ...


def internal_routes(config: Callable[[], Mapping[str, Any]], caches: Mapping[str, Clearable]) -> list[Route]:
    async def clear_caches(request: Request) -> Response:
        cleared = {name: cache.clear() for name, cache in caches.items()}
        log.info("caches cleared", extra={"fields": {"event": "cache_cleared", "cleared": cleared}})
        return JSONResponse({"cleared": cleared})

    async def show_config(request: Request) -> Response:
        return JSONResponse({"settings": dict(config())})

    return [
        Route("/internal/cache/clear", clear_caches, methods=["POST"]),
        Route("/internal/config", show_config, methods=["GET"]),
    ]
