"""How long a Redis holding 100,000 keys takes to come back: `python -m loadtests.bench_redis`.

A real `redis-server` with deploy/redis/redis.conf is filled with keys shaped like ragplane's
(rate-limit counters with a TTL, cache entries of about a kilobyte, the maintenance switch),
snapshotted, then killed with SIGKILL, and started again on a copy of its files three ways:
the RDB file alone, the append-only directory as written (every write replayed), and the
append-only directory after a rewrite (an RDB base). The time is from starting the process
to Redis answering with its data loaded; each is checked to hold every key. Target: < 2 s.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import redis

from ragplane.ops.redis_backup import snapshot
from tests.redisserver import RedisServer
from tests.running import until

KEYS = 100_000
RUNS = 3
TARGET_S = 2.0
BATCH = 1_000
ENTRY_BYTES = 1_000  # random, as a JSON search result is to the RDB compressor: it cannot be squeezed


def fill(url: str) -> None:
    entries = random.Random(0)
    with redis.Redis.from_url(url) as client:
        for start in range(0, KEYS, BATCH):
            pipe = client.pipeline(transaction=False)
            for n in range(start, min(start + BATCH, KEYS)):
                if n % 2:
                    pipe.set(f"ragplane:rl:consumer-{n}:29000000", n, px=3_600_000)
                else:
                    pipe.set(f"{{ragplane:cache:search_results}}:{n:064x}", entries.randbytes(ENTRY_BYTES), ex=3_600)
            pipe.execute()
        client.set("ragplane:maintenance", '{"on": true}')


def rewritten(url: str) -> None:
    """BGREWRITEAOF, and wait until the rewrite is done."""
    with redis.Redis.from_url(url) as client:
        client.bgrewriteaof()
        until(lambda: not client.info("persistence")["aof_rewrite_in_progress"], timeout=120)


def restart_s(files: Path, *overrides: str) -> float:
    """Seconds from starting redis-server on a copy of `files` to it answering, data loaded."""
    started = time.perf_counter()
    with RedisServer(files, *overrides) as server:
        took = time.perf_counter() - started
        with redis.Redis.from_url(server.url) as client:
            assert client.dbsize() == KEYS + 1, client.dbsize()
    return took


def main() -> int:
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        root = Path(tmp)
        with RedisServer(root / "data") as server:
            fill(server.url)
            with redis.Redis.from_url(server.url) as client:
                snapshot(client)
            shutil.copytree(root / "data" / "appendonlydir", root / "aof-as-written")
            rewritten(server.url)
            shutil.copytree(root / "data" / "appendonlydir", root / "aof-rewritten")
        rdb = root / "data" / "dump.rdb"
        print(f"{KEYS:,} keys: RDB file {rdb.stat().st_size / 1e6:.1f} MB")
        copies = 0
        for _ in range(RUNS):
            ways = {
                "RDB file alone": ((rdb, "dump.rdb"), ("appendonly no",)),
                "append-only, as written": ((root / "aof-as-written", "appendonlydir"), ()),
                "append-only, rewritten": ((root / "aof-rewritten", "appendonlydir"), ()),
            }
            for way, ((source, name), overrides) in ways.items():
                copies += 1
                copy = root / f"restore-{copies}"
                copy.mkdir()
                if source.is_dir():
                    shutil.copytree(source, copy / name)
                else:
                    shutil.copy2(source, copy / name)
                results.setdefault(way, []).append(restart_s(copy, *overrides))
    worst = 0.0
    for way, times in results.items():
        worst = max(worst, max(times))
        print(f"{way:26} median {statistics.median(times):.2f} s, worst {max(times):.2f} s of {RUNS}")
    print(f"target < {TARGET_S:g} s: {'met' if worst < TARGET_S else 'MISSED'}")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
