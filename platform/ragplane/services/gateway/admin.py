"""The gateway's one admin route: `/internal/maintenance`, for operators holding the service token.

The gateway is public, so its `/internal/*` exists only here and in `/internal/traces`
(`kit.internal.trace_routes`), each checking the token itself (the other services guard every
route with it). `ragplane maintenance on|off|status` calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ragplane.errors import Forbidden, ValidationFailed
from ragplane.kit.requests import read_json_object
from ragplane.kit.service_auth import HEADER, check_token
from ragplane.services.gateway.maintenance import Maintenance, MaintenanceState

PATH = "/internal/maintenance"
MAX_MESSAGE = 500
MAX_RETRY_AFTER_S = 7 * 24 * 3600


def state_json(state: MaintenanceState) -> dict[str, Any]:
    return {"on": state.on, "message": state.message, "retry_after": state.retry_after_s, "since": state.since}


def maintenance_routes(maintenance: Maintenance, *, secrets: Sequence[str], default_message: str) -> list[Route]:
    def authorise(request: Request) -> None:
        if not secrets or check_token(request.headers.get(HEADER), secrets) != "ok":
            raise Forbidden(f"{PATH} needs a valid {HEADER} header.")

    async def show(request: Request) -> Response:
        authorise(request)
        return JSONResponse(state_json(await maintenance.current()))

    async def switch_on(request: Request) -> Response:
        authorise(request)
        body = await read_json_object(request, 16 * 1024)
        message = body.get("message", default_message)
        retry_after = body.get("retry_after", 300)
        errors = [(k, "is not a known field") for k in sorted(set(body) - {"message", "retry_after"})]
        if not isinstance(message, str) or not 0 < len(message.strip()) <= MAX_MESSAGE:
            errors.append(("message", f"must be a non-empty string of at most {MAX_MESSAGE} characters"))
        if (
            isinstance(retry_after, bool)
            or not isinstance(retry_after, int)
            or not 0 < retry_after <= MAX_RETRY_AFTER_S
        ):
            errors.append(("retry_after", f"must be an integer number of seconds in 1..{MAX_RETRY_AFTER_S}"))
        if errors:
            raise ValidationFailed(errors)
        return JSONResponse(state_json(await maintenance.switch_on(message.strip(), retry_after)))

    async def switch_off(request: Request) -> Response:
        authorise(request)
        return JSONResponse(state_json(await maintenance.switch_off()))

    return [
        Route(PATH, show, methods=["GET"]),
        Route(PATH, switch_on, methods=["PUT"]),
        Route(PATH, switch_off, methods=["DELETE"]),
    ]
