"""Adapters behind their circuit breaker and the GPU slots.

A service wraps the shared adapters it uses in these, with its own breakers and metrics:

    embed(texts) ─ breaker open? fail fast ─► micro-batcher (interactive only)
                   ─► GPU slot (interactive before batch) ─► breaker-guarded model call

The breaker is checked before queueing so no request waits for a dependency known to be
down; a queue timeout (`SlotTimeout`) is overload, not a dependency failure, so it never
trips the breaker.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from ragplane.adapters.answerers import Answer, Answerer, Passage
from ragplane.adapters.batching import MicroBatcher
from ragplane.adapters.embedders import Embedder, EmbedderView
from ragplane.adapters.gpu import GpuSlots, Priority
from ragplane.errors import SlotTimeout
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

T = TypeVar("T")


class Guard(Protocol):
    """What a circuit breaker offers an adapter (`ragplane.kit.breakers.Breaker`)."""

    name: str

    def check(self) -> None: ...

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T: ...


class SlotUser:
    """Takes a GPU slot for one model call and records the wait (per service)."""

    def __init__(
        self, slots: GpuSlots, metrics: ServiceMetrics, kind: str, priority: Priority, dependency: str
    ) -> None:
        self.slots = slots
        self.dependency = dependency
        self.priority = priority
        self.wait = metrics.histogram(catalog.GPU_WAIT).labels(kind=kind)
        self.timeouts = metrics.counter(catalog.GPU_QUEUE_TIMEOUTS).labels()
        self.errors = metrics.counter(catalog.DEPENDENCY_ERRORS)

    async def run(self, guard: Guard, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            async with self.slots.acquire(guard.name, self.priority) as waited:
                self.wait.observe(waited)
                return await guard.call(fn)
        except SlotTimeout as exc:
            self._count_timeout(exc.waited_s)
            raise

    def timed_out(self, waited_s: float) -> SlotTimeout:
        """A wait that ended before a slot (or a batch) came free: counted, and the error to raise."""
        self._count_timeout(waited_s)
        return SlotTimeout(self.dependency, waited_s=waited_s)

    def _count_timeout(self, waited_s: float) -> None:
        self.wait.observe(waited_s)
        self.timeouts.inc()
        self.errors.labels(dependency=self.dependency, kind="slot_timeout").inc()


def watch_slots(slots: GpuSlots, metrics: ServiceMetrics) -> None:
    """Publish the slot pool's occupancy in this service's registry — once per pool, so the
    services sharing a process do not report (and sum to) twice the same slots."""
    if slots.watched:
        return
    slots.watched = True
    metrics.gauge(catalog.GPU_SLOTS_IN_USE).labels().set_function(lambda: slots.in_use)
    metrics.gauge(catalog.GPU_QUEUE_DEPTH).labels().set_function(lambda: slots.queue_depth)


class GuardedEmbedder(EmbedderView):
    """An embedder behind its breaker and the GPU slots; interactive callers are micro-batched."""

    def __init__(
        self,
        inner: Embedder,
        *,
        guard: Guard,
        slots: GpuSlots,
        metrics: ServiceMetrics,
        priority: Priority,
        batch: tuple[int, float] | None = None,
    ) -> None:
        super().__init__(inner)
        self.guard = guard
        self.slot = SlotUser(slots, metrics, "embed", priority, guard.name)
        self.duration = metrics.histogram(catalog.EMBEDDING_DURATION).labels(embedder=inner.name)
        self.batch_size = metrics.histogram(catalog.EMBEDDING_BATCH_SIZE).labels(embedder=inner.name)
        self.batcher = (
            MicroBatcher(
                self._encode,
                max_batch=batch[0],
                max_wait_s=batch[1],
                workers=slots.slots,
                queue_timeout_s=slots.queue_timeout_s,
                on_timeout=self.slot.timed_out,
            )
            if batch
            else None
        )

    async def dimension(self) -> int:
        return await self.guard.call(self.inner.dimension)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        self.guard.check()
        if self.batcher is not None:
            return await self.batcher.embed(texts)
        return await self._encode(list(texts))

    async def _encode(self, texts: list[str]) -> list[list[float]]:
        async def call() -> list[list[float]]:
            started = time.perf_counter()
            vectors = await self.inner.embed(texts)
            self.duration.observe(time.perf_counter() - started)
            self.batch_size.observe(len(texts))
            return vectors

        return await self.slot.run(self.guard, call)

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()


class GuardedAnswerer:
    """A generating answerer (an LLM) behind its breaker and the GPU slots."""

    def __init__(self, inner: Answerer, *, guard: Guard, slots: GpuSlots, metrics: ServiceMetrics) -> None:
        self.inner = inner
        self.name = inner.name
        self.guard = guard
        self.slot = SlotUser(slots, metrics, "generate", Priority.INTERACTIVE, guard.name)

    async def check(self) -> dict[str, Any]:
        return await self.inner.check()

    async def answer(self, question: str, passages: Sequence[Passage], question_vector: Sequence[float]) -> Answer:
        self.guard.check()
        return await self.slot.run(self.guard, lambda: self.inner.answer(question, passages, question_vector))
