"""Operator routes under `/internal`: caches, configuration, circuit breakers, fault drills.

They sit behind the service token like every non-health route, and every action is
logged, so an operator intervention is always traceable.

    POST   /internal/cache/clear               empty every cache of the service
    GET    /internal/config                    the running settings, secrets as ***
    GET    /internal/breakers                  every breaker's state
    POST   /internal/breakers/{name}/reset     force one closed
    GET    /internal/faults                    active injected faults
    POST   /internal/faults/{dependency}       {"seconds": 60, "mode": "error" | "hang" | "delay",
                                               "latency_ms": 300 (delay only)}
    DELETE /internal/faults/{dependency}       end a drill early
    GET    /internal/traces/{trace_id}         the service's recent spans of one trace (`ragplane trace`)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from opentelemetry.sdk.trace import TracerProvider
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ragplane.errors import Forbidden, NotFound, ValidationFailed
from ragplane.kit.breakers import Breaker, Breakers
from ragplane.kit.faults import MODES, Faults
from ragplane.kit.requests import read_json_object
from ragplane.kit.service_auth import HEADER, check_token
from ragplane.kit.spans import parse_trace_id, ring_of

MAX_FAULT_SECONDS = 3600
MAX_FAULT_LATENCY_MS = 60_000

log = logging.getLogger("ragplane.internal")


class Clearable(Protocol):
    async def clear(self) -> int:
        """Drop every entry; return how many there were."""
        ...


def _number_in(value: object, maximum: float) -> bool:
    """A JSON number (not a boolean) in (0, maximum]."""
    return not isinstance(value, bool) and isinstance(value, int | float) and 0 < value <= maximum


def internal_routes(
    config: Callable[[], Mapping[str, Any]],
    caches: Mapping[str, Clearable],
    breakers: Breakers | None = None,
) -> list[Route]:
    faults = breakers.faults if breakers is not None else None

    async def clear_caches(request: Request) -> Response:
        cleared = {name: await cache.clear() for name, cache in caches.items()}
        log.info("caches cleared", extra={"fields": {"event": "cache_cleared", "cleared": cleared}})
        return JSONResponse({"cleared": cleared})

    async def show_config(request: Request) -> Response:
        return JSONResponse({"settings": dict(config())})

    def breaker(request: Request) -> Breaker:
        name = request.path_params["name"]
        if breakers is None or name not in breakers:
            raise NotFound(f"No circuit breaker named {name!r}.")
        return breakers[name]

    async def list_breakers(request: Request) -> Response:
        return JSONResponse({"breakers": breakers.describe() if breakers is not None else {}})

    async def reset_breaker(request: Request) -> Response:
        target = breaker(request)
        before = target.state
        await target.reset()
        log.warning(
            "circuit breaker %s reset by an operator (was %s)",
            target.name,
            before,
            extra={"fields": {"event": "circuit_breaker_reset", "breaker": target.name, "was": before}},
        )
        return JSONResponse({"breaker": target.name, **target.snapshot()})

    def drills() -> Faults:
        if faults is None or not faults.enabled:
            raise Forbidden("Fault injection is disabled on this service (FAULT_INJECTION=false).")
        return faults

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"faults": drills().active()})

    async def inject_fault(request: Request) -> Response:
        target = drills()
        dependency = request.path_params["dependency"]
        if breakers is None or dependency not in breakers:
            raise NotFound(f"No dependency named {dependency!r} on this service.")
        body = await read_json_object(request, 4096)
        seconds, mode, latency_ms = body.get("seconds", 60), body.get("mode", "error"), body.get("latency_ms")
        errors = []
        if not _number_in(seconds, MAX_FAULT_SECONDS):
            errors.append(("seconds", f"must be a number in (0, {MAX_FAULT_SECONDS}]"))
        if mode not in MODES:
            errors.append(("mode", f"must be one of {', '.join(MODES)}"))
        if mode == "delay" and not _number_in(latency_ms, MAX_FAULT_LATENCY_MS):
            errors.append(("latency_ms", f"mode delay needs a number in (0, {MAX_FAULT_LATENCY_MS}]"))
        if mode != "delay" and latency_ms is not None:
            errors.append(("latency_ms", "applies to mode delay only"))
        if errors:
            raise ValidationFailed(errors)
        latency_s = float(latency_ms) / 1000 if mode == "delay" and latency_ms is not None else 0.0
        target.inject(dependency, seconds=float(seconds), mode=mode, latency_s=latency_s)
        return JSONResponse({"faults": target.active()})

    async def clear_fault(request: Request) -> Response:
        if not drills().clear(request.path_params["dependency"]):
            raise NotFound(f"No active fault on {request.path_params['dependency']!r}.")
        return Response(status_code=204)

    return [
        Route("/internal/cache/clear", clear_caches, methods=["POST"]),
        Route("/internal/config", show_config, methods=["GET"]),
        Route("/internal/breakers", list_breakers, methods=["GET"]),
        Route("/internal/breakers/{name}/reset", reset_breaker, methods=["POST"]),
        Route("/internal/faults", list_faults, methods=["GET"]),
        Route("/internal/faults/{dependency}", inject_fault, methods=["POST"]),
        Route("/internal/faults/{dependency}", clear_fault, methods=["DELETE"]),
    ]


def trace_routes(provider: TracerProvider, secrets: Sequence[str]) -> list[Route]:
    """`GET /internal/traces/{trace_id}`: the spans of one trace that `provider`'s ring still holds
    (`{"service", "trace_id", "spans": [...]}`; none held is an empty list, not a 404). It checks the
    service token itself, since the gateway, which is public, serves it too."""
    ring = ring_of(provider)

    async def show(request: Request) -> Response:
        if not secrets or check_token(request.headers.get(HEADER), secrets) != "ok":
            raise Forbidden(f"/internal/traces needs a valid {HEADER} header.")
        trace_id = parse_trace_id(request.path_params["trace_id"])
        service = ring.service if ring is not None else str(provider.resource.attributes.get("service.name", ""))
        spans = [span.as_json(service) for span in ring.trace(trace_id)] if ring is not None else []
        return JSONResponse({"service": service, "trace_id": format(trace_id, "032x"), "spans": spans})

    return [Route("/internal/traces/{trace_id}", show, methods=["GET"])]
