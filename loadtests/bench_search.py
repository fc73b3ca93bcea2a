"""Search throughput through the gateway vs. the raw embedder, on this machine.

    .venv/bin/python loadtests/bench_search.py [--url http://127.0.0.1:8000] [--seconds 20] [--concurrency 8]

Without --url it starts `ragplane up --demo` as a separate process on free ports with a
throw-away data dir, waits for the demo corpus, and stops it afterwards. It prints:

- search RPS and p50/p95/p99 latency through the gateway, for a fixed query mix, in two
  modes: `uncached` (every query text unique, so every request embeds) and `cached`
  (the mix repeats, so the query-embedding cache answers);
- the raw embedder throughput in this process: sentences/s batched (64 per call) and
  one at a time;
- uncached RPS divided by raw batched throughput, the ratio issue work tracks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
QUERIES = (
    "circuit breaker",
    "how are services authenticated",
    "what happens when qdrant is down",
    "rotate the inter-service secret",
    "ingestion job failed",
    "which metrics does the query service export",
    "how do I run the tests",
    "legacy routes deprecation header",
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(url: str, seconds: float, concurrency: int, unique: bool) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    counter = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            query = QUERIES[counter % len(QUERIES)] + (f" {counter}" if unique else "")
            started = time.perf_counter()
            response = await client.get("/api/v1/rag/search", params={"query": query, "collection": "docs"})
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
    }


def raw_embedder(seconds: float) -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "platform"))
    from ragplane.adapters.embedders import load_local_model

    model = load_local_model(threads=os.cpu_count() or 1)
    texts = [f"{q} {i}" for i in range(64) for q in QUERIES][:64]
    model.encode(texts[:8])  # warm up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.encode(texts, batch_size=64, normalize_embeddings=True)
        done += len(texts)
    batched = done / (time.perf_counter() - started)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds / 2:
        model.encode([texts[done % len(texts)]], normalize_embeddings=True)
        done += 1
    single = done / (time.perf_counter() - started)
    return {"batched_per_s": batched, "single_per_s": single}


class Stack:
    """`ragplane up --demo` in its own process, on free ports."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="ragplane-bench-")
        env = {
            **os.environ,
            "RAGPLANE_DATA_DIR": f"{self.tmp.name}/data",
            "GATEWAY_PORT": "0",
            "QUERY_PORT": "0",
            "COLLECTIONS_PORT": "0",
            "LOG_LEVEL": "WARNING",
            # One anonymous client at hundreds of requests/s: a plan that big keeps the limiter
            # in the path (its Redis or in-process check is part of what is measured) without 429s.
            "RATE_LIMIT_PLANS": "free:100000000",
        }
        self.err = Path(self.tmp.name) / "stderr.log"
        with self.err.open("w") as err:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("ragplane")),
                    "--env-file",
                    f"{self.tmp.name}/.env",
                    "up",
                    "--demo",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.url = self._wait(r"gateway=(\S+)")
        self._wait(r"\d+ ingested, \d+ unchanged")

    def _wait(self, pattern: str) -> str:
        for _ in range(1200):
            found = re.search(pattern, self.err.read_text())
            if found:
                return found.group(1) if found.groups() else found.group(0)
            if self.process.poll() is not None:
                raise SystemExit(f"ragplane exited:\n{self.err.read_text()}")
            time.sleep(0.1)
        raise SystemExit(f"timed out waiting for {pattern}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(30)
        self.tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running gateway (default: start one)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    stack = None if args.url else Stack()
    url = args.url or (stack.url if stack else "")
    try:
        asyncio.run(load(url, 2, args.concurrency, unique=True))  # warm up connections and code paths
        results = {
            mode: asyncio.run(load(url, args.seconds, args.concurrency, unique=mode == "uncached"))
            for mode in ("uncached", "cached")
        }
    finally:
        if stack:
            stack.stop()
    raw = raw_embedder(args.seconds / 2)
    print(f"machine: {os.cpu_count()} cores; concurrency {args.concurrency}; {args.seconds:g}s per mode")
    for mode, r in results.items():
        print(
            f"search {mode:8s}: {r['rps']:7.1f} req/s  p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms  "
            f"p99 {r['p99_ms']:6.1f} ms  ({r['requests']:.0f} requests, {r['errors']:.0f} errors)"
        )
    print(
        f"raw embedder   : {raw['batched_per_s']:7.1f} sentences/s batched (64),"
        f" {raw['single_per_s']:.1f}/s one at a time"
    )
    print(
        f"ratio uncached search RPS / raw batched throughput: {results['uncached']['rps'] / raw['batched_per_s']:.2f}"
    )


if __name__ == "__main__":
    main()
