"""Circuit breakers around dependencies, one per name (embedder, qdrant, llm, ...).

The state machine is purgatory's (asyncio-native, per-breaker thresholds, state-change
hooks); `circuitbreaker`, the other common choice, reports transitions through no hook, so
transition metrics and logs could not be emitted without reaching into private methods.
This module adds what neither library has: a call timeout, exactly one probe in
half-open (other calls are refused while it runs), the 503-with-Retry-After contract,
metrics, and a reset for operators.

Every call gets a verdict that drives purgatory's state model: a failure
(`DependencyUnavailable`: unreachable, timed out, 5xx, a bad answer), answered (success,
or a refusal caused by the request: `DependencyRejected`, a missing collection), or none —
a caller that went away, a bug of ours, or a call that began before the state changed says
nothing about the dependency and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.messages.events import ContextChanged
from purgatory.domain.model import ClosedState, Context, OpenedState

from ragplane.errors import (
    CircuitOpen,
    CollectionExists,
    CollectionNotFound,
    DependencyError,
    DependencyRejected,
    DependencyUnavailable,
)
from ragplane.kit.faults import Faults
from ragplane.settings import BreakerSettings, ResilienceSettings
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

T = TypeVar("T")

STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}
_STATES = {"closed": "closed", "opened": "open", "half-opened": "half_open"}
# The dependency answered, even if it said no: that is not a failure of the dependency.
ANSWERED = (DependencyRejected, CollectionNotFound, CollectionExists)
PROBE_BUSY_RETRY_AFTER_S = 1
DEFAULT_SETTINGS = BreakerSettings()

log = logging.getLogger("ragplane.breakers")


class _Metrics:
    def __init__(self, metrics: ServiceMetrics) -> None:
        self.state = metrics.gauge(catalog.CIRCUIT_BREAKER_STATE)
        self.transitions = metrics.counter(catalog.CIRCUIT_BREAKER_TRANSITIONS)
        self.rejected = metrics.counter(catalog.CIRCUIT_BREAKER_REJECTED)
        self.errors = metrics.counter(catalog.DEPENDENCY_ERRORS)


class Breaker:
    """One dependency's breaker. `call(fn)` runs `fn` under it."""

    def __init__(
        self,
        name: str,
        config: BreakerSettings,
        factory: AsyncCircuitBreakerFactory,
        *,
        enabled: bool,
        metrics: _Metrics,
        faults: Faults | None = None,
    ) -> None:
        self.name = name
        self._faults = faults
        self.config = config
        self.enabled = enabled
        self._factory = factory
        self._context: Context | None = None
        self._probing = False
        self._metrics = metrics
        self.failures = 0  # consecutive; purgatory forgets its count once the breaker opens

    @property
    def state(self) -> str:
        """closed, half_open or open (open stays open until the next call probes, however late)."""
        return "closed" if self._context is None else _STATES[self._context.state]

    def retry_after(self) -> int:
        """Whole seconds until a probe may run; 0 when one may run now."""
        context = self._context
        if context is None or context.opened_at is None or self.state != "open":
            return 0
        return max(0, math.ceil(context.opened_at + self.config.recovery_s - time.time()))

    def snapshot(self) -> dict[str, Any]:
        context = self._context
        opened_at = context.opened_at if context is not None and self.state != "closed" else None
        return {
            "state": self.state,
            "failures": self.failures,
            "opened_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(opened_at)) if opened_at else None,
            "retry_after_seconds": self.retry_after(),
            "enabled": self.enabled,
        }

    def blocking(self) -> bool:
        """Open and not yet due for a probe: calls would be refused right now."""
        return self.enabled and self.state == "open" and self.retry_after() > 0

    def check(self) -> None:
        """Refuse now (CircuitOpen) if a call would be refused, without starting one: while open,
        and while the one half-open probe is in flight (callers should not queue behind it)."""
        if self.blocking():
            self._reject(self.retry_after())
        if self.enabled and self._probing:
            self._reject(PROBE_BUSY_RETRY_AFTER_S)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        if self._faults is not None:
            fn = self._faults.wrap(self.name, fn)
        if not self.enabled:
            try:
                return await fn()
            except DependencyError as exc:
                self._metrics.errors.labels(dependency=self.name, kind=exc.kind).inc()
                raise
        return await self._guarded(fn)

    async def _guarded(self, fn: Callable[[], Awaitable[T]]) -> T:
        context = self._context or await self._create()
        self.check()
        probe = self.state != "closed"  # half-open, or open and due: this call decides
        if probe:
            self._probing = True
        try:
            try:
                context.handle_new_request()  # open and due: now half-open
            except OpenedState:  # a concurrent failure opened it after our check
                self._reject(self.retry_after())
            await self._publish(context)
            epoch = (context.state, context.opened_at)
            verdict: BaseException | bool | None = None  # a failure, True for "answered", None for no verdict
            try:
                async with asyncio.timeout(self.config.call_timeout_s):
                    result = await fn()
                verdict = True
                return result
            except TimeoutError as exc:
                message = f"no answer within {self.config.call_timeout_s:g} s"
                verdict = DependencyUnavailable(self.name, message, kind="timeout")
                raise verdict from exc
            except DependencyUnavailable as exc:
                verdict = exc
                raise
            except ANSWERED:
                verdict = True
                raise
            finally:
                # A call that began before the state changed says nothing about the new state;
                # a cancelled call or a bug of ours says nothing about the dependency.
                if verdict is not None and (context.state, context.opened_at) == epoch:
                    await self._record(context, verdict)
        except DependencyError as exc:
            if not isinstance(exc, CircuitOpen):  # _reject counted it
                self._metrics.errors.labels(dependency=self.name, kind=exc.kind).inc()
            raise
        finally:
            if probe:
                self._probing = False

    async def _record(self, context: Context, verdict: BaseException | bool) -> None:
        if verdict is True:
            self.failures = 0
            context.handle_end_request()
        else:
            assert isinstance(verdict, BaseException)
            self.failures += 1
            context.handle_exception(verdict)
        await self._publish(context)

    async def _create(self) -> Context:
        breaker = await self._factory.get_breaker(self.name, self.config.failure_threshold, self.config.recovery_s)
        self._context = breaker.context
        return breaker.context

    def _reject(self, retry_after: int) -> None:
        self._metrics.rejected.labels(breaker=self.name).inc()
        self._metrics.errors.labels(dependency=self.name, kind="circuit_open").inc()
        raise CircuitOpen(self.name, failures=self.failures, retry_after=retry_after)

    async def reset(self) -> None:
        """Force the breaker closed (an operator knows the dependency is back)."""
        context = self._context or await self._create()
        self.failures = 0
        if self.state != "closed":
            context.set_state(ClosedState())
            await self._publish(context)

    async def _publish(self, context: Context) -> None:
        """Deliver pending state changes to the hooks (purgatory does so only when a call ends)."""
        while context.messages:
            await self._factory.messagebus.handle(context.messages.pop(0), self._factory.uow)


