"""The local embedder: real vectors, and the thread count following the batch."""

import asyncio

import pytest

from ragplane.adapters.embedders import PARALLEL_BATCH, LocalEmbedder


def test_a_small_batch_runs_on_one_core_and_a_large_one_on_all(embedding_model) -> None:
    import torch

    async def go() -> list[tuple[int, int]]:
        embedder = LocalEmbedder(threads=2)
        seen = []
        for size in (1, PARALLEL_BATCH - 1, PARALLEL_BATCH):
            vectors = await embedder.embed([f"how does breaker {i} open" for i in range(size)])
            # OpenMP's thread count is the calling thread's: ask on the embedder's own thread.
            threads = await asyncio.get_running_loop().run_in_executor(embedder._executor, torch.get_num_threads)
            seen.append((len(vectors), threads))
        one = (await embedder.embed(["how does breaker 0 open"]))[0]
        assert one == pytest.approx(vectors[0], abs=1e-5)  # the same vector whatever the thread count
        await embedder.close()
        return seen

    assert asyncio.run(go()) == [(1, 1), (PARALLEL_BATCH - 1, 1), (PARALLEL_BATCH, 2)]
