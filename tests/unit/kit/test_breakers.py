"""Circuit breakers: the state machine (purgatory's), the probe, timeouts, metrics, faults."""

import asyncio
import time

import pytest

from ragplane.errors import CircuitOpen, CollectionNotFound, DependencyRejected, DependencyUnavailable
from ragplane.kit.breakers import Breakers
from ragplane.kit.faults import Faults
from ragplane.settings import BreakerSettings
from ragplane.telemetry.metrics import ServiceMetrics

FAST = BreakerSettings(failure_threshold=3, call_timeout_s=0.2, recovery_s=0.3)


class Dependency:
    def __init__(self) -> None:
        self.calls = 0
        self.fail: Exception | None = DependencyUnavailable("embedder", "down", kind="unreachable")
        self.delay = 0.0

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail:
            raise self.fail
        return "ok"


def make(enabled: bool = True, faults: Faults | None = None) -> tuple[Breakers, ServiceMetrics]:
    metrics = ServiceMetrics("query")
    return Breakers(["embedder"], settings={"embedder": FAST}, enabled=enabled, metrics=metrics, faults=faults), metrics


def sample(metrics: ServiceMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"service": "query", **labels})


async def fail_times(breaker, dependency: Dependency, n: int) -> None:
    for _ in range(n):
        with pytest.raises(DependencyUnavailable):
            await breaker.call(dependency)


def test_opens_after_consecutive_failures_and_fails_fast() -> None:
    async def scenario() -> None:
        breakers, metrics = make()
        breaker, dependency = breakers["embedder"], Dependency()
        await fail_times(breaker, dependency, 3)
        assert breaker.state == "open" and dependency.calls == 3
        started = time.perf_counter()
        with pytest.raises(CircuitOpen) as caught:
            await breaker.call(dependency)
        assert time.perf_counter() - started < 0.05
        assert dependency.calls == 3, "no call reaches a dependency known to be down"
        assert caught.value.retry_after == 1 and caught.value.failures == 3
        assert "circuit breaker 'embedder' is open after 3 consecutive failures" in caught.value.message
        assert sample(metrics, "ragplane_circuit_breaker_state", breaker="embedder") == 2
        assert sample(metrics, "ragplane_circuit_breaker_transitions_total", breaker="embedder", to="open") == 1
        assert sample(metrics, "ragplane_circuit_breaker_rejected_total", breaker="embedder") == 1
        errors = "ragplane_dependency_errors_total"
        assert sample(metrics, errors, dependency="embedder", kind="unreachable") == 3
        assert sample(metrics, errors, dependency="embedder", kind="circuit_open") == 1
        snapshot = breakers.describe()["embedder"]
        assert snapshot["state"] == "open" and snapshot["failures"] == 3 and snapshot["opened_at"].endswith("Z")
        assert snapshot["retry_after_seconds"] == 1 and breaker.blocking()

    asyncio.run(scenario())


def test_a_success_resets_the_count_and_refusals_never_count() -> None:
    async def scenario() -> None:
        breakers, _ = make()
        breaker, dependency = breakers["embedder"], Dependency()
        await fail_times(breaker, dependency, 2)
        dependency.fail = None
        assert await breaker.call(dependency) == "ok"
        assert breaker.failures == 0
        for refusal in (DependencyRejected("embedder", "bad input"), CollectionNotFound("x")):
            dependency.fail = refusal
            for _ in range(5):
                with pytest.raises(type(refusal)):
                    await breaker.call(dependency)
        assert breaker.state == "closed"

    asyncio.run(scenario())


