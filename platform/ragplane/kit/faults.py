"""Injected faults for drills: make a dependency fail on purpose, for a while.

`POST /internal/faults/{dependency}` (service token required) makes every call to that
dependency fail (`mode: error`), hang (`mode: hang`: abandoned at the breaker's call
timeout, or, with breakers disabled, when the fault ends) or answer late (`mode: delay`:
`latency_s` added before the real call, the slow-dependency regression a load test must
catch) for `seconds`, then the fault expires by itself. The failure happens inside the
breaker-guarded call, so the breaker, the metrics, the alerts and the runbooks see exactly
what a real outage produces. `FAULT_INJECTION=false` turns the routes off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from ragplane.errors import DependencyUnavailable

T = TypeVar("T")
Mode = Literal["error", "hang", "delay"]
MODES: tuple[Mode, ...] = ("error", "hang", "delay")

log = logging.getLogger("ragplane.faults")


@dataclass(frozen=True)
class Fault:
    mode: Mode
    until: float  # time.monotonic()
    latency_s: float = 0.0  # mode delay only


class Faults:
    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._faults: dict[str, Fault] = {}

    def inject(self, dependency: str, *, seconds: float, mode: Mode = "error", latency_s: float = 0.0) -> None:
        if (mode == "delay") != (latency_s > 0):
            raise ValueError("a delay fault needs a positive latency, and only a delay fault takes one")
        self._faults[dependency] = Fault(mode, time.monotonic() + seconds, latency_s)
        fields = {"event": "fault_injected", "dependency": dependency, "mode": mode, "seconds": seconds}
        if mode == "delay":
            fields["latency_s"] = latency_s
        log.warning("fault injected into %s for %g s (%s)", dependency, seconds, mode, extra={"fields": fields})

    def clear(self, dependency: str) -> bool:
        found = self._faults.pop(dependency, None) is not None
        if found:
            log.warning(
                "fault cleared from %s",
                dependency,
                extra={"fields": {"event": "fault_cleared", "dependency": dependency}},
            )
        return found

    def active(self) -> dict[str, dict[str, object]]:
        now = time.monotonic()
        return {
            name: {
                "mode": fault.mode,
                "remaining_seconds": round(fault.until - now, 1),
                **({"latency_ms": round(fault.latency_s * 1000, 1)} if fault.mode == "delay" else {}),
            }
            for name, fault in self._faults.items()
            if fault.until > now
        }

    def wrap(self, dependency: str, fn: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        """`fn`, or a stand-in that fails like the dependency would while a fault is active."""
        fault = self._faults.get(dependency)
        if fault is None or fault.until <= time.monotonic():
            return fn

        if fault.mode == "delay":

            async def late() -> T:
                await asyncio.sleep(fault.latency_s)
                return await fn()

            return late

        async def failing() -> T:
            if fault.mode == "hang":
                await asyncio.sleep(max(0.0, fault.until - time.monotonic()))
            raise DependencyUnavailable(dependency, "an injected fault (drill) is active", kind="unavailable")

        return failing
