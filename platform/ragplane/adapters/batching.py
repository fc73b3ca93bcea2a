"""Micro-batching: concurrent embedding requests share one model call.

Encoding 32 short texts costs little more than encoding one, so under load a per-request
`encode` wastes most of the model's throughput. Requests queue here; one worker takes
everything that arrived (up to `max_batch` texts), waits at most `max_wait_s` for more
when the batch is still small, encodes once and hands each caller its vectors — the
scheme text-embeddings-inference uses. While a batch is being encoded the next one fills
up, so batches grow with load and a lone request waits at most `max_wait_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

Vectors = list[list[float]]
Encode = Callable[[list[str]], Awaitable[Vectors]]


class MicroBatcher:
    def __init__(self, encode: Encode, *, max_batch: int, max_wait_s: float) -> None:
        self.encode = encode
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[tuple[list[str], asyncio.Future[Vectors]]] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return []
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run(self._queue), name="embedding-batcher")
        assert self._queue is not None
        future: asyncio.Future[Vectors] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((list(texts), future))
        return await future

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        while self._queue is not None and not self._queue.empty():
            self._queue.get_nowait()[1].cancel()  # nobody will encode these any more

    async def _run(self, queue: asyncio.Queue[tuple[list[str], asyncio.Future[Vectors]]]) -> None:
        while True:
            batch = [await queue.get()]
            size = len(batch[0][0])
            deadline = time.monotonic() + self.max_wait_s
            while size < self.max_batch:
                if queue.empty():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                else:
                    item = queue.get_nowait()
                batch.append(item)
                size += len(item[0])
            await self._encode(batch)

    async def _encode(self, batch: list[tuple[list[str], asyncio.Future[Vectors]]]) -> None:
        live = [(texts, future) for texts, future in batch if not future.done()]  # callers may have left
        if not live:
            return
        try:
            vectors = await self.encode([text for texts, _ in live for text in texts])
        except asyncio.CancelledError:
            for _, future in live:
                future.cancel()  # the batcher is closing: nobody will answer these
            raise
        except Exception as exc:
            for _, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for texts, future in live:
            if not future.done():
                future.set_result(vectors[start : start + len(texts)])
            start += len(texts)
