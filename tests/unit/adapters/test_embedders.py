"""The local embedder: real vectors, and the thread count following the amount of text."""

import asyncio

import pytest

from ragplane.adapters.embedders import PARALLEL_CHARS, LocalEmbedder

QUESTION = "how does breaker {} open and when"  # 34 to 36 characters


def test_a_call_with_little_text_runs_on_one_core_and_one_with_much_on_all(embedding_model) -> None:
    import torch

    async def go() -> list[tuple[int, int]]:
        embedder = LocalEmbedder(threads=2)
        seen = []
        # One chunk is under PARALLEL_CHARS, two are over.
        chunk = "a passage of a document, long as chunks are: " * (PARALLEL_CHARS // 90 + 1)
        for texts in ([QUESTION.format(0)], [QUESTION.format(i) for i in range(16)], [chunk, chunk]):
            vectors = await embedder.embed(texts)
            # OpenMP's thread count is the calling thread's: ask on the embedder's own thread.
            threads = await asyncio.get_running_loop().run_in_executor(embedder._executor, torch.get_num_threads)
            seen.append((len(vectors), threads))
        one = (await embedder.embed([chunk]))[0]
        assert one == pytest.approx(vectors[0], abs=1e-5)  # the same vector whatever the thread count
        await embedder.close()
        return seen

    assert asyncio.run(go()) == [(1, 1), (16, 1), (2, 2)]