class Breakers:
    """The breakers of one service. Adding one is one name in `names` (and its settings)."""

    def __init__(
        self,
        names: Iterable[str],
        *,
        settings: Mapping[str, BreakerSettings],
        defaults: BreakerSettings = DEFAULT_SETTINGS,
        enabled: bool,
        metrics: ServiceMetrics,
        faults: Faults | None = None,
    ) -> None:
        self.faults = faults
        self._metrics = _Metrics(metrics)
        self._factory = AsyncCircuitBreakerFactory()
        self._factory.add_listener(self._changed)
        self._breakers = {
            name: Breaker(
                name,
                settings.get(name, defaults),
                self._factory,
                enabled=enabled,
                metrics=self._metrics,
                faults=faults,
            )
            for name in names
        }
        for name in self._breakers:
            self._metrics.state.labels(breaker=name).set(0)
            self._metrics.transitions.prime(breaker=name)
            self._metrics.rejected.labels(breaker=name)
            self._metrics.errors.prime(dependency=name)

    def __getitem__(self, name: str) -> Breaker:
        return self._breakers[name]

    def __contains__(self, name: object) -> bool:
        return name in self._breakers

    def __iter__(self) -> Iterator[Breaker]:
        return iter(self._breakers.values())

    def describe(self) -> dict[str, dict[str, Any]]:
        return {name: breaker.snapshot() for name, breaker in self._breakers.items()}

    def _changed(self, name: str, event_type: str, event: Any) -> None:
        """purgatory's hook: publish every state change as metrics and a log line."""
        if event_type != "state_changed" or not isinstance(event, ContextChanged):
            return
        state = _STATES[event.state]
        self._metrics.state.labels(breaker=event.name).set(STATE_VALUES[state])
        self._metrics.transitions.labels(breaker=event.name, to=state).inc()
        level = logging.WARNING if state == "open" else logging.INFO
        log.log(
            level,
            "circuit breaker %s is %s",
            event.name,
            state,
            extra={"fields": {"event": "circuit_breaker", "breaker": event.name, "state": state}},
        )


def service_breakers(names: Iterable[str], settings: ResilienceSettings, metrics: ServiceMetrics) -> Breakers:
    """A service's breakers configured from its resilience settings, with fault injection for drills."""
    return Breakers(
        names,
        settings=settings.circuit_breakers,
        defaults=settings.circuit_breaker_defaults,
        enabled=settings.circuit_breaker_enabled,
        metrics=metrics,
        faults=Faults(enabled=settings.fault_injection),
    )
