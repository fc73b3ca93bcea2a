"""GPU slot coordination (seed 1.4.2): ten cases."""

import asyncio

import pytest

from ragplane.adapters.gpu import GpuSlots, Priority
from ragplane.adapters.guarded import SlotUser, watch_slots
from ragplane.errors import SlotTimeout
from ragplane.telemetry.metrics import ServiceMetrics


def run(coro):
    return asyncio.run(coro)


async def hold(slots: GpuSlots, log: list, name: str, priority=Priority.INTERACTIVE, seconds=0.0) -> None:
    async with slots.acquire("embedder", priority):
        log.append(name)
        await asyncio.sleep(seconds)


def test_acquire_and_release() -> None:
    async def scenario() -> None:
        slots = GpuSlots(2, 1)
        async with slots.acquire("embedder") as waited:
            assert slots.in_use == 1 and waited < 0.1
            async with slots.acquire("embedder"):
                assert slots.in_use == 2
        assert slots.in_use == 0

    run(scenario())


def test_a_wait_longer_than_the_queue_timeout_is_refused() -> None:
    async def scenario() -> None:
        slots = GpuSlots(1, 0.05)
        async with slots.acquire("llm"):
            with pytest.raises(SlotTimeout) as caught:
                async with slots.acquire("llm"):
                    pass
        assert caught.value.dependency == "llm" and caught.value.retry_after >= 1
        assert caught.value.kind == "slot_timeout"
        assert slots.in_use == 0 and slots.queue_depth == 0

    run(scenario())


def test_waiters_are_served_first_come_first_served() -> None:
    async def scenario() -> list:
        slots, log = GpuSlots(1, 5), []
        async with slots.acquire("embedder"):
            tasks = []
            for name in "abcde":
                tasks.append(asyncio.create_task(hold(slots, log, name)))
                await asyncio.sleep(0)  # queue them in order
            assert slots.queue_depth == 5
        await asyncio.gather(*tasks)
        return log

    assert run(scenario()) == list("abcde")


def test_interactive_calls_go_before_batch_calls() -> None:
    async def scenario() -> list:
        slots, log = GpuSlots(1, 5), []
        async with slots.acquire("embedder"):
            batch = [asyncio.create_task(hold(slots, log, f"batch{i}", Priority.BATCH)) for i in range(3)]
            await asyncio.sleep(0)
            query = asyncio.create_task(hold(slots, log, "query"))
            await asyncio.sleep(0)
        await asyncio.gather(*batch, query)
        return log

    assert run(scenario()) == ["query", "batch0", "batch1", "batch2"]


def test_a_cancelled_waiter_leaves_the_line() -> None:
    async def scenario() -> None:
        slots, log = GpuSlots(1, 5), []
        async with slots.acquire("embedder"):
            leaver = asyncio.create_task(hold(slots, log, "leaver"))
            stayer = asyncio.create_task(hold(slots, log, "stayer"))
            await asyncio.sleep(0)
            leaver.cancel()  # e.g. the client disconnected
            await asyncio.sleep(0)
            assert slots.queue_depth == 1
        await asyncio.gather(stayer, return_exceptions=True)
        assert log == ["stayer"] and slots.in_use == 0

    run(scenario())


def test_cancelling_a_holder_releases_its_slot() -> None:
    async def scenario() -> None:
        slots, log = GpuSlots(1, 5), []
        holder = asyncio.create_task(hold(slots, log, "holder", seconds=10))
        await asyncio.sleep(0.01)
        assert slots.in_use == 1
        holder.cancel()
        await asyncio.gather(holder, return_exceptions=True)
        assert slots.in_use == 0
        await hold(slots, log, "next")
        assert log == ["holder", "next"]

    run(scenario())


def test_a_slot_handed_over_at_the_last_moment_is_passed_on() -> None:
    async def scenario() -> None:
        slots, log = GpuSlots(1, 5), []
        async with slots.acquire("embedder"):
            late = asyncio.create_task(hold(slots, log, "late"))
            after = asyncio.create_task(hold(slots, log, "after"))
            await asyncio.sleep(0)
        late.cancel()  # cancelled after the release handed it the slot, before it ran
        await asyncio.gather(late, after, return_exceptions=True)
        assert log == ["after"] and slots.in_use == 0

    run(scenario())


def test_no_leak_after_exceptions() -> None:
    async def scenario() -> None:
        slots = GpuSlots(2, 1)
        for _ in range(10):
            with pytest.raises(RuntimeError):
                async with slots.acquire("embedder"):
                    raise RuntimeError("model crashed")
        assert slots.in_use == 0 and slots.queue_depth == 0

    run(scenario())


def test_metrics_follow_the_pool() -> None:
    async def scenario(metrics: ServiceMetrics) -> None:
        slots = GpuSlots(1, 0.05)
        watch_slots(slots, metrics)
        user = SlotUser(slots, metrics, "embed", Priority.INTERACTIVE, "embedder")

        class Guard:
            name = "embedder"

            async def call(self, fn):
                return await fn()

        async def busy() -> None:
            assert sample("ragplane_gpu_slots_in_use") == 1
            await asyncio.sleep(0.1)

        first = asyncio.create_task(user.run(Guard(), busy))
        await asyncio.sleep(0.01)
        waiting = asyncio.create_task(user.run(Guard(), busy))
        await asyncio.sleep(0.01)
        assert sample("ragplane_gpu_queue_depth") == 1
        with pytest.raises(SlotTimeout):
            await waiting
        await first

    metrics = ServiceMetrics("query")

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"service": "query", **labels})

    run(scenario(metrics))
    assert sample("ragplane_gpu_wait_seconds_count", kind="embed") == 2  # the timed-out wait too
    assert sample("ragplane_gpu_queue_timeouts_total") == 1
    assert sample("ragplane_dependency_errors_total", dependency="embedder", kind="slot_timeout") == 1
    assert sample("ragplane_gpu_slots_in_use") == 0 and sample("ragplane_gpu_queue_depth") == 0


def test_many_tasks_never_exceed_the_slots() -> None:
    async def scenario() -> tuple[int, int]:
        slots, running, peak = GpuSlots(3, 30), 0, 0

        async def work(i: int) -> None:
            nonlocal running, peak
            async with slots.acquire("embedder", Priority(i % 2)):
                running += 1
                peak = max(peak, running)
                await asyncio.sleep(0.001 * (i % 3))
                running -= 1

        await asyncio.gather(*(work(i) for i in range(300)))
        return peak, slots.in_use

    peak, in_use = run(scenario())
    assert peak == 3 and in_use == 0


def test_at_least_one_slot() -> None:
    with pytest.raises(ValueError):
        GpuSlots(0, 1)


def test_a_batch_call_that_waited_too_long_goes_before_queries() -> None:
    async def scenario() -> list:
        slots, log = GpuSlots(1, 5, batch_max_wait_s=0.05), []
        async with slots.acquire("embedder"):
            batch = asyncio.create_task(hold(slots, log, "batch", Priority.BATCH))
            await asyncio.sleep(0.06)  # the batch call is now overdue
            query = asyncio.create_task(hold(slots, log, "query"))
            await asyncio.sleep(0)
        await asyncio.gather(batch, query)
        return log

    assert run(scenario()) == ["batch", "query"]
