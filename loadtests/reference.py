"""The raw embedder's throughput on this machine: the yardstick runs are normalised by.

    .venv/bin/python -m loadtests.reference [--seconds 10] [--json]

all-MiniLM-L6-v2 encodes sentences in this process, without HTTP, Qdrant or the services:
batched (64 texts per call, the most the model can do here) and one at a time. It is the
most expensive step of an uncached search, so it tells how fast the machine is right now;
`make load` measures it before every run (batched only) and `make load-compare` divides by
it, so a baseline taken on a quieter or faster machine is still comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

TEXTS = [f"how does the {topic} work in case {i}" for i in range(8) for topic in ("breaker", "cache", "gateway", "slo")]
BATCH = 64


def _rate(model: Any, texts: list[str], seconds: float, batch: int) -> float:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        chunk = texts[:batch] if batch > 1 else [texts[done % len(texts)]]
        model.encode(chunk, batch_size=batch, normalize_embeddings=True)
        done += len(chunk)
    return done / (time.perf_counter() - started)


def measure(seconds: float, *, single: bool = True) -> dict[str, float]:
    """Sentences per second batched (and one at a time when `single`), each for `seconds`."""
    from ragplane.adapters.embedders import load_local_model

    model = load_local_model(threads=os.cpu_count() or 1)
    texts = (TEXTS * (BATCH // len(TEXTS) + 1))[:BATCH]
    model.encode(texts[:8])  # warm up
    out = {"embedder_batched_per_s": round(_rate(model, texts, seconds, BATCH), 1)}
    if single:
        out["embedder_single_per_s"] = round(_rate(model, texts, seconds / 2, 1), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="per mode (default 10)")
    parser.add_argument("--json", action="store_true", help="batched throughput only, as JSON on stdout")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.seconds, single=False)))
        return
    result = measure(args.seconds)
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"raw embedder: {result['embedder_batched_per_s']:.1f} sentences/s batched ({BATCH}),"
        f" {result['embedder_single_per_s']:.1f}/s one at a time"
    )


if __name__ == "__main__":
    main()
