"""The embedded vector store at scale: ingest time, search latency and recall at 100,000 chunks.

    .venv/bin/python -m loadtests.bench_scale [--chunks 100000] [--queries 200] [--json FILE]

The corpus is generated, deterministically (a fixed seed), from real text: the sentences of
the project's own documentation, runbooks and test corpora, drawn two at a time into chunks
(about 40 words: the model embeds some 50 of those a second on two cores, so the first run at
100,000 chunks spends ~35 minutes embedding; the vectors are kept in `.cache/bench_scale/` and
reused by later runs with the same size, which then report the first run's embedding figures).
Every chunk is written with its BM25 sparse vector, exactly as ingestion writes it, into a fresh
embedded store in a temporary directory.

It prints, for the machine it ran on:

- ingest: seconds spent embedding and seconds spent in the store, and their rates (the store
  should be a small share: ingestion is bound by the embedder);
- search: p50/p95 of `VectorStore.search` (the service's call: dense, and hybrid with the
  question's sparse vector fused in), over `--queries` held-out sentences;
- recall@10 of the dense search against exact search (every vector scored in numpy).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loadtests import tables
from ragplane.adapters.embedders import LocalEmbedder
from ragplane.adapters.vectors import Point, VectorStore
from ragplane.lexical import document_vector, query_vector
from ragplane.settings import prepare_offline_model_environment
from ragplane.text import split_sentences

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("docs", "runbooks", "tests/corpora")
SEED = 20261206
BATCH = 256
COLLECTION = "scale"
CACHE = ROOT / ".cache" / "bench_scale"


def real_sentences() -> list[str]:
    """Every prose sentence of at least five words in the project's documentation and test corpora."""
    found: set[str] = set()
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.md")):
            found.update(s for s in split_sentences(path.read_text(), prose_only=True) if len(s.split()) >= 5)
    return sorted(found)


def corpus(chunks: int, queries: int) -> tuple[list[str], list[str]]:
    """`chunks` chunk texts and `queries` question texts, the same on every run."""
    rng = random.Random(SEED)
    sentences = real_sentences()
    rng.shuffle(sentences)
    held_out, pool = sentences[:queries], sentences[queries:]
    texts = [" ".join(rng.sample(pool, 2)) for _ in range(chunks)]
    return texts, held_out


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def embedded(texts: list[str], questions: list[str], cache_dir: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit vectors of the chunks and of the questions, and the seconds the chunks took to embed:
    from the model, or from the cache a previous run of the same size left."""
    cache = cache_dir / f"vectors-{len(texts)}-{len(questions)}-{SEED}.npz"
    kept = _read(cache)
    if kept is not None:
        return kept
    prepare_offline_model_environment()
    embedder = LocalEmbedder(threads=2, batch_size=64)
    await embedder.start()
    await embedder.dimension()  # the model is loaded: its loading is not embedding time
    parts, began = [], time.perf_counter()
    for start in range(0, len(texts), BATCH):
        parts.append(np.asarray(await embedder.embed(texts[start : start + BATCH]), dtype=np.float32))
        print(f"\r  embedded {start + len(parts[-1]):,} of {len(texts):,} chunks", end="", file=sys.stderr)
    embed_s = time.perf_counter() - began
    print(file=sys.stderr)
    asked = np.asarray(await embedder.embed(questions), dtype=np.float32)
    await embedder.close()
    result = np.concatenate(parts), asked, embed_s
    _write(cache, *result)
    return result


def _read(cache: Path) -> tuple[np.ndarray, np.ndarray, float] | None:
    if not cache.exists():
        return None
    kept = np.load(cache)
    return kept["chunks"], kept["questions"], float(kept["embed_s"])


def _write(cache: Path, chunks: np.ndarray, questions: np.ndarray, embed_s: float) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, chunks=chunks, questions=questions, embed_s=embed_s)


async def measure(chunks: int, queries: int, data_dir: Path, cache_dir: Path = CACHE) -> dict[str, Any]:
    texts, questions = corpus(chunks, queries)
    matrix, asked, embed_s = await embedded(texts, questions, cache_dir)
    store = VectorStore(path=data_dir)
    await store.open()
    await store.create_collection(COLLECTION, matrix.shape[1])
    began = time.perf_counter()
    for start in range(0, chunks, BATCH):
        await store.upsert(
            COLLECTION,
            [
                Point(
                    str(uuid.UUID(int=n + 1)),
                    matrix[n].tolist(),
                    {"text": texts[n], "document_id": f"doc-{n // 20}"},
                    document_vector(texts[n]),
                )
                for n in range(start, min(start + BATCH, chunks))
            ],
        )
    store_s = time.perf_counter() - began
    dense_ms, hybrid_ms, recalls = [], [], []
    for question, vector in zip(questions, asked, strict=True):
        began = time.perf_counter()
        hits = await store.search(COLLECTION, vector.tolist(), 10)
        dense_ms.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        await store.search(COLLECTION, vector.tolist(), 10, sparse=query_vector(question))
        hybrid_ms.append((time.perf_counter() - began) * 1000)
        exact = {int(i) + 1 for i in np.argsort(-(matrix @ vector))[:10]}
        recalls.append(len(exact & {uuid.UUID(h.id).int for h in hits}) / 10)
    assert await store.count(COLLECTION) == chunks
    disk = await store.disk_bytes(COLLECTION)
    await store.close()
    return {
        "chunks": chunks,
        "queries": len(questions),
        "embed_s": round(embed_s, 1),
        "store_s": round(store_s, 1),
        "embed_chunks_per_s": round(chunks / embed_s),
        "store_chunks_per_s": round(chunks / store_s),
        "dense_p50_ms": round(percentile(dense_ms, 50), 2),
        "dense_p95_ms": round(percentile(dense_ms, 95), 2),
        "hybrid_p50_ms": round(percentile(hybrid_ms, 50), 2),
        "hybrid_p95_ms": round(percentile(hybrid_ms, 95), 2),
        "recall_at_10": round(statistics.fmean(recalls), 4),
        "disk_mib": round((disk or 0) / 2**20, 1),
    }


def report(result: dict[str, Any]) -> str:
    rows = [
        ("chunks", f"{result['chunks']:,}"),
        ("embedding (the model)", f"{result['embed_s']} s, {result['embed_chunks_per_s']:,} chunks/s"),
        ("storing (Qdrant Edge)", f"{result['store_s']} s, {result['store_chunks_per_s']:,} chunks/s"),
        ("dense search p50 / p95", f"{result['dense_p50_ms']} / {result['dense_p95_ms']} ms"),
        ("hybrid search p50 / p95", f"{result['hybrid_p50_ms']} / {result['hybrid_p95_ms']} ms"),
        (f"recall@10 vs exact ({result['queries']} queries)", f"{result['recall_at_10']:.4f}"),
        ("on disk", f"{result['disk_mib']} MiB"),
    ]
    return tables.render([("what", "measured"), *rows])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where embedded vectors are kept between runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ragplane-scale-") as scratch:
        result = asyncio.run(measure(args.chunks, args.queries, Path(scratch), args.cache))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
