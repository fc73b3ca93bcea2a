"""GPU slots: a bounded pool that model calls (embedding, generation) take turns on.

A model can only run so many calls at once (one per GPU for Ollama; the local embedder
saturates the CPU with a few). Callers wait in two lines, first come first served in each:
interactive queries are served before batch ingestion, except that a batch call that has
waited longer than `batch_max_wait_s` goes next, so ingestion is slowed by query traffic but
never starved. A wait longer than the queue timeout ends in `SlotTimeout` (503 with
Retry-After). A caller cancelled while waiting leaves its line; one cancelled just as a slot
was handed to it passes the slot on, so slots never leak.

The pool is per process: in the embedded stack the query and collections services share
it; separate processes (docker compose) each have their own.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import IntEnum

from ragplane.errors import SlotTimeout


class Priority(IntEnum):
    INTERACTIVE = 0
    BATCH = 1


class GpuSlots:
    """`slots` concurrent holders; see the module docstring for the order of service."""

    def __init__(self, slots: int, queue_timeout_s: float, *, batch_max_wait_s: float | None = None) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self.queue_timeout_s = queue_timeout_s
        self.batch_max_wait_s = queue_timeout_s / 2 if batch_max_wait_s is None else batch_max_wait_s
        self.in_use = 0
        self.watched = False  # whether some service publishes this pool's gauges
        self._lines: dict[Priority, deque[tuple[float, asyncio.Future[None]]]] = {p: deque() for p in Priority}

    @property
    def queue_depth(self) -> int:
        return sum(1 for line in self._lines.values() for _, waiter in line if not waiter.done())

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
        self._lines[priority].append((time.monotonic(), waiter))
        try:
            async with asyncio.timeout(self.queue_timeout_s):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot at the last moment: pass it on
            if isinstance(exc, TimeoutError):
                raise SlotTimeout(dependency, waited_s=self.queue_timeout_s) from exc
            raise

    def _next(self) -> asyncio.Future[None] | None:
        """The next live waiter: an overdue batch call, else interactive, else batch."""
        for line in self._lines.values():
            while line and line[0][1].done():  # cancelled or timed out: gone
                line.popleft()
        batch, interactive = self._lines[Priority.BATCH], self._lines[Priority.INTERACTIVE]
        if batch and time.monotonic() - batch[0][0] >= self.batch_max_wait_s:
            return batch.popleft()[1]
        for line in (interactive, batch):
            if line:
                return line.popleft()[1]
        return None

    def _release(self) -> None:
        waiter = self._next()
        if waiter is None:
            self.in_use -= 1
        else:
            waiter.set_result(None)  # the slot moves to the next in line; in_use is unchanged