def test_after_the_recovery_time_one_probe_closes_or_reopens() -> None:
    async def scenario() -> None:
        breakers, metrics = make()
        breaker, dependency = breakers["embedder"], Dependency()
        await fail_times(breaker, dependency, 3)
        await asyncio.sleep(FAST.recovery_s + 0.05)
        assert breaker.retry_after() == 0 and not breaker.blocking()
        # failed probe: open again at once
        await fail_times(breaker, dependency, 1)
        assert breaker.state == "open" and dependency.calls == 4
        assert sample(metrics, "ragplane_circuit_breaker_transitions_total", breaker="embedder", to="half_open") == 1
        assert sample(metrics, "ragplane_circuit_breaker_transitions_total", breaker="embedder", to="open") == 2
        await asyncio.sleep(FAST.recovery_s + 0.05)
        # successful probe: closed, and one probe at a time
        dependency.fail, dependency.delay = None, 0.1
        probe = asyncio.create_task(breaker.call(dependency))
        await asyncio.sleep(0.01)
        assert breaker.state == "half_open"
        assert sample(metrics, "ragplane_circuit_breaker_state", breaker="embedder") == 1
        with pytest.raises(CircuitOpen) as busy:
            await breaker.call(dependency)
        assert busy.value.retry_after == 1
        assert await probe == "ok"
        assert breaker.state == "closed" and dependency.calls == 5
        assert sample(metrics, "ragplane_circuit_breaker_state", breaker="embedder") == 0

    asyncio.run(scenario())


def test_a_slow_call_times_out_and_counts() -> None:
    async def scenario() -> None:
        breakers, metrics = make()
        dependency = Dependency()
        dependency.fail, dependency.delay = None, 5
        with pytest.raises(DependencyUnavailable) as caught:
            await breakers["embedder"].call(dependency)
        assert caught.value.kind == "timeout" and breakers["embedder"].failures == 1
        assert sample(metrics, "ragplane_dependency_errors_total", dependency="embedder", kind="timeout") == 1

    asyncio.run(scenario())


def test_disabled_breakers_let_every_call_through() -> None:
    async def scenario() -> None:
        breakers, metrics = make(enabled=False)
        dependency = Dependency()
        await fail_times(breakers["embedder"], dependency, 10)
        assert dependency.calls == 10 and breakers["embedder"].state == "closed"
        assert not breakers["embedder"].blocking()
        assert sample(metrics, "ragplane_circuit_breaker_rejected_total", breaker="embedder") == 0
        assert breakers.describe()["embedder"]["enabled"] is False

    asyncio.run(scenario())


def test_reset_closes_an_open_breaker() -> None:
    async def scenario() -> None:
        breakers, metrics = make()
        breaker, dependency = breakers["embedder"], Dependency()
        await fail_times(breaker, dependency, 3)
        await breaker.reset()
        assert breaker.state == "closed" and breaker.failures == 0
        assert sample(metrics, "ragplane_circuit_breaker_state", breaker="embedder") == 0
        dependency.fail = None
        assert await breaker.call(dependency) == "ok"

    asyncio.run(scenario())


def test_injected_faults_trip_the_breaker_then_expire() -> None:
    async def scenario() -> None:
        faults = Faults(enabled=True)
        breakers, _ = make(faults=faults)
        breaker, dependency = breakers["embedder"], Dependency()
        dependency.fail = None
        faults.inject("embedder", seconds=0.2)
        assert set(faults.active()) == {"embedder"}
        await fail_times(breaker, dependency, 3)
        assert dependency.calls == 0 and breaker.state == "open"
        await asyncio.sleep(0.25)
        assert faults.active() == {}
        await asyncio.sleep(FAST.recovery_s)
        assert await breaker.call(dependency) == "ok"
        faults.inject("embedder", seconds=0.1, mode="hang")
        started = time.perf_counter()
        with pytest.raises(DependencyUnavailable):
            await breaker.call(dependency)
        assert time.perf_counter() - started >= 0.09
        assert faults.clear("embedder") and not faults.clear("embedder")

    asyncio.run(scenario())


def test_a_delay_fault_slows_calls_down_and_counts_as_a_failure_only_past_the_timeout() -> None:
    async def scenario() -> None:
        faults = Faults(enabled=True)
        breakers, _ = make(faults=faults)
        breaker, dependency = breakers["embedder"], Dependency()
        dependency.fail = None
        faults.inject("embedder", seconds=5, mode="delay", latency_s=0.05)
        assert faults.active()["embedder"]["latency_ms"] == 50
        started = time.perf_counter()
        assert await breaker.call(dependency) == "ok"  # the real call still happens, late
        assert time.perf_counter() - started >= 0.05 and dependency.calls == 1
        assert breaker.state == "closed" and breaker.failures == 0
        faults.inject("embedder", seconds=5, mode="delay", latency_s=FAST.call_timeout_s + 0.05)
        await fail_times(breaker, dependency, FAST.failure_threshold)  # abandoned at the call timeout
        assert breaker.state == "open"

    asyncio.run(scenario())


