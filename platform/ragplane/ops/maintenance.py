"""`ragplane maintenance on|off|status`: the maintenance switch of a running gateway."""

from __future__ import annotations

from typing import Any

import httpx

from ragplane.errors import MaintenanceError
from ragplane.kit.service_auth import HEADER
from ragplane.ops.ingest_client import problem_text

PATH = "/internal/maintenance"


def switch(
    gateway_url: str, token: str, action: str, *, message: str | None = None, retry_after: int = 300
) -> dict[str, Any]:
    """Turn maintenance on or off, or read it (`action` on|off|status); returns the gateway's state."""
    with httpx.Client(base_url=gateway_url, headers={HEADER: token}, timeout=10) as client:
        if action == "on":
            body: dict[str, Any] = {"retry_after": retry_after, **({"message": message} if message else {})}
            response = client.put(PATH, json=body)
        elif action == "off":
            response = client.delete(PATH)
        else:
            response = client.get(PATH)
    if response.status_code != 200:
        raise MaintenanceError(f"{gateway_url}{PATH} answered {problem_text(response)}")
    state: dict[str, Any] = response.json()
    return state


def describe(state: dict[str, Any]) -> str:
    if not state.get("on"):
        return "maintenance is off"
    return f"maintenance is on (Retry-After {state['retry_after']} s): {state['message']}"
