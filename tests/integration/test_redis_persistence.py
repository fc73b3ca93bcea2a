"""Redis with deploy/redis/redis.conf keeps every write ragplane acknowledged: the gateways'
rate-limit counters and maintenance switch and the services' cache entries, written through
ragplane's own code, survive a SIGKILL of Redis, and come back from the RDB file alone and
from the append-only file alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
import redis
from redis.asyncio import Redis

from ragplane.adapters.rediscache import RedisBackend, connect
from ragplane.ops.redis_backup import snapshot
from ragplane.services.gateway.maintenance import Maintenance, MaintenanceState
from ragplane.services.gateway.ratelimit import RedisRateLimiter
from ragplane.telemetry.metrics import ServiceMetrics
from tests.redisserver import RedisServer
from tests.upstreams import refusing

RAGPLANE = Path(sys.executable).with_name("ragplane")

pytestmark = pytest.mark.subprocess

HITS = 300
ENTRIES = 200
PREFIX = "persistence"
LIMIT = 1_000_000
WINDOW_S = 3600  # an hour's window: the counters cannot expire while a test runs


def cache(client: Redis) -> RedisBackend[dict[str, int]]:
    return RedisBackend(
        client,
        f"{PREFIX}:cache:search_results",
        capacity=ENTRIES * 2,
        ttl_s=WINDOW_S,
        encode=lambda v: json.dumps(v).encode(),
        decode=json.loads,
    )


def limiter(client: Redis) -> RedisRateLimiter:
    metrics = ServiceMetrics("gateway")
    return RedisRateLimiter(client, prefix=PREFIX, policy="fail_closed", metrics=metrics, window_s=WINDOW_S)


def maintenance(client: Redis) -> Maintenance:
    return Maintenance(metrics=ServiceMetrics("gateway"), initial=MaintenanceState(), redis=client)


async def write(url: str) -> None:
    """Acknowledged writes through ragplane's code: each call returned, so each was acknowledged."""
    client = connect(url)
    try:
        counter = limiter(client)
        for n in range(HITS):
            decision = await counter.hit("consumer-a", LIMIT)
            assert decision.remaining == LIMIT - n - 1
        entries = cache(client)
        for n in range(ENTRIES):
            await entries.put(f"query {n}", {"n": n})
        await maintenance(client).switch_on("restoring the cluster", 30)
    finally:
        await client.aclose()


async def assert_all_there(url: str) -> None:
    client = connect(url)
    try:
        decision = await limiter(client).hit("consumer-a", LIMIT)
        assert decision.remaining == LIMIT - HITS - 1  # every counted hit, and this one
        entries = cache(client)
        assert [await entries.get(f"query {n}") for n in range(ENTRIES)] == [{"n": n} for n in range(ENTRIES)]
        state = await maintenance(client).current()
        assert state.on and state.message == "restoring the cluster"
    finally:
        await client.aclose()


@pytest.mark.anyio
async def test_a_sigkilled_redis_loses_no_acknowledged_write(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "data").start()
    try:
        await write(server.url)
        server.kill()
        server.start()
        await assert_all_there(server.url)
    finally:
        server.kill()


@pytest.mark.anyio
async def test_the_rdb_file_alone_restores_every_write_before_the_snapshot(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "data") as server:
        await write(server.url)
        with redis.Redis.from_url(server.url) as client:
            snapshot(client)  # what `ragplane redis backup` does: a BGSAVE that finished and succeeded
    restored = tmp_path / "from-rdb"
    restored.mkdir()
    shutil.copy2(tmp_path / "data" / "dump.rdb", restored / "dump.rdb")
    with RedisServer(restored, "appendonly no") as server:
        await assert_all_there(server.url)
    assert not (restored / "appendonlydir").exists()


@pytest.mark.anyio
async def test_the_append_only_file_alone_restores_every_write(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "data") as server:
        await write(server.url)
    restored = tmp_path / "from-aof"
    shutil.copytree(tmp_path / "data" / "appendonlydir", restored / "appendonlydir")
    assert not (restored / "dump.rdb").exists()
    with RedisServer(restored) as server:
        await assert_all_there(server.url)


def backup(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    """`ragplane redis backup` with REDIS_URL=url, into tmp_path/ragplane/backups."""
    env = {**os.environ, "REDIS_URL": url, "RAGPLANE_DATA_DIR": str(tmp_path / "ragplane")}
    command = [str(RAGPLANE), "--env-file", str(tmp_path / ".env"), "redis", "backup"]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def test_a_backup_holds_the_rdb_and_aof_files_with_their_checksums_and_restores(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "data") as server:
        anyio.run(write, server.url)
        done = backup(tmp_path, server.url)
        assert done.returncode == 0, done.stderr
    [folder] = (tmp_path / "ragplane" / "backups").iterdir()
    assert f"Redis backed up to {folder}" in done.stderr
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and "dump.rdb: OK" in checked.stdout, checked.stdout
    assert any(line.startswith("appendonlydir/") for line in checked.stdout.splitlines())
    # The documented restore: the files into an empty data directory, then start Redis on it.
    restored = tmp_path / "restored"
    shutil.copytree(folder, restored)
    with RedisServer(restored) as server:
        anyio.run(assert_all_there, server.url)


def test_a_backup_of_an_unreachable_redis_says_so(tmp_path: Path) -> None:
    with refusing() as url:
        done = backup(tmp_path, url.replace("http", "redis"))
    assert done.returncode == 1
    assert f"Redis backup failed: Redis at {url.replace('http', 'redis')} cannot be asked" in done.stderr
    assert not (tmp_path / "ragplane" / "backups").exists()