def test_a_delay_needs_a_latency_and_only_a_delay_takes_one() -> None:
    faults = Faults(enabled=True)
    with pytest.raises(ValueError, match="delay fault needs a positive latency"):
        faults.inject("embedder", seconds=1, mode="delay")
    with pytest.raises(ValueError, match="delay fault needs a positive latency"):
        faults.inject("embedder", seconds=1, mode="error", latency_s=0.1)
    assert faults.active() == {}


def test_known_series_exist_at_zero() -> None:
    _, metrics = make()
    assert sample(metrics, "ragplane_circuit_breaker_state", breaker="embedder") == 0
    for state in ("closed", "half_open", "open"):
        assert sample(metrics, "ragplane_circuit_breaker_transitions_total", breaker="embedder", to=state) == 0
    assert sample(metrics, "ragplane_dependency_errors_total", dependency="embedder", kind="timeout") == 0


def test_a_cancelled_probe_decides_nothing() -> None:
    async def scenario() -> None:
        breakers, _ = make()
        breaker, dependency = breakers["embedder"], Dependency()
        await fail_times(breaker, dependency, 3)
        await asyncio.sleep(FAST.recovery_s + 0.05)
        dependency.fail, dependency.delay = None, 5
        probe = asyncio.create_task(breaker.call(dependency))
        await asyncio.sleep(0.01)
        probe.cancel()  # the client hung up mid-probe
        await asyncio.gather(probe, return_exceptions=True)
        assert breaker.state == "half_open" and not breaker.blocking()
        dependency.delay = 0
        assert await breaker.call(dependency) == "ok"  # the next call is the probe
        assert breaker.state == "closed"

    asyncio.run(scenario())


def test_answers_reset_the_count_and_our_own_bugs_do_not_count() -> None:
    async def scenario() -> None:
        breakers, _ = make()
        breaker, dependency = breakers["embedder"], Dependency()
        await fail_times(breaker, dependency, 2)
        dependency.fail = CollectionNotFound("x")  # the dependency answered
        with pytest.raises(CollectionNotFound):
            await breaker.call(dependency)
        assert breaker.failures == 0
        dependency.fail = KeyError("a bug of ours")
        for _ in range(5):
            with pytest.raises(KeyError):
                await breaker.call(dependency)
        assert breaker.state == "closed" and breaker.failures == 0

    asyncio.run(scenario())


def test_a_call_that_began_before_the_breaker_opened_cannot_close_it() -> None:
    async def scenario() -> None:
        breakers, _ = make()
        breaker = breakers["embedder"]
        slow = Dependency()
        slow.fail, slow.delay = None, 0.1
        late = asyncio.create_task(breaker.call(slow))
        await asyncio.sleep(0.01)
        await fail_times(breaker, Dependency(), 3)
        assert await late == "ok"
        assert breaker.state == "open" and breaker.failures == 3

    asyncio.run(scenario())


def test_resetting_a_closed_breaker_is_not_a_transition() -> None:
    async def scenario() -> ServiceMetrics:
        breakers, metrics = make()
        await breakers["embedder"].reset()
        return metrics

    metrics = asyncio.run(scenario())
    assert sample(metrics, "ragplane_circuit_breaker_transitions_total", breaker="embedder", to="closed") == 0


def test_unknown_breakers_take_the_configured_defaults() -> None:
    defaults = BreakerSettings(failure_threshold=2, call_timeout_s=1, recovery_s=1)
    breakers = Breakers(["new"], settings={}, defaults=defaults, enabled=True, metrics=ServiceMetrics("query"))
    assert breakers["new"].config == defaults
