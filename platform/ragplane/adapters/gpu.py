"""GPU slots: a bounded pool that model calls (embedding, generation) take turns on.

A model can only run so many calls at once (one per GPU for Ollama; the local embedder
saturates the CPU with a few). Callers wait in line: interactive queries before batch
ingestion, first come first served within each priority, so no query starves behind a
large ingestion. A wait longer than the queue timeout ends in `SlotTimeout` (503 with
Retry-After). A caller that is cancelled while waiting leaves the line; one cancelled
just as a slot was handed to it passes the slot on, so slots never leak.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import IntEnum

from ragplane.adapters.errors import SlotTimeout


class Priority(IntEnum):
    INTERACTIVE = 0
    BATCH = 1


class GpuSlots:
    """`slots` concurrent holders; FIFO within a priority; `queue_timeout_s` bounds the wait."""

    def __init__(self, slots: int, queue_timeout_s: float) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self.queue_timeout_s = queue_timeout_s
        self.in_use = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def queue_depth(self) -> int:
        return sum(1 for _, _, waiter in self._waiters if not waiter.done())

    @asynccontextmanager
    async def acquire(self, dependency: str, priority: Priority = Priority.INTERACTIVE) -> AsyncIterator[float]:
        """Hold a slot for the block; yields the seconds spent waiting for it."""
        started = time.perf_counter()
        await self._take(dependency, priority)
        try:
            yield time.perf_counter() - started
        finally:
            self._release()

    async def _take(self, dependency: str, priority: Priority) -> None:
        if self.in_use < self.slots and not self.queue_depth:
            self.in_use += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), waiter))
        try:
            async with asyncio.timeout(self.queue_timeout_s):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot at the last moment: pass it on
            if isinstance(exc, TimeoutError):
                raise SlotTimeout(
                    dependency, waited_s=self.queue_timeout_s, retry_after=max(1, math.ceil(self.queue_timeout_s / 2))
                ) from exc
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)  # the slot moves to the next in line; in_use is unchanged
                return
        self.in_use -= 1
