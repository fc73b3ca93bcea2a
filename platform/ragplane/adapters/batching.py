"""Micro-batching: concurrent embedding requests share one model call.

Encoding 32 short texts costs little more than encoding one, so under load a per-request
`encode` wastes most of the model's throughput. Requests queue here; a worker takes
everything that arrived (up to `max_batch` texts), waits at most `max_wait_s` for more when
the batch is still small, encodes once and hands each caller its vectors — the scheme
text-embeddings-inference uses. While workers are busy the next batch fills up, so batches
grow with load and a lone request waits at most `max_wait_s`.

`workers` batches run at once (one per GPU slot). A request not taken up by a worker within
`queue_timeout_s` is answered by `on_timeout(waited)` instead of waiting on, so the queue
timeout of the GPU slots holds for batched requests too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from opentelemetry import context as otel_context

Vectors = list[list[float]]
Encode = Callable[[list[str]], Awaitable[Vectors]]


@dataclass
class _Item:
    texts: list[str]
    future: asyncio.Future[Vectors]
    taken: asyncio.Event = field(default_factory=asyncio.Event)


class MicroBatcher:
    def __init__(
        self,
        encode: Encode,
        *,
        max_batch: int,
        max_wait_s: float,
        workers: int = 1,
        queue_timeout_s: float = float("inf"),
        on_timeout: Callable[[float], Exception] | None = None,
    ) -> None:
        self.encode = encode
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.workers = workers
        self.queue_timeout_s = queue_timeout_s
        self.on_timeout = on_timeout or (lambda waited: TimeoutError(f"not encoded within {waited:g} s"))
        self._queue: asyncio.Queue[_Item] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return []
        queue = self._start()
        item = _Item(list(texts), asyncio.get_running_loop().create_future())
        queue.put_nowait(item)
        try:
            await asyncio.wait_for(item.taken.wait(), self.queue_timeout_s)
            return await item.future
        except TimeoutError:
            if item.taken.is_set():  # the model call itself timed out: not ours to translate
                raise
            item.future.cancel()  # the worker that finally takes it skips it
            raise self.on_timeout(self.queue_timeout_s) from None
        except asyncio.CancelledError:
            item.future.cancel()  # the caller left: do not encode for nobody
            raise

    def _start(self) -> asyncio.Queue[_Item]:
        if self._queue is None or all(task.done() for task in self._tasks):
            self._queue = asyncio.Queue()
            # Workers outlive the request that started them: give them no request's trace.
            context = contextvars.copy_context()
            context.run(otel_context.attach, otel_context.Context())
            self._tasks = [
                asyncio.create_task(self._run(self._queue), name=f"embedding-batcher-{n}", context=context)
                for n in range(self.workers)
            ]
        return self._queue

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while self._queue is not None and not self._queue.empty():
            item = self._queue.get_nowait()
            item.future.cancel()  # nobody will encode these any more
            item.taken.set()  # ... and their callers stop waiting for a worker

    async def _run(self, queue: asyncio.Queue[_Item]) -> None:
        batch: list[_Item] = []
        try:
            while True:
                batch = [await self._take(queue)]
                size = len(batch[0].texts)
                deadline = time.monotonic() + self.max_wait_s
                while size < self.max_batch:
                    if queue.empty():
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        try:
                            item = await asyncio.wait_for(self._take(queue), remaining)
                        except TimeoutError:
                            break
                    else:
                        item = await self._take(queue)
                    batch.append(item)
                    size += len(item.texts)
                await self._encode(batch)
                batch = []
        except asyncio.CancelledError:
            for item in batch:
                item.future.cancel()  # taken but never encoded: the batcher is closing
            raise

    async def _take(self, queue: asyncio.Queue[_Item]) -> _Item:
        item = await queue.get()
        item.taken.set()
        return item

    async def _encode(self, batch: list[_Item]) -> None:
        live = [item for item in batch if not item.future.done()]  # callers may have left
        if not live:
            return
        try:
            vectors = await self.encode([text for item in live for text in item.texts])
        except Exception as exc:
            for item in live:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        start = 0
        for item in live:
            if not item.future.done():
                item.future.set_result(vectors[start : start + len(item.texts)])
            start += len(item.texts)
