"""The raw embedder's throughput on this machine: the yardstick runs are normalised by.

    .venv/bin/python -m loadtests.reference [--seconds 10]   batched and one at a time
    .venv/bin/python -m loadtests.reference --around-run    what `make load` starts

all-MiniLM-L6-v2 encodes sentences in this process, without HTTP, Qdrant or the services:
batched (64 texts per call, the most the model can do here) and one at a time. It is the
most expensive step of an uncached search, so it tells how much CPU the machine gives a
model right now. On a shared machine that changes from one minute to the next, so
`make load` keeps this process around the run (`--around-run`): it loads the model,
measures, says `ready`, waits without using the CPU while Locust runs (measuring during the
run would take the stack's cores), measures again when its stdin closes, and prints both as
JSON; the run's reference is their mean, and a large gap between them says the machine's
speed changed under the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

TEXTS = [
    f"how does the {topic} work in case {i}" for i in range(16) for topic in ("breaker", "cache", "gateway", "slo")
]
BATCH = 64


def model() -> Any:
    from ragplane.adapters.embedders import load_local_model
    from ragplane.settings import prepare_offline_model_environment

    prepare_offline_model_environment()
    loaded = load_local_model(threads=os.cpu_count() or 1)
    loaded.encode(TEXTS[:8])  # warm up
    return loaded


def rate(encoder: Any, seconds: float, batch: int = BATCH) -> float:
    """Sentences per second, encoding `batch` texts per call for `seconds`."""
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        chunk = TEXTS[:batch] if batch > 1 else [TEXTS[done % len(TEXTS)]]
        encoder.encode(chunk, batch_size=batch, normalize_embeddings=True)
        done += len(chunk)
    return done / (time.perf_counter() - started)


def around_run(seconds: float) -> dict[str, Any]:
    """Batched throughput for `seconds` now, then again once stdin closes; their mean."""
    encoder = model()
    before = rate(encoder, seconds)
    print("ready", flush=True)
    sys.stdin.read()  # blocks, idle, until the run is over and the caller closes it
    after = rate(encoder, seconds)
    return {
        "embedder_batched_per_s": round((before + after) / 2, 1),
        "before_per_s": round(before, 1),
        "after_per_s": round(after, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="per mode (default 10)")
    parser.add_argument("--around-run", action="store_true", help="before, and after stdin closes; JSON on stdout")
    args = parser.parse_args()
    if args.around_run:
        print(json.dumps(around_run(min(args.seconds, 3.0))), flush=True)
        return
    encoder = model()
    batched, single = rate(encoder, args.seconds), rate(encoder, args.seconds / 2, batch=1)
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"raw embedder: {batched:.1f} sentences/s batched ({BATCH}), {single:.1f}/s one at a time")


if __name__ == "__main__":
    main()
